"""Structured output and tools in one request, as agent frameworks send them: calls still work."""

import json

URL = "/v1/chat/completions"
ASK = [{"role": "user", "content": "what is the weather in Paris?"}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
FORECAST = {"type": "json_schema", "json_schema": {"name": "forecast", "schema": {
    "type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}}}
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def ask(client, **fields):
    return client.post(URL, json={"model": "qwen3-coder", "messages": ASK, "tools": [WEATHER],
                                  "response_format": FORECAST, **fields})


def test_a_call_is_answered_as_a_call_despite_the_response_format(client, pool):
    pool.script("Let me check.\n", CALL)
    choice = ask(client).get_json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    prompt = pool.asks[0][0]
    assert "<tools>" in prompt and "<response_schema>" in prompt


def test_an_answer_without_a_call_is_still_checked_json(client, pool):
    pool.script('{"summary": ', '"sunny"}')
    choice = ask(client).get_json()["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert json.loads(choice["message"]["content"]) == {"summary": "sunny"}


def test_an_invalid_call_gets_the_tool_repair_turn(client, pool):
    pool.script('<tool_call>\n{"name": "get_weather", "arguments": {"town": 1}}\n</tool_call>')
    pool.script(CALL)
    choice = ask(client).get_json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert "<tool_call_error>" in pool.asks[1][0] and "<json_error>" not in pool.asks[1][0]
