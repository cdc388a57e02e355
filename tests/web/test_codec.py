"""The one error-envelope module and the one SSE codec every face writes with."""

import subprocess
import sys
from pathlib import Path

import pytest

from lingma_flask.web import envelope
from lingma_flask.web import sse


def test_gunicorns_master_imports_the_worker_and_its_envelopes_without_flask():
    code = ("import sys, lingma_flask.web.gunicorn_worker; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "[]"


def test_the_two_envelopes_keep_their_key_order():
    assert list(envelope.openai_error("m", "t")["error"]) == ["message", "type", "param", "code"]
    body = envelope.anthropic_error("t", "m", "req_1")
    assert list(body) == ["type", "error", "request_id"] and list(body["error"]) == ["type", "message"]
    assert envelope.to_bytes(envelope.openai_error("é", "t")) == (
        b'{"error": {"message": "\\u00e9", "type": "t", "param": null, "code": null}}')


@pytest.mark.parametrize(("status", "openai", "anthropic"), [
    (400, "invalid_request_error", "invalid_request_error"), (403, "permission_error", "permission_error"),
    (429, "requests", "rate_limit_error"), (503, "server_error", "api_error"),
    (529, "server_error", "overloaded_error"), (422, "invalid_request_error", "invalid_request_error")])
def test_each_envelope_names_a_type_per_status(status, openai, anthropic):
    assert (envelope.openai_type(status), envelope.anthropic_type(status)) == (openai, anthropic)


def test_frames_data_named_comment_and_done():
    assert sse.encode({"a": "é"}) == 'data: {"a":"é"}\n\n'
    assert sse.encode({"type": "ping"}, event="ping") == 'event: ping\ndata: {"type":"ping"}\n\n'
    assert sse.KEEPALIVE == sse.comment("keepalive") == ": keepalive\n\n"
    assert sse.DONE == "data: [DONE]\n\n"


@pytest.mark.parametrize("text", ["plain", "", 'q " \\', "line\nbreak", "中文 🎉", "\u0001slot\u0001"])
def test_a_named_template_with_two_slots_is_byte_identical_to_encode(text):
    fill = sse.template({"type": "d", "delta": sse.SLOT, "n": sse.SLOT}, event="d")
    assert fill(text, 7) == sse.encode({"type": "d", "delta": text, "n": 7}, event="d").encode()
