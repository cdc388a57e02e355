"""No agent stops early (issue 16, items 1 to 5): real clients against gunicorn + gevent + the simulator.

The simulator's markers script the model (docs/simulator.md): `tool_invalid=always` makes a
call whose arguments break its schema, on the repair turn too; once the agent sends its tool
result back, the simulator answers it with text (`Tool result: ...`), ending the loop.

* Claude Code (pinned) and pydantic-ai get the invalid call (LINGMA_INVALID_TOOL_CALLS=pass, the
  default), their own validation sends the error back as the tool's result, and the next turn
  completes the task: the loop goes on instead of ending as if the task were done.
* pydantic-ai's structured output through a forced tool, answered with bare JSON, and through
  `response_format`, answered with JSON in prose: both taken without a 502.
* The official openai and anthropic SDKs, with their default retries, send a `tool_call_invalid`
  once (`x-should-retry: false`); `tool_choice: none` never gets call markup as text.
"""

from __future__ import annotations

import asyncio
import base64
import json

import anthropic
import openai
import pytest
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai import NativeOutput
from pydantic_ai.messages import ToolReturnPart
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from lingma_flask.lingma.instance import wait_until
from tests.integration.agents import claude_binary
from tests.integration.agents import run_claude
from tests.integration.gateway import API_KEY

pytestmark = pytest.mark.integration


def b64(text: str) -> str:
    """The base64url a simulator marker carries."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def requests_after(gateway, since: int, route: str) -> list[dict]:
    """The request log lines of `route` written after line `since`."""
    return [e for e in gateway.json_lines(since) if e.get("route") == route]


def tool_events(gateway, since: int) -> list[dict]:
    """The tool events (logger lingma_flask.tools) written after line `since`."""
    return [json.loads(e["message"]) for e in gateway.json_lines(since)
            if e.get("logger") == "lingma_flask.tools"]


# -- Claude Code ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def claude():
    return claude_binary()


def test_claude_code_gets_the_invalid_call_and_goes_on(claude, gateway, tmp_path):
    mark = len(gateway.lines)
    prompt = "Read the secret file [[sim:tool=Read,tool_invalid=always]]"
    done = run_claude(claude, tmp_path, gateway.url, API_KEY, prompt)
    wait_until(lambda: len(requests_after(gateway, mark, "/v1/messages")) >= 2, 10)
    assert done.returncode == 0, done.stdout + done.stderr
    # Claude Code's own validation error went back as the Read result; the next turn answered it
    assert done.result["is_error"] is False
    assert done.result["result"].startswith("Tool result:") and "file_path" in done.result["result"]
    asked = requests_after(gateway, mark, "/v1/messages")
    assert [(e["stream"], e["finish_reason"]) for e in asked] == [(True, "tool_calls"), (True, "stop")]
    fates = [(e["tool"], e["event"], e["detail"].split(":")[0]) for e in tool_events(gateway, mark)]
    assert fates == [("Read", "repair", "Read"), ("Read", "failure", "passed on as given")]


def test_claude_code_takes_arguments_that_were_not_an_object(claude, gateway, tmp_path):
    words = '<tool_call>\n{"name": "Read", "arguments": "secret.txt please"}\n</tool_call>'
    mark = len(gateway.lines)
    prompt = f"Read it [[sim:answer={b64(words)},then={b64('I could not read it.')}]]"
    done = run_claude(claude, tmp_path, gateway.url, API_KEY, prompt)
    wait_until(lambda: len(requests_after(gateway, mark, "/v1/messages")) >= 2, 10)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.result["result"] == "I could not read it."
    # the call went as {"arguments": "secret.txt please"}: an `input` Claude Code validates, and
    # sends back in the next request's history, where a bare string would be refused (400)
    asked = requests_after(gateway, mark, "/v1/messages")
    assert [(e["status"], e["finish_reason"]) for e in asked] == [(200, "tool_calls"), (200, "stop")]


def test_claude_code_gets_the_repair_answer_text(claude, gateway, tmp_path):
    broken = 'Let me check.\n<tool_call>\n{"name": "Read", "arguments": {}}\n</tool_call>'
    mark = len(gateway.lines)
    prompt = f"What is the weather? [[sim:answer={b64(broken)},repair={b64('It is sunny in Paris.')}]]"
    done = run_claude(claude, tmp_path, gateway.url, API_KEY, prompt)
    wait_until(lambda: requests_after(gateway, mark, "/v1/messages"), 10)
    assert done.returncode == 0, done.stdout + done.stderr
    # streamed: the first answer's text was sent already, the repair answer's text follows it
    assert done.result["result"] == "Let me check.\nIt is sunny in Paris."
    asked = requests_after(gateway, mark, "/v1/messages")
    assert [(e["stream"], e["finish_reason"]) for e in asked] == [(True, "stop")]


# -- pydantic-ai ----------------------------------------------------------------------------

class Forecast(BaseModel):
    """The structured answer: a city and what its weather is like."""

    city: str
    summary: str


def run_agent(gateway, prompt: str, output_type=str, tools=()):
    """Run one pydantic-ai agent over the gateway's chat completions; return its run result."""
    async def go():
        async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=API_KEY,
                                      max_retries=0, timeout=60) as client:
            model = OpenAIChatModel("auto", provider=OpenAIProvider(openai_client=client))
            agent = Agent(model, tools=list(tools), output_type=output_type)
            agent.instrument = False
            return await agent.run(prompt)
    return asyncio.run(go())


def test_pydantic_ai_gets_the_invalid_call_and_goes_on(gateway):
    cities: list[str] = []

    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        cities.append(city)
        return "sunny"

    mark = len(gateway.lines)
    result = run_agent(gateway, "Weather in Paris? [[sim:tool=get_weather,tool_invalid=always]]",
                       tools=[get_weather])
    assert cities == []   # the call never validated, so the tool never ran
    # pydantic-ai 2.68 sends a validation error back as a tool return marked "retried"
    retries = [part for message in result.all_messages() for part in message.parts
               if isinstance(part, ToolReturnPart) and part.outcome == "retried"]
    assert len(retries) == 1 and retries[0].tool_name == "get_weather"
    assert retries[0].retry.cause == "validation_error"
    # the agent's validation error went back as the tool's result; the next turn answered it
    assert result.output.startswith("Tool result:") and "city" in result.output
    asked = requests_after(gateway, mark, "/v1/chat/completions")
    assert [e["finish_reason"] for e in asked] == ["tool_calls", "stop"]


def test_pydantic_ai_gets_the_repair_answer_text(gateway):
    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        return "sunny"

    broken = 'Let me check the weather.\n<tool_call>\n{"name": "get_weather", "arguments": {}}\n</tool_call>'
    prompt = f"Weather? [[sim:answer={b64(broken)},repair={b64('It is sunny in Paris.')}]]"
    result = run_agent(gateway, prompt, tools=[get_weather])
    assert result.output == "It is sunny in Paris."   # not the first answer's preamble


def test_pydantic_ai_tool_output_answered_with_bare_json(gateway):
    answer = '```json\n{"city": "Paris", "summary": "sunny"}\n```'
    mark = len(gateway.lines)
    result = run_agent(gateway, f"Forecast for Paris [[sim:answer={b64(answer)}]]", Forecast)
    assert result.output == Forecast(city="Paris", summary="sunny")
    asked = requests_after(gateway, mark, "/v1/chat/completions")
    assert [(e["status"], e["finish_reason"]) for e in asked] == [(200, "tool_calls")]   # no repair


def test_pydantic_ai_native_output_answered_with_json_in_prose(gateway):
    answer = 'Sure! Here it is:\n```json\n{"city": "Paris", "summary": "sunny"}\n```\nAnything else?'
    result = run_agent(gateway, f"Forecast for Paris [[sim:answer={b64(answer)}]]",
                       NativeOutput(Forecast))
    assert result.output == Forecast(city="Paris", summary="sunny")


# -- the official SDKs ----------------------------------------------------------------------

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_the_openai_sdk_sends_a_tool_call_invalid_once(gateway):
    mark = len(gateway.lines)
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=API_KEY, timeout=60) as client:
        assert client.max_retries == 2   # the SDK's default: it retries 429 and 5xx
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(
                model="auto", tool_choice="required",
                tools=[{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}],
                messages=[{"role": "user", "content": f"weather? [[sim:answer={b64('No call.')}]]"}])
    assert caught.value.status_code == 502 and caught.value.code == "tool_call_invalid"
    assert caught.value.response.headers["x-should-retry"] == "false"
    wait_until(lambda: requests_after(gateway, mark, "/v1/chat/completions"), 10)
    assert len(requests_after(gateway, mark, "/v1/chat/completions")) == 1


def test_the_anthropic_sdk_sends_a_tool_call_invalid_once(gateway):
    mark = len(gateway.lines)
    client = anthropic.Anthropic(base_url=gateway.url, api_key=API_KEY, timeout=60)
    assert client.max_retries == 2
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(
            model="auto", max_tokens=200, tool_choice={"type": "any"},
            tools=[{"name": "get_weather", "input_schema": WEATHER}],
            messages=[{"role": "user", "content": f"weather? [[sim:answer={b64('No call.')}]]"}])
    client.close()
    assert caught.value.status_code == 502
    wait_until(lambda: requests_after(gateway, mark, "/v1/messages"), 10)
    assert len(requests_after(gateway, mark, "/v1/messages")) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_tool_choice_none_gets_no_markup(client, gateway, stream):
    answer = 'Checking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\nDone.'
    fields = dict(model="auto", tool_choice="none",
                  tools=[{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}],
                  messages=[{"role": "user", "content": f"weather? [[sim:answer={b64(answer)}]]"}])
    if stream:
        chunks = list(client.chat.completions.create(stream=True, **fields))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        calls = [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    else:
        message = client.chat.completions.create(**fields).choices[0].message
        text, calls = message.content, message.tool_calls or []
    assert text == "Checking.\nDone." and not calls
