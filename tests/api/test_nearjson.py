"""Near-contract JSON (issue 16, item 4): the value found in prose, scalars coerced, untagged calls.

Then adversarial inputs at sizes where anything worse than linear would take minutes, each
with the CPU budget of test_linear_parsers.py.
"""

from __future__ import annotations

import pytest

from lingma_flask.pipeline.tools.check import check_json
from lingma_flask.pipeline.tools.nearjson import coerce
from lingma_flask.pipeline.tools.nearjson import extract
from lingma_flask.pipeline.tools.nearjson import fence_body
from lingma_flask.pipeline.tools.spec import Tool
from lingma_flask.pipeline.tools.untagged import untagged_call

from .test_linear_parsers import within_budget

ADA = {"name": "Ada", "age": 36}


@pytest.mark.parametrize("text", [
    '{"name": "Ada", "age": 36}',
    '```json\n{"name": "Ada", "age": 36}\n```',
    'Sure! Here it is:\n```json\n{"name": "Ada", "age": 36}\n```',
    'Sure! Here it is:\n```json{"name": "Ada", "age": 36}```',
    'Sure:\n```\n{"name": "Ada", "age": 36}\n```\nAnything else?',
    'Here is the JSON: {"name": "Ada", "age": 36}',
    '{"name": "Ada", "age": 36} -- and {that} was it',
    "Here: {'name': 'Ada', 'age': 36,} as asked",
    'I think {"name": "Ada", "age": 36}.',
])
def test_the_one_object_is_found(text):
    assert extract(text) == ADA


def test_an_array_is_found_when_one_is_wanted():
    assert extract("The list: [1, 2, 3] as asked", "[") == [1, 2, 3]
    assert extract("The list: ```json\n[1, 2]\n``` there") == [1, 2]


@pytest.mark.parametrize("text", ["no json here", "a { that never closes", "{not json}",
                                  "```json\nnot json\n```", ""])
def test_text_without_json_is_an_error(text):
    with pytest.raises(ValueError):
        extract(text)


def test_the_first_fence_is_read():
    assert fence_body("a ```json\n{}\n``` b ```[1]```") == "{}"
    assert fence_body("an ```unclosed fence") is None
    assert fence_body("no fence") is None


SCHEMA = {
    "type": "object",
    "$defs": {"count": {"type": "integer"}},
    "properties": {
        "age": {"type": "integer"}, "ratio": {"type": "number"}, "ok": {"type": "boolean"},
        "none": {"type": "null"}, "label": {"type": "string"},
        "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "ref": {"$ref": "#/$defs/count"}, "list": {"type": "array", "items": {"type": "integer"}},
        "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}]},
        "nested": {"type": "object", "properties": {"n": {"type": "integer"}}},
        "maybe": {"type": ["integer", "null"]},
    },
    "additionalProperties": {"type": "number"},
}


@pytest.mark.parametrize("given, expected", [
    ({"age": "36"}, {"age": 36}),
    ({"age": " -7 "}, {"age": -7}),
    ({"age": "3.0"}, {"age": 3}),
    ({"age": "3.5"}, {"age": "3.5"}),       # not an integer: left for validation to refuse
    ({"age": "thirty"}, {"age": "thirty"}),
    ({"age": "1e400"}, {"age": "1e400"}),
    ({"age": True}, {"age": True}),         # booleans never become numbers
    ({"ratio": "3.5"}, {"ratio": 3.5}),
    ({"ratio": "NaN"}, {"ratio": "NaN"}),
    ({"ok": "true"}, {"ok": True}),
    ({"ok": "false"}, {"ok": False}),
    ({"ok": "yes"}, {"ok": "yes"}),
    ({"ok": 1}, {"ok": 1}),
    ({"none": "null"}, {"none": None}),
    ({"label": 5}, {"label": "5"}),
    ({"label": 3.5}, {"label": "3.5"}),
    ({"label": True}, {"label": "true"}),
    ({"label": None}, {"label": None}),
    ({"either": "36"}, {"either": "36"}),   # a string is allowed there: nothing to coerce
    ({"ref": "4"}, {"ref": 4}),
    ({"list": ["1", "2", "x"]}, {"list": [1, 2, "x"]}),
    ({"pair": [1, "2.5"]}, {"pair": ["1", 2.5]}),
    ({"nested": {"n": "9"}}, {"nested": {"n": 9}}),
    ({"maybe": "null"}, {"maybe": None}),
    ({"maybe": "12"}, {"maybe": 12}),
    ({"extra": "2"}, {"extra": 2}),         # additionalProperties
])
def test_scalars_are_coerced_toward_the_schema(given, expected):
    assert coerce(given, SCHEMA) == expected


def test_coercion_leaves_what_has_no_schema():
    assert coerce({"a": "1"}, {"type": "object"}) == {"a": "1"}
    assert coerce({"a": "1"}, True) == {"a": "1"}
    assert coerce("7", {"type": "integer"}) == 7


def test_check_json_takes_a_coerced_value_only_when_it_validates():
    schema = {"type": "object", "properties": {"age": {"type": "integer", "minimum": 40}}}
    assert check_json('{"age": "41"}', schema) == ({"age": 41}, None)
    value, problem = check_json('{"age": "36"}', schema)
    assert value is None and "'36' is not of type 'integer'" in problem   # the original's problem


WEATHER = Tool("get_weather", "", {"type": "object", "properties": {"city": {"type": "string"}},
                                   "required": ["city"], "additionalProperties": False})
TIME = Tool("get_time", "", {"type": "object", "properties": {"zone": {"type": "string"}}})
OFFERED = {"get_weather": WEATHER, "get_time": TIME}


@pytest.mark.parametrize("text, forced, expected", [
    ('{"name": "get_time", "arguments": {"zone": "CET"}}', None, ("get_time", {"zone": "CET"})),
    ('```json\n{"name": "get_time", "parameters": {"zone": "CET"}}\n```', None, ("get_time", {"zone": "CET"})),
    ('{"type": "function", "function": {"name": "get_time", "arguments": "{}"}}', None, ("get_time", {})),
    ('{"name": "nope", "arguments": {}}', None, ("nope", {})),           # checked, and refused, later
    ('{"city": "Paris"}', WEATHER, ("get_weather", {"city": "Paris"})),
    ('Here: {"city": "Paris"}', WEATHER, ("get_weather", {"city": "Paris"})),
    ('{"name": "get_time", "arguments": {"zone": "CET"}}', TIME, ("get_time", {"zone": "CET"})),
])
def test_untagged_calls(text, forced, expected):
    call = untagged_call(text, OFFERED, forced)
    assert (call.name, call.arguments) == expected


@pytest.mark.parametrize("text, forced", [
    ('{"city": "Paris"}', None),               # arguments, but for which tool?
    ('{"town": "Paris"}', WEATHER),            # not valid for the forced tool
    ('{"name": "get_time", "zone": "CET"}', None),   # not the call shape
    ("no json", WEATHER),
    ("[1, 2]", WEATHER),
])
def test_not_untagged_calls(text, forced):
    assert untagged_call(text, OFFERED, forced) is None


# -- linear time ----------------------------------------------------------------------------

def extract_or_error(text, opener="{"):
    try:
        extract(text, opener)
    except ValueError:
        pass


@pytest.mark.parametrize("text", [
    "{" * 200_000,
    "[" * 200_000,
    "```" * 100_000,
    "```json" * 100_000 + "{",
    "Here " + '{"a": ' * 50_000,
    "{" + " " * 500_000 + "x",
    "prose " * 100_000 + "{" + "'a', " * 50_000 + "}",
    "{" + "}" * 200_000,
    '{"a": "' + "\\\"" * 200_000,
])
def test_extraction_is_linear(text):
    within_budget(extract_or_error, text)
    within_budget(extract_or_error, text, "[")
    within_budget(lambda: untagged_call(text, OFFERED, WEATHER))


def test_coercion_is_linear():
    schema = {"type": "array", "$defs": {"n": {"anyOf": [{"$ref": "#/$defs/m"}]},
                                        "m": {"type": "integer"}},
              "items": {"$ref": "#/$defs/n"}}
    value = [str(i) for i in range(200_000)]
    within_budget(coerce, value, schema)
    assert coerce(value[:3], schema) == [0, 1, 2]
