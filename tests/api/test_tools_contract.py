"""The prompt text for tools, calls, results and repair turns: exact strings per the contract."""

import json

import pytest

from lingma_flask.pipeline.tools.contract import call_block
from lingma_flask.pipeline.tools.contract import json_repair_text
from lingma_flask.pipeline.tools.contract import repair_text
from lingma_flask.pipeline.tools.contract import response_block
from lingma_flask.pipeline.tools.contract import schema_section
from lingma_flask.pipeline.tools.contract import tools_section
from lingma_flask.pipeline.tools.parser import Call
from lingma_flask.pipeline.tools.parser import CallParser
from lingma_flask.pipeline.tools.spec import Tool
from lingma_flask.pipeline.tools.spec import ToolChoice

READ = Tool("read_file", "Read a file.", {
    "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})
GREP = Tool("grep", "搜索文本", {"type": "object", "properties": {"q": {"type": "string"}}})
READ_LINE = (
    '{"type": "function", "function": {"name": "read_file", "description": "Read a file.", '
    '"parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}'
)
GREP_LINE = (
    '{"type": "function", "function": {"name": "grep", "description": "搜索文本", '
    '"parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}'
)
HEAD = (
    "# Tools\n\n"
    "You may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n"
    "<tools>\n"
)
TAIL = (
    "</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n"
    "<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call>"
)


@pytest.mark.parametrize("choice, parallel, expected", [
    (ToolChoice.auto(), True, HEAD + READ_LINE + "\n" + GREP_LINE + "\n" + TAIL),
    (ToolChoice.required(), True,
     HEAD + READ_LINE + "\n" + GREP_LINE + "\n" + TAIL + "\nYou must call at least one function."),
    (ToolChoice.named("grep"), True,
     HEAD + GREP_LINE + "\n" + TAIL + "\nYou must call the function grep."),
    (ToolChoice.auto(), False,
     HEAD + READ_LINE + "\n" + GREP_LINE + "\n" + TAIL + "\nCall at most one function."),
    (ToolChoice.required(), False,
     HEAD + READ_LINE + "\n" + GREP_LINE + "\n" + TAIL
     + "\nYou must call at least one function.\nCall at most one function."),
    (ToolChoice.none(), True, ""),
    (ToolChoice.named("missing"), True, ""),
])
def test_tools_section(choice, parallel, expected):
    assert tools_section([READ, GREP], choice, parallel) == expected


def test_no_tools_no_section():
    assert tools_section([], ToolChoice.required(), True) == ""


def test_default_parameters_are_an_empty_object_schema():
    section = tools_section([Tool("now", "")], ToolChoice.auto(), True)
    line = section.split("<tools>\n", 1)[1].split("\n</tools>", 1)[0]
    assert json.loads(line)["function"]["parameters"] == {"type": "object", "properties": {}}


@pytest.mark.parametrize("arguments, payload", [
    ({"path": "README.md"}, '{"name": "read_file", "arguments": {"path": "README.md"}}'),
    ('{"path":"README.md"}', '{"name": "read_file", "arguments": {"path": "README.md"}}'),
    ({"path": "说明.md"}, '{"name": "read_file", "arguments": {"path": "说明.md"}}'),
    ("", '{"name": "read_file", "arguments": {}}'),
    ('{"path": "READ', '{"name": "read_file", "arguments": "{\\"path\\": \\"READ"}'),
])
def test_call_block(arguments, payload):
    assert call_block("read_file", arguments) == "<tool_call>\n" + payload + "\n</tool_call>"


def test_call_block_reads_back_through_the_parser():
    block = call_block("read_file", {"path": "a</tool_call>b", "n": [1, {"x": None}]})
    parser = CallParser()
    pieces = parser.feed(block) + parser.close()
    assert pieces == [Call(block, "read_file", {"path": "a</tool_call>b", "n": [1, {"x": None}]})]


@pytest.mark.parametrize("name, call_id, content, payload", [
    ("read_file", "call_abc", "line 1\nsaid \"hi\"",
     '{"name": "read_file", "call_id": "call_abc", "content": "line 1\\nsaid \\"hi\\""}'),
    (None, "call_abc", "ok", '{"call_id": "call_abc", "content": "ok"}'),
    ("grep", None, "无", '{"name": "grep", "content": "无"}'),
    (None, None, "", '{"content": ""}'),
])
def test_response_block(name, call_id, content, payload):
    assert response_block(name, call_id, content) == "<tool_response>\n" + payload + "\n</tool_response>"


@pytest.mark.parametrize("require_call, instruction_start", [
    (True, "Answer again. Call the function once more"),
    (False, "Answer again. Either call the function once more"),
])
def test_repair_text(require_call, instruction_start):
    text = repair_text(["read_file: 'path' is a required property", "unknown tool 'x'"],
                       require_call=require_call)
    head, instruction = text.rsplit("\n", 1)
    assert head == (
        "<tool_call_error>\n"
        "read_file: 'path' is a required property\n"
        "unknown tool 'x'\n"
        "</tool_call_error>"
    )
    assert instruction.startswith(instruction_start)
    assert ("without calling a function" in instruction) is not require_call


def test_repair_problems_are_one_capped_line_each():
    text = repair_text(["two\nlines", "x" * 1000], require_call=True)
    lines = text.split("\n")
    assert lines[1] == "two lines"
    assert len(lines[2]) == 300
    assert lines[2].endswith("...")
    assert lines[3] == "</tool_call_error>"


def test_schema_section_with_schema():
    schema = {"type": "object", "properties": {"名": {"type": "string"}}}
    assert schema_section(schema) == (
        "# Response format\n\n"
        "Answer with only a JSON object (no prose, no code fence) that validates against this "
        "JSON schema:\n"
        "<response_schema>\n"
        '{"type": "object", "properties": {"名": {"type": "string"}}}\n'
        "</response_schema>"
    )


def test_schema_section_without_schema():
    assert schema_section(None) == (
        "# Response format\n\n"
        "Answer with only a JSON object.\n"
        "<response_schema>{}</response_schema>"
    )


def test_json_repair_text():
    text = json_repair_text(["at $.age: 'x' is not of type 'integer'"])
    assert text.startswith("<json_error>\nat $.age: 'x' is not of type 'integer'\n</json_error>\n")
    assert text.split("\n")[-1].startswith("Answer again")
