"""Checking calls and JSON answers against JSON Schemas: typing, problems, caching, safety."""

import urllib.request

import pytest

from lingma_flask.pipeline.tools import check
from lingma_flask.pipeline.tools.check import check_call
from lingma_flask.pipeline.tools.check import check_json
from lingma_flask.pipeline.tools.contract import tools_section
from lingma_flask.pipeline.tools.parser import Call
from lingma_flask.pipeline.tools.parser import CallParser
from lingma_flask.pipeline.tools.spec import Tool
from lingma_flask.pipeline.tools.spec import ToolChoice

READ = Tool("read_file", "Read a file.", {
    "type": "object",
    "properties": {"path": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}},
    "required": ["path"],
    "additionalProperties": False,
})
TYPED = Tool("typed", "", {
    "type": "object",
    "$defs": {"Mode": {"type": "string", "enum": ["fast", "slow"]}, "Level": {"type": "integer"}},
    "properties": {
        "count": {"type": "integer"},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
        "nothing": {"type": "null"},
        "options": {"type": "object"},
        "items": {"type": "array", "items": {"type": "integer"}},
        "text": {"type": "string"},
        "maybe": {"type": ["integer", "null"]},
        "either": {"anyOf": [{"type": "boolean"}, {"type": "string"}]},
        "size": {"enum": [1, 2, 3]},
        "mode": {"$ref": "#/$defs/Mode"},
        "level": {"$ref": "#/$defs/Level"},
    },
})
TOOLS = {tool.name: tool for tool in (READ, TYPED)}


@pytest.fixture(autouse=True)
def empty_cache():
    check.clear_cache()
    yield
    check.clear_cache()


def json_call(name, arguments):
    return Call("<tool_call>...</tool_call>", name, arguments)


def xml_call(name, arguments):
    return Call("<tool_call>...</tool_call>", name, arguments, style="xml")


@pytest.mark.parametrize("arguments, expected", [
    ({"path": "a.txt"}, {"path": "a.txt"}),
    ({"path": "a.txt", "limit": 5}, {"path": "a.txt", "limit": 5}),
    ('{"path": "a.txt"}', {"path": "a.txt"}),
    ("{'path': 'a.txt', 'limit': 2,}", {"path": "a.txt", "limit": 2}),
    ('```json\n{"path": "a.txt"}\n```', {"path": "a.txt"}),
    ({"path": "说明.md"}, {"path": "说明.md"}),
])
def test_valid_json_calls(arguments, expected):
    assert check_call(json_call("read_file", arguments), TOOLS) == (expected, None)


@pytest.mark.parametrize("arguments, problem", [
    ({}, "read_file: 'path' is a required property"),
    (None, "read_file: 'path' is a required property"),
    ("", "read_file: 'path' is a required property"),
    ({"path": [3]}, "read_file: at $.path: [3] is not of type 'string'"),   # {"path": 3} is coerced
    ({"path": "a", "limit": "ten"}, "read_file: at $.limit: 'ten' is not of type 'integer'"),
    ({"path": "a", "limit": 0}, "read_file: at $.limit: 0 is less than the minimum of 1"),
    ({"path": "a", "extra": 1}, "read_file: Additional properties are not allowed ('extra' was unexpected)"),
    ({"limit": "x"}, "read_file: at $.limit: 'x' is not of type 'integer'; 'path' is a required property"),
    ("just words", "read_file: arguments must be a JSON object, not a string"),
    ([1, 2], "read_file: arguments must be a JSON object, not an array"),
    ('"a string"', "read_file: arguments must be a JSON object, not a string"),
    (7, "read_file: arguments must be a JSON object, not a number"),
])
def test_invalid_json_calls(arguments, problem):
    assert check_call(json_call("read_file", arguments), TOOLS) == (None, problem)


@pytest.mark.parametrize("name, arguments, expected", [
    ("typed", {"count": "\n42\n"}, {"count": 42}),
    ("typed", {"count": " -7 "}, {"count": -7}),
    ("typed", {"count": "3.0"}, {"count": 3}),
    ("typed", {"ratio": "\n0.25\n"}, {"ratio": 0.25}),
    ("typed", {"ratio": "2"}, {"ratio": 2}),
    ("typed", {"flag": "\ntrue\n"}, {"flag": True}),
    ("typed", {"flag": "False"}, {"flag": False}),
    ("typed", {"nothing": "null"}, {"nothing": None}),
    ("typed", {"options": '\n{"a": [1, 2]}\n'}, {"options": {"a": [1, 2]}}),
    ("typed", {"options": "{'a': True,}"}, {"options": {"a": True}}),
    ("typed", {"items": "[1, 2, 3]"}, {"items": [1, 2, 3]}),
    ("typed", {"text": "\nline one\nline two\n"}, {"text": "line one\nline two"}),
    ("typed", {"text": "\n\n  indented\n\n"}, {"text": "\n  indented\n"}),
    ("typed", {"text": "42"}, {"text": "42"}),
    ("typed", {"maybe": "5"}, {"maybe": 5}),
    ("typed", {"maybe": "null"}, {"maybe": None}),
    ("typed", {"either": "true"}, {"either": True}),
    ("typed", {"either": "\nwords\n"}, {"either": "words"}),
    ("typed", {"size": "2"}, {"size": 2}),
    ("typed", {"mode": "\nfast\n"}, {"mode": "fast"}),
    ("typed", {"level": "9"}, {"level": 9}),
    ("read_file", {"path": "\nREADME.md\n", "limit": "\n10\n"}, {"path": "README.md", "limit": 10}),
])
def test_xml_values_are_typed_by_the_schema(name, arguments, expected):
    assert check_call(xml_call(name, arguments), TOOLS) == (expected, None)


@pytest.mark.parametrize("arguments, problem", [
    ({"count": "many"}, "typed: at $.count: 'many' is not of type 'integer'"),
    ({"ratio": "NaN"}, "typed: at $.ratio: 'NaN' is not of type 'number'"),
    ({"flag": "yes"}, "typed: at $.flag: 'yes' is not of type 'boolean'"),
    ({"items": "[1, 'x']"}, "typed: at $.items[1]: 'x' is not of type 'integer'"),
    ({"options": "[1]"}, "typed: at $.options: '[1]' is not of type 'object'"),
    ({"mode": "medium"}, "typed: at $.mode: 'medium' is not one of ['fast', 'slow']"),
])
def test_xml_values_that_do_not_fit_are_reported(arguments, problem):
    assert check_call(xml_call("typed", arguments), TOOLS) == (None, problem)


def test_parsed_xml_call_checks_end_to_end():
    answer = ("<tool_call>\n<function=read_file>\n<parameter=path>\nsrc/app.py\n</parameter>\n"
              "<parameter=limit>\n20\n</parameter>\n</function>\n</tool_call>")
    parser = CallParser()
    (call,) = parser.feed(answer) + parser.close()
    assert check_call(call, TOOLS) == ({"path": "src/app.py", "limit": 20}, None)


def test_unknown_tool_lists_the_offered_names():
    assert check_call(json_call("grep", {}), TOOLS) == (
        None, "unknown tool 'grep'; offered tools: read_file, typed")


def test_unknown_tool_list_is_capped():
    many = {f"tool_{n:02}": Tool(f"tool_{n:02}") for n in range(25)}
    arguments, problem = check_call(json_call("nope", {}), many)
    assert arguments is None
    assert problem == ("unknown tool 'nope'; offered tools: "
                       + ", ".join(f"tool_{n:02}" for n in range(10)) + " and 15 more")


@pytest.mark.parametrize("tools, problem", [
    (TOOLS, "a tool call needs a function name; offered tools: read_file, typed"),
    ({}, "a tool call needs a function name; no tools are offered"),
])
def test_call_without_name(tools, problem):
    assert check_call(json_call(None, {}), tools) == (None, problem)


@pytest.mark.parametrize("parameters, problem_start", [
    ({"type": "objekt"}, "t: the schema is invalid: 'objekt' is not valid under any of the given schemas"),
    ({"type": "object", "required": "path"}, "t: the schema is invalid: 'path' is not of type 'array'"),
    ({"$schema": ["not", "hashable"]}, "t: the schema is invalid:"),
    ("not a schema", "t: the schema must be a JSON object, not a string"),
    ({"$ref": "#"}, "t: the schema refers to itself without end"),
    ({"$ref": "#/$defs/missing"}, "t: the schema has a $ref that cannot be resolved here"),
])
def test_bad_schemas_give_problems_not_exceptions(parameters, problem_start):
    arguments, problem = check_call(json_call("t", {"x": 1}), {"t": Tool("t", "", parameters)})
    assert arguments is None
    assert problem.startswith(problem_start)


@pytest.mark.parametrize("ref", [
    "https://example.com/schemas/path.json",
    "http://127.0.0.1:9/x.json",
    "file:///etc/passwd",
])
def test_remote_refs_are_never_fetched(monkeypatch, ref):
    opened = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *args, **kwargs: opened.append(args))
    schema = {"type": "object", "properties": {"path": {"$ref": ref}}}
    arguments, problem = check_call(json_call("t", {"path": "x"}), {"t": Tool("t", "", schema)})
    assert arguments is None
    assert problem.startswith("t: the schema has a $ref that cannot be resolved here")
    assert opened == []


def test_local_refs_resolve():
    schema = {"type": "object", "$defs": {"P": {"type": "string"}},
              "properties": {"path": {"$ref": "#/$defs/P"}}}
    tools = {"t": Tool("t", "", schema)}
    assert check_call(json_call("t", {"path": "x"}), tools) == ({"path": "x"}, None)
    assert check_call(json_call("t", {"path": None}), tools) == (None, "t: at $.path: None is not of type 'string'")
    assert check_call(json_call("t", {"path": 1}), tools) == ({"path": "1"}, None)   # coerced through the $ref


def test_older_drafts_are_honoured():
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
              "properties": {"n": {"type": "number", "maximum": 5, "exclusiveMaximum": True}}}
    tools = {"t": Tool("t", "", schema)}
    assert check_call(json_call("t", {"n": 5}), tools)[1] == "t: at $.n: 5 is greater than or equal to the maximum of 5"


def nested_list(levels):
    value = []
    for _ in range(levels - 1):
        value = [value]
    return value


def nested_schema(levels):
    schema = {"type": "object"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


@pytest.mark.parametrize("levels", [65, 5000, 100_000])
def test_deep_arguments_give_a_problem(levels):
    arguments, problem = check_call(json_call("typed", {"items": nested_list(levels)}), TOOLS)
    assert arguments is None
    assert problem == "typed: the value nests deeper than 64 levels"


def test_deep_arguments_text_gives_a_problem():
    text = '{"items": ' + "[" * 100_000 + "]" * 100_000 + "}"
    arguments, problem = check_call(json_call("typed", text), TOOLS)
    assert arguments is None
    assert problem.startswith("typed: arguments must be a JSON object")


@pytest.mark.parametrize("levels", [100, 20_000])
def test_deep_schema_gives_a_problem(levels):
    tools = {"t": Tool("t", "", nested_schema(levels))}
    arguments, problem = check_call(json_call("t", {}), tools)
    assert arguments is None
    assert problem == "t: the schema nests deeper than 128 levels"


def test_deep_but_allowed_values_validate():
    assert check_call(json_call("typed", {"items": nested_list(60)}), TOOLS)[1].startswith(
        "typed: at $.items[0]: [[[")


def test_validators_compile_once_per_schema(monkeypatch):
    compiled = []
    real = check._compile
    monkeypatch.setattr(check, "_compile", lambda schema: compiled.append(schema) or real(schema))
    for _ in range(3):
        fresh = {"read_file": Tool("read_file", "", dict(READ.parameters))}
        assert check_call(json_call("read_file", {"path": "a"}), fresh) == ({"path": "a"}, None)
    assert len(compiled) == 1


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(check, "CACHE_SIZE", 5)
    for n in range(12):
        schema = {"type": "object", "properties": {"p": {"type": "string"}}, "title": str(n)}
        assert check.validate({"p": "x"}, schema) is None
    assert check.cache_size() == 5


def test_offering_and_parsing_compiles_nothing():
    tools = [Tool(f"tool_{n}", "", {"type": "object", "properties": {"x": {"type": "string"}}})
             for n in range(20)]
    assert tools_section(tools, ToolChoice.auto(), True).count('"type": "function"') == 20
    parser = CallParser()
    for chunk in ["Plain ", "answer, ", "no calls."]:
        parser.feed(chunk)
    parser.close()
    assert check.cache_size() == 0


@pytest.mark.parametrize("text, schema, expected", [
    ('{"a": 1}', None, {"a": 1}),
    ('  \n{"a": 1}\n ', None, {"a": 1}),
    ('```json\n{"a": 1}\n```', None, {"a": 1}),
    ('```\n{"a": [1, 2]}\n```', None, {"a": [1, 2]}),
    ("{'a': 'it\\'s', 'b': None,}", None, {"a": "it's", "b": None}),
    ('{"名": "值"}', None, {"名": "值"}),
    ('{"age": 3}', {"type": "object", "properties": {"age": {"type": "integer"}}}, {"age": 3}),
    ("[1, 2]", {"type": "array", "items": {"type": "integer"}}, [1, 2]),
    ('"text"', {"type": "string"}, "text"),
    ("Here it is: {\"a\": 1}", None, {"a": 1}),   # prose around the one object (issue 16)
    ('```json\n{"a": 1}\n```\nHope this helps!', None, {"a": 1}),
])
def test_check_json_accepts(text, schema, expected):
    assert check_json(text, schema) == (expected, None)


@pytest.mark.parametrize("text, schema, problem_start", [
    ('{"a": 1', None, "the answer is not valid JSON"),
    ('{"a": NaN}', None, "the answer is not valid JSON: NaN is not valid JSON"),
    ("", None, "the answer is not valid JSON"),
    ("[1, 2]", None, "the answer must be a JSON object, not an array"),
    ("[1, 2]", {"properties": {}}, "the answer must be a JSON object, not an array"),
    ('{"age": "x"}', {"type": "object", "properties": {"age": {"type": "integer"}}},
     "at $.age: 'x' is not of type 'integer'"),
    ("{}", {"type": "object", "required": ["age"]}, "'age' is a required property"),
    ('{"a": ' + "[" * 70 + "]" * 70 + "}", None, "the value nests deeper than 64 levels"),
    ("[" * 100_000 + "]" * 100_000, {"type": "array"}, "the answer is not valid JSON: the JSON is nested too deeply"),
])
def test_check_json_rejects(text, schema, problem_start):
    value, problem = check_json(text, schema)
    assert value is None
    assert problem.startswith(problem_start)
