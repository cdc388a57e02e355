"""Schema budgets are made only for a request that has schemas to compile or answers to check (issue 17).

A chat without tools or a response format makes none; one with them shares one budget per
kind across all its work (every schema compiled, every answer checked, repair turn included).
"""

import json

import pytest

from lingma_flask.api import anthropic_request
from lingma_flask.api import chat_request
from lingma_flask.api import responses_request
from lingma_flask.pipeline import job
from lingma_flask.pipeline.tools import check

ASK = [{"role": "user", "content": "go"}]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}
FORMAT = {"type": "json_schema", "json_schema": {"name": "where", "schema": SCHEMA}}


@pytest.fixture(autouse=True)
def empty_cache():
    check.clear_cache()   # a cached schema is not compiled again, and would charge nothing
    yield
    check.clear_cache()


def counting(monkeypatch, module, name):
    """Wrap `module.name` (a budget factory) and return the list of budgets it made."""
    made = []
    real = getattr(module, name)

    def make():
        made.append(real())
        return made[-1]

    monkeypatch.setattr(module, name, make)
    return made


def test_a_plain_chat_makes_no_compile_budget(monkeypatch):
    made = counting(monkeypatch, chat_request, "compile_budget")
    chat_request.parse_chat_request({"model": "qwen3-coder", "messages": ASK})
    chat_request.parse_chat_request({"model": "qwen3-coder", "messages": ASK,
                                     "tools": [], "functions": []})
    assert made == []


def test_tools_and_a_format_share_one_compile_budget(monkeypatch):
    made = counting(monkeypatch, chat_request, "compile_budget")
    chat, _ = chat_request.parse_chat_request({"model": "qwen3-coder", "messages": ASK,
                                               "tools": [TOOL], "response_format": FORMAT})
    assert chat.tools and chat.response_format is not None
    [budget] = made
    assert budget.steps_left < budget.limits[0]   # both schemas were compiled on it


def test_the_responses_face_makes_a_compile_budget_only_for_schemas(monkeypatch):
    made = counting(monkeypatch, responses_request, "compile_budget")
    responses_request.parse_responses_request({"model": "qwen3-coder", "input": "hi"}, lambda _id: None)
    assert made == []
    responses_request.parse_responses_request(
        {"model": "qwen3-coder", "input": "hi", "tools": [{"type": "function", "name": "f", "parameters": SCHEMA}],
         "text": {"format": {"type": "json_schema", "name": "where", "schema": SCHEMA}}}, lambda _id: None)
    assert len(made) == 1


def test_the_messages_face_makes_a_compile_budget_only_for_schemas(monkeypatch):
    made = counting(monkeypatch, anthropic_request, "compile_budget")
    plain = {"model": "qwen3-coder", "max_tokens": 10, "messages": ASK}
    anthropic_request.parse_messages_request(plain)
    assert made == []
    anthropic_request.parse_messages_request({
        **plain, "tools": [{"name": "f", "input_schema": SCHEMA}],
        "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}})
    assert len(made) == 1


def test_a_plain_chat_makes_no_check_budget(client, pool, monkeypatch):
    made = counting(monkeypatch, job, "new_check_budget")
    pool.script("hello")
    resp = client.post("/v1/chat/completions", json={"model": "qwen3-coder", "messages": ASK})
    assert resp.get_json()["choices"][0]["message"]["content"] == "hello"
    assert made == []


def test_the_repair_turn_checks_on_the_first_answers_budget(client, pool, monkeypatch):
    made = counting(monkeypatch, job, "new_check_budget")
    pool.script('{"town": "Paris"}')
    pool.script('{"city": "Paris"}')
    resp = client.post("/v1/chat/completions", json={"model": "qwen3-coder", "messages": ASK,
                                                     "response_format": FORMAT})
    assert json.loads(resp.get_json()["choices"][0]["message"]["content"]) == {"city": "Paris"}
    assert len(pool.asks) == 2   # the first answer failed its check and was repaired
    [budget] = made
    assert budget.steps_left < budget.limits[0]
