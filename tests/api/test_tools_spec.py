"""The tool, call and tool-choice values."""

import json
import re

import pytest

from lingma_flask.pipeline.tools.spec import Tool
from lingma_flask.pipeline.tools.spec import ToolCall
from lingma_flask.pipeline.tools.spec import ToolChoice
from lingma_flask.pipeline.tools.spec import new_call_id


@pytest.mark.parametrize("prefix", ["call_", "toolu_", "fc_", ""])
def test_call_ids_are_prefix_and_24_hex(prefix):
    assert re.fullmatch(re.escape(prefix) + "[0-9a-f]{24}", new_call_id(prefix))


def test_call_ids_default_to_call_prefix_and_never_repeat():
    ids = {new_call_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(call_id.startswith("call_") for call_id in ids)


@pytest.mark.parametrize("arguments, text", [
    ({"path": "README.md"}, '{"path": "README.md"}'),
    ({"路径": "说明.md", "n": [1, None, True]}, '{"路径": "说明.md", "n": [1, null, true]}'),
    ({}, "{}"),
])
def test_arguments_json(arguments, text):
    call = ToolCall(new_call_id(), "read_file", arguments)
    assert call.arguments_json() == text
    assert json.loads(call.arguments_json()) == arguments


def test_tool_defaults_to_an_empty_object_schema_not_shared():
    first, second = Tool("a"), Tool("b")
    assert first.parameters == {"type": "object", "properties": {}}
    assert first.parameters is not second.parameters


@pytest.mark.parametrize("choice, mode, name, requires_call", [
    (ToolChoice.auto(), "auto", None, False),
    (ToolChoice.none(), "none", None, False),
    (ToolChoice.required(), "required", None, True),
    (ToolChoice.named("grep"), "named", "grep", True),
    (ToolChoice(), "auto", None, False),
])
def test_tool_choice_constructors(choice, mode, name, requires_call):
    assert (choice.mode, choice.name, choice.requires_call) == (mode, name, requires_call)


@pytest.mark.parametrize("mode, name", [("sometimes", None), ("named", None), ("named", ""), ("auto", "grep")])
def test_tool_choice_refuses_nonsense(mode, name):
    with pytest.raises(ValueError):
        ToolChoice(mode, name)
