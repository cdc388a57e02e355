"""Tools, structured output, reasoning, images and legacy completions through real gunicorn,
driven by the official openai SDK and its helpers, against the simulator's answers."""

import json

import pydantic
import pytest
import requests

from tests.integration.gateway import API_KEY

pytestmark = pytest.mark.integration
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4"
         "DwABBAEAwS2OUAAAAABJRU5ErkJggg==")
READ = {"type": "function", "function": {
    "name": "read_file", "description": "Read a file",
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                   "required": ["path"], "additionalProperties": False}, "strict": True}}


@pytest.mark.parametrize("form", ["json", "xml", "fence"])
def test_the_stream_helper_gets_a_checked_call_in_every_qwen_form(client, form):
    messages = [{"role": "user", "content": f"read it [[sim:tool=read_file,tool_form={form}]]"}]
    with client.chat.completions.stream(model="auto", messages=messages, tools=[READ]) as stream:
        for event in stream:
            assert "<tool_call>" not in getattr(event, "content", "") or ""
            assert "<function=" not in str(getattr(event, "content", ""))
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content.strip() == "Let me use read_file."
    assert choice.message.tool_calls[0].function.parsed_arguments == {"path": "sim"}


def test_a_whole_agent_loop_call_result_answer(client):
    messages = [{"role": "user", "content": "what is in it? [[sim:tool]]"}]
    first = client.chat.completions.create(model="auto", messages=messages, tools=[READ])
    call = first.choices[0].message.tool_calls[0]
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "the word is pelican"}]
    final = client.chat.completions.create(model="auto", messages=messages, tools=[READ])
    assert final.choices[0].finish_reason == "stop"
    assert "pelican" in final.choices[0].message.content


def test_an_invalid_call_is_repaired_by_the_second_turn(gateway, client):
    messages = [{"role": "user", "content": "read it [[sim:tool,tool_invalid]]"}]
    asks_before = len(gateway.sim_state()["asks"])
    final = client.chat.completions.create(model="auto", messages=messages, tools=[READ])
    assert json.loads(final.choices[0].message.tool_calls[0].function.arguments) == {"path": "sim"}
    assert len(gateway.sim_state()["asks"]) == asks_before + 2


def test_parse_with_a_pydantic_model(client):
    class Place(pydantic.BaseModel):
        city: str
        population: int

    completion = client.chat.completions.parse(
        model="auto", messages=[{"role": "user", "content": "a place please"}], response_format=Place)
    assert completion.choices[0].message.parsed == Place(city="sim", population=1)


def test_reasoning_content_on_the_reasoning_model(client):
    chunks = list(client.chat.completions.create(
        model="dashscope_qwen_plus_20250428_thinking", stream=True,
        messages=[{"role": "user", "content": "think first"}]))
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or ""
                        for c in chunks if c.choices)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Thinking about: think first" in reasoning and text == "You said: think first"


def test_an_image_reaches_the_vision_model(gateway, client):
    parts = [{"type": "text", "text": "what is it?"}, {"type": "image_url", "image_url": {"url": PIXEL}}]
    answer = client.chat.completions.create(model="dashscope_qwen_vl_max",
                                            messages=[{"role": "user", "content": parts}])
    assert answer.choices[0].message.content == "You said: what is it? [1 image(s)]"
    assert gateway.sim_state()["uploads"][-1]["success"] is True


def test_legacy_completions_plain_and_streamed(gateway, client):
    plain = client.completions.create(model="auto", prompt=["one", "two"], max_tokens=50)
    assert [c.text for c in plain.choices] == ["You said: one", "You said: two"]
    resp = requests.post(gateway.url + "/v1/completions", stream=True, timeout=30,
                         headers={"Authorization": f"Bearer {API_KEY}"},
                         json={"model": "auto", "prompt": "three", "stream": True, "max_tokens": 50})
    data = [line[6:] for line in resp.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "You said: three"
    assert chunks[-1]["usage"]["completion_tokens"] > 0
