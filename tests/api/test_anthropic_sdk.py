"""The official anthropic SDK against the app, in process (httpx2's WSGI transport)."""

import anthropic
import httpx2
import pytest

from lingma_flask.lingma.errors import LingmaBusyError
from lingma_flask.lingma.errors import LingmaTimeoutError
from lingma_flask.lingma.stream import Thought

from .fakes import TICK

CLAUDE = "claude-opus-5-5"   # the SDK warns (an error here) about names it lists as deprecated
HI = [{"role": "user", "content": "hi"}]
READ = {"name": "Read", "description": "Read a file.",
        "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}},
                         "required": ["file_path"]}}
CALL = '<tool_call>\n{"name": "Read", "arguments": {"file_path": "/a.txt"}}\n</tool_call>'


@pytest.fixture
def sdk(app):
    http = httpx2.Client(transport=httpx2.WSGITransport(app=app))
    client = anthropic.Anthropic(api_key="any", base_url="http://localhost", http_client=http,
                                 max_retries=0)
    yield client
    client.close()


def test_create(sdk, pool):
    pool.script("Hello", " there")
    message = sdk.messages.create(model=CLAUDE, max_tokens=100, messages=HI)
    assert message.id.startswith("msg_") and message.model == CLAUDE
    assert [(b.type, b.text) for b in message.content] == [("text", "Hello there")]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 0 and message.usage.output_tokens == 3


def test_create_streamed_raw_events(sdk, pool):
    pool.script(TICK, "Hel", "lo")
    events = list(sdk.messages.create(model=CLAUDE, max_tokens=100, messages=HI,
                                      stream=True))
    assert [e.type for e in events] == ["message_start", "content_block_start",
                                        "content_block_delta", "content_block_delta",
                                        "content_block_stop", "message_delta", "message_stop"]
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == "Hello"
    assert events[-2].delta.stop_reason == "end_turn" and events[-2].usage.output_tokens == 2


def test_stream_helper_with_thinking(sdk, pool):
    pool.script(Thought("Let me think."), TICK, "The answer", " is 4.")
    with sdk.messages.stream(model="kmodel", max_tokens=2000, messages=HI,
                             thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == "The answer is 4."
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking == "Let me think."
    assert thinking.signature
    assert text.text == "The answer is 4." and final.stop_reason == "end_turn"


def test_stream_helper_with_tools(sdk, pool):
    pool.script("Reading.\n", CALL)
    with sdk.messages.stream(model=CLAUDE, max_tokens=500, messages=HI,
                             tools=[READ]) as stream:
        final = stream.get_final_message()
    text, call = final.content
    assert text.text == "Reading.\n"
    assert call.type == "tool_use" and call.id.startswith("toolu_")
    assert call.name == "Read" and call.input == {"file_path": "/a.txt"}
    assert final.stop_reason == "tool_use"


def test_tool_round_trip(sdk, pool):
    pool.script(CALL)
    first = sdk.messages.create(model=CLAUDE, max_tokens=500, messages=HI,
                                tools=[READ], tool_choice={"type": "any"})
    call = first.content[0]
    pool.script("The file says hello.")
    history = HI + [{"role": "assistant", "content": first.content},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                                  "content": "hello"}]}]
    second = sdk.messages.create(model=CLAUDE, max_tokens=500, messages=history,
                                 tools=[READ])
    assert second.content[0].text == "The file says hello."
    assert f'"call_id": "{call.id}", "content": "hello"' in pool.asks[-1][0]


def test_count_tokens_matches_the_usage(sdk, pool):
    kwargs = {"model": CLAUDE, "messages": HI, "system": "Be brief.", "tools": [READ]}
    counted = sdk.messages.count_tokens(**kwargs)
    assert counted.input_tokens > 0 and not pool.asks
    message = sdk.messages.create(max_tokens=100, **kwargs)
    assert message.usage.input_tokens == counted.input_tokens


def test_beta_namespace_works_too(sdk, pool):
    message = sdk.beta.messages.create(model=CLAUDE, max_tokens=100, messages=HI,
                                       betas=["context-management-2025-06-27"])
    assert message.content[0].text == "Hello world"
    assert sdk.beta.messages.count_tokens(model=CLAUDE, messages=HI).input_tokens > 0


def test_errors_become_sdk_exceptions(sdk, pool):
    pool.ask_error = LingmaBusyError("full", retry_after=2)
    with pytest.raises(anthropic.InternalServerError) as info:
        sdk.messages.create(model=CLAUDE, max_tokens=100, messages=HI)
    assert info.value.status_code == 529 and info.value.type == "overloaded_error"
    assert info.value.request_id and info.value.request_id.startswith("req_")
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.create(model="nope", max_tokens=100, messages=HI)
    with pytest.raises(anthropic.BadRequestError) as bad:
        sdk.messages.create(model=CLAUDE, max_tokens=100, messages=[])
    assert "messages" in bad.value.message


def test_mid_stream_error_raises(sdk, pool):
    pool.script("partial", LingmaTimeoutError("idle for 60 s", phase="idle"))
    with pytest.raises(anthropic.APIStatusError, match="idle for 60 s"):
        with sdk.messages.stream(model=CLAUDE, max_tokens=100, messages=HI) as stream:
            stream.get_final_message()
