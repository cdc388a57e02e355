"""The real openai SDK against the app, in process (httpx2's WSGI transport)."""

import openai
import pytest

from lingma_flask.lingma.errors import LingmaBusyError
from lingma_flask.lingma.errors import LingmaQuotaError
from lingma_flask.lingma.errors import LingmaTimeoutError

from .fakes import TICK

HI = [{"role": "user", "content": "hi"}]


def test_non_stream(sdk, pool):
    pool.script("Hello", " there")
    completion = sdk.chat.completions.create(model="qwen3-coder", messages=HI)
    assert completion.choices[0].message.content == "Hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 3


def test_stream_with_usage_and_keepalives(sdk, pool):
    pool.script(TICK, "Hel", TICK, "lo")
    chunks = list(sdk.chat.completions.create(model="Qwen3-Coder", messages=HI, stream=True,
                                              stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 2
    assert {c.model for c in chunks} == {"Qwen3-Coder"}


def test_mid_stream_error_raises(sdk, pool):
    pool.script("partial", LingmaTimeoutError("idle for 60 s", phase="idle"))
    with pytest.raises(openai.APIError, match="idle for 60 s"):
        for _ in sdk.chat.completions.create(model="auto", messages=HI, stream=True):
            pass


def test_models(sdk):
    assert [m.id for m in sdk.models.list()] == ["qwen3-coder", "auto", "kmodel", "vl"]
    assert sdk.models.retrieve("Kimi-K2").id == "Kimi-K2"
    with pytest.raises(openai.NotFoundError) as info:
        sdk.models.retrieve("gpt-9")
    assert info.value.code == "model_not_found"


@pytest.mark.parametrize("error, exc, code", [
    (LingmaBusyError("full", retry_after=2), openai.RateLimitError, "lingma_busy"),
    (LingmaQuotaError("quota exhausted"), openai.RateLimitError, "insufficient_quota"),
])
def test_errors_become_sdk_exceptions(sdk, pool, error, exc, code):
    pool.ask_error = error
    with pytest.raises(exc) as info:
        sdk.chat.completions.create(model="auto", messages=HI, stream=True)
    assert info.value.code == code
    assert info.value.request_id and info.value.request_id.startswith("req_")


def test_bad_request_names_the_param(sdk):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="auto", messages=HI, n=3)
    assert info.value.param == "n"


READ = {"type": "function", "function": {
    "name": "read_file", "description": "Read a file",
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                   "required": ["path"], "additionalProperties": False}, "strict": True}}
CALL = '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>'


def test_the_stream_helper_accumulates_tool_calls(sdk, pool):
    pool.script("Reading ", "it.\n<tool_", "call>\n{\"name\": \"read_file\", ",
                '"arguments": {"path": "a.py"}}\n</tool_call>')
    with sdk.chat.completions.stream(model="qwen3-coder", messages=HI, tools=[READ]) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    assert message.content == "Reading it.\n"
    assert message.tool_calls[0].function.name == "read_file"
    assert message.tool_calls[0].function.parsed_arguments == {"path": "a.py"}


def test_a_tool_loop_call_result_answer(sdk, pool):
    pool.script(CALL)
    first = sdk.chat.completions.create(model="qwen3-coder", messages=HI, tools=[READ])
    call = first.choices[0].message.tool_calls[0]
    pool.script("The file says hi.")
    history = HI + [first.choices[0].message.model_dump(exclude_none=True),
                    {"role": "tool", "tool_call_id": call.id, "content": "print('hi')"}]
    second = sdk.chat.completions.create(model="qwen3-coder", messages=history, tools=[READ])
    assert second.choices[0].message.content == "The file says hi."
    prompt = pool.asks[-1][0]
    assert prompt.index("<tool_call>") < prompt.index("<tool_response>")
    assert f'"call_id": "{call.id}"' in prompt


def test_parse_with_a_pydantic_response_format(sdk, pool):
    import pydantic

    class Place(pydantic.BaseModel):
        city: str
        population: int

    pool.script('{"city": "Paris", "population": 2100000}')
    completion = sdk.chat.completions.parse(model="qwen3-coder", messages=HI, response_format=Place)
    assert completion.choices[0].message.parsed == Place(city="Paris", population=2100000)
    assert '"population"' in pool.asks[-1][0]
