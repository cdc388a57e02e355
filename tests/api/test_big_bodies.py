"""16 MiB bodies: the length is checked first; the prompt is rendered once and counted once.

Work is bounded by counting calls (spies on the renderer and the token estimator), never by
the clock: before the fix, a 16 MiB CJK body on /v1/messages was counted and rendered twice.
"""

import json
import random

import pytest

from lingma_flask.api import anthropic
from lingma_flask.lingma.settings import CoreSettings
from lingma_flask.pipeline import job as pipeline
from lingma_flask.pipeline import prompt
from lingma_flask.pipeline import tokens
from lingma_flask.pipeline.conversation import PastCall
from lingma_flask.pipeline.conversation import Turn

MIB = 1024 * 1024
CJK = "汉字测试文本"
LIMIT = 1_000_000   # the default LINGMA_MAX_PROMPT_CHARS


def cjk_text(body_bytes: int = 16 * MIB - 400) -> str:
    """CJK text whose JSON body (3 UTF-8 bytes a character) is just under `body_bytes`."""
    return CJK * (body_bytes // (3 * len(CJK)))


def encoded(face: str, text: str) -> bytes:
    messages = [{"role": "user", "content": text}]
    if face == "/v1/messages":
        return json.dumps({"model": "claude-x", "max_tokens": 10, "messages": messages},
                          ensure_ascii=False).encode()
    return json.dumps({"model": "auto", "messages": messages}, ensure_ascii=False).encode()


@pytest.fixture
def steps(monkeypatch):
    """Record, in order, each length check, render and token count (with its characters)."""
    seen = []
    add, check, render = tokens.TokenCounter.add, prompt.check_length, prompt.render_prompt

    def counting(self, text):
        seen.append(("count", len(text)))
        return add(self, text)

    def checking(chars, limit, **kwargs):
        seen.append(("check", chars))
        return check(chars, limit, **kwargs)

    def rendering(*args, **kwargs):
        seen.append(("render", 0))
        return render(*args, **kwargs)
    monkeypatch.setattr(tokens.TokenCounter, "add", counting)
    monkeypatch.setattr(pipeline, "check_length", checking)
    for module in (pipeline, anthropic):
        monkeypatch.setattr(module, "render_prompt", rendering)
    return seen


def limited(pool, chars: int):
    pool.settings = CoreSettings(max_prompt_chars=chars)


def counted(steps) -> int:
    return sum(n for kind, n in steps if kind == "count")


def kinds(steps) -> list[str]:
    return [kind for kind, _ in steps]


@pytest.mark.parametrize("face", ["/v1/chat/completions", "/v1/messages"])
def test_an_over_long_body_is_refused_before_it_is_rendered(face, client, pool, steps):
    limited(pool, LIMIT)
    text = cjk_text()
    resp = client.post(face, data=encoded(face, text), content_type="application/json")
    assert resp.status_code == 400
    assert not pool.asks
    assert kinds(steps)[0] == "check" and "render" not in kinds(steps)
    if face == "/v1/chat/completions":
        assert counted(steps) == 0  # never counted
        assert resp.get_json()["error"]["code"] == "context_length_exceeded"
    else:
        # Anthropic's "N tokens > M maximum" needs N: one pass, after the check
        assert counted(steps) == len(text)
        message = resp.get_json()["error"]["message"]
        assert message == f"prompt is too long: {len(text) + 4} tokens > {LIMIT} maximum"


@pytest.mark.parametrize("face", ["/v1/chat/completions", "/v1/messages"])
def test_a_big_accepted_body_is_rendered_once_and_counted_once(face, client, pool, steps):
    limited(pool, 10_000_000)
    text = cjk_text()
    resp = client.post(face, data=encoded(face, text), content_type="application/json")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert kinds(steps).count("render") == 1 and len(pool.asks[0][0]) == len(text)
    assert len(text) <= counted(steps) <= len(text) + 100  # the prompt once, then the short answer
    usage = resp.get_json()["usage"]
    assert usage.get("prompt_tokens", usage.get("input_tokens")) == len(text) + 4


def test_a_prompt_over_the_limit_only_once_rendered_is_refused_before_lingma(client, pool, steps):
    limited(pool, 500)   # the texts fit, the rendered blocks and call do not
    call = PastCall("c1", "Read", {"file_path": "x" * 300})
    messages = [{"role": "user", "content": "a" * 200},
                {"role": "assistant", "content": None,
                 "tool_calls": [{"id": call.id, "type": "function",
                                 "function": {"name": "Read", "arguments": json.dumps(call.arguments)}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "b" * 200}]
    resp = client.post("/v1/chat/completions", json={"messages": messages})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "context_length_exceeded"
    assert "at least" not in resp.get_json()["error"]["message"]
    assert not pool.asks and kinds(steps).count("render") == 1 and counted(steps) == 0


CONVERSATIONS = [
    (Turn("user", "hi"),),
    (Turn("system", "be brief"), Turn("user", "hi"), Turn("assistant", "hello"), Turn("user", "再见")),
    (Turn("user", "read it", images=("data:image/png;base64,AA",)),
     Turn("assistant", "", calls=(PastCall("c1", "Read", {"path": "/a"}),)),
     Turn("tool", "line\n\"quoted\"", call_id="c1"), Turn("user", "thanks")),
]


@pytest.mark.parametrize("turns", CONVERSATIONS)
@pytest.mark.parametrize("sections", [(), ("Tools: Read",)])
def test_text_length_never_exceeds_the_rendered_prompt(turns, sections):
    assert prompt.text_length(turns, sections) <= len(prompt.render_prompt(turns, sections))


def reference_tokens(text: str) -> int:
    """The estimator's rule, one character at a time."""
    count = run = 0
    for char in text:
        if tokens.is_cjk(char):
            count, run = count + 1, 0
        else:
            run += 1
            count += run % 4 == 1
    return count


def test_the_fast_estimator_matches_the_rule_and_stays_incremental():
    rng = random.Random(13)
    alphabet = "ab \n\t.汉字かナ한ｈ😀𠀀é\u3000"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        assert tokens.estimate_tokens(text) == reference_tokens(text), text
        counter, start = tokens.TokenCounter(), 0
        while start < len(text):
            end = rng.randint(start + 1, len(text))
            counter.add(text[start:end])
            start = end
        assert counter.count == reference_tokens(text), text
