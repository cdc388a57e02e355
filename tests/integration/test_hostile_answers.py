"""Hostile model answers and client schemas through real gunicorn + gevent + the simulator.

Each case once froze the worker's event loop long enough for gunicorn to kill it. Here each
one gets its clear answer (a checked result or an OpenAI-shaped error) while another stream
flows beside it, and the worker that served them is the one that started: none was killed.
The time each case costs is measured in bench/hostile_answers.py, not asserted here.
"""

import base64
import json
import threading

import anthropic
import openai
import pytest

from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway
from tests.integration.gateway import children_of

pytestmark = pytest.mark.integration
OBJECT = {"type": "object"}


def say(answer: str, text: str = "go") -> str:
    """A user turn that makes the simulator answer exactly `answer`, in 4 KB chunks."""
    b64 = base64.urlsafe_b64encode(answer.encode()).decode().rstrip("=")
    return f"{text} [[sim:answer={b64},chunk=4096,delay=0]]"


def user(content: str) -> list[dict]:
    return [{"role": "user", "content": content}]


def tool(name: str, parameters: dict) -> dict:
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


def json_schema(schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


def doubling_chain(k: int) -> dict:
    """About a kilobyte of schema whose allOf/$ref chain expands to 2**k subschemas."""
    defs = {f"d{i}": {"allOf": [{"$ref": f"#/$defs/d{i + 1}"}] * 2} for i in range(k)}
    defs[f"d{k}"] = {"type": "string"}
    return {"type": "object", "properties": {"v": {"$ref": "#/$defs/d0"}}, "$defs": defs}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """This module's gateway (conftest's `client` uses it): bodies up to 4 MiB."""
    gw = Gateway(tmp_path_factory.mktemp("hostile") / "work",
                 LINGMA_MAX_BODY_BYTES=str(4 * 1024 * 1024)).start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def first_worker(gateway):
    found = children_of(gateway.proc.pid)
    assert len(found) == 1
    return found[0]


@pytest.fixture
def beside(gateway, client, first_worker):
    """A stream that flows while the test runs; it must end whole, and the worker live on."""
    result: dict = {}

    def flow():
        try:
            stream = client.chat.completions.create(
                model="auto", stream=True, messages=user("[[sim:len=3000,chunk=30,delay=0.01]]"))
            result["text"] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            result["error"] = exc
    thread = threading.Thread(target=flow)
    thread.start()
    yield
    thread.join(60)
    assert not thread.is_alive() and "error" not in result, result.get("error")
    assert len(result["text"]) == 3000
    assert children_of(gateway.proc.pid) == [first_worker]


def test_a_fenced_answer_with_a_huge_run_of_spaces_is_refused_not_backtracked(client, beside):
    fence = "```" + " " * 100_000 + "x"
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="auto", messages=user(say(fence)),
                                       response_format={"type": "json_object"})
    assert info.value.status_code == 502
    assert info.value.body["code"] == "response_format_invalid"


def test_the_same_answer_streamed_ends_with_an_error_event(client, beside):
    fence = "```json\n" + " " * 100_000 + "{\"a\": 1"
    stream = client.chat.completions.create(model="auto", messages=user(say(fence)), stream=True,
                                            response_format={"type": "json_object"})
    with pytest.raises(openai.APIError) as info:
        list(stream)
    assert "response format" in str(info.value.message).lower()


def test_an_xml_call_with_a_huge_parameter_is_read_whole(client, beside):
    value = " " * 100_000 + "x"
    answer = f"<tool_call>\n<function=f>\n<parameter=a>\n{value}\n</parameter>\n</function>\n</tool_call>"
    done = client.chat.completions.create(model="auto", messages=user(say(answer)),
                                          tools=[tool("f", OBJECT)])
    call = done.choices[0].message.tool_calls[0]
    assert done.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.function.arguments) == {"a": value}


def test_a_catastrophic_pattern_is_checked_without_backtracking(client, beside):
    schema = {"type": "object", "properties": {"v": {"type": "string", "pattern": "^(a+)+$"}},
              "required": ["v"]}
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="auto", messages=user(say(json.dumps({"v": "a" * 40 + "!"}))),
                                       response_format=json_schema(schema))
    assert info.value.status_code == 502
    assert info.value.body["code"] == "response_format_invalid"


def test_a_schema_that_expands_to_a_billion_nodes_is_a_400_naming_the_tool(client, beside):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="auto", messages=user(say("hi")),
                                       tools=[tool("ok", OBJECT), tool("f", doubling_chain(30))])
    assert info.value.body["param"] == "tools[1].function.parameters"
    assert "$ref" in info.value.body["message"]


def test_the_same_schema_as_a_response_format_is_a_400_on_responses(client, beside):
    fmt = {"type": "json_schema", "name": "answer", "schema": doubling_chain(30)}
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="auto", input=say('{"v": "x"}'), text={"format": fmt})
    assert info.value.body["param"].startswith("text.format")


def test_a_huge_xml_call_on_messages_is_read_whole(gateway, beside):
    value = "\t" * 50_000 + "y"
    answer = f"<tool_call>\n<function=f>\n<parameter=a>\n{value}\n</parameter>\n</function>\n</tool_call>"
    with anthropic.Anthropic(base_url=gateway.url, api_key=API_KEY, max_retries=0, timeout=60) as claude:
        message = claude.messages.create(
            model="auto", max_tokens=1000, messages=user(say(answer)),
            tools=[{"name": "f", "input_schema": OBJECT}])
    uses = [block for block in message.content if block.type == "tool_use"]
    assert message.stop_reason == "tool_use" and uses[0].input == {"a": value}
