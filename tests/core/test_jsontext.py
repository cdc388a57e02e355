"""jsontext: the one-encoder JSON text writes exactly what json.dumps writes, and fails as it does."""

import json
import math

import pytest

from lingma_flask import jsontext

VALUES = [
    {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "héllo\n\u2028\x01\"\\"}}]},
    {"nested": {"list": [1, -2, 3.25, 1e-07, 1e16, -0.0, None, True, False, [], {}]}},
    {"big": 10 ** 30, "inf": math.inf, "nan_free": 1.5},
    "a bare string, non-ASCII: 中文",
    42,
    [],
    {},
    {1: "int key", None: "none key", 2.5: "float key", False: "bool key"},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_compact_is_json_dumps_with_the_wire_options(value):
    assert jsontext.compact(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_the_encoder_keeps_no_state_between_calls():
    first = jsontext.compact({"a": [1, 2]})
    jsontext.compact({"b": {"c": [3]}})
    assert jsontext.compact({"a": [1, 2]}) == first == '{"a":[1,2]}'


def test_a_value_json_cannot_write_is_a_type_error():
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        jsontext.compact({"ok": 1, "bad": object()})


def test_string_is_a_json_string_literal_that_keeps_non_ascii():
    text = "line\nquote\" é \x01"
    assert jsontext.string(text) == json.dumps(text, ensure_ascii=False)
    assert json.loads(jsontext.string(text)) == text


PARSE_TEXTS = [
    '{"jsonrpc":"2.0","id":7,"method":"chat/answer","params":{"text":"héllo\\n\\u2028"}}',
    '[1,-2,3.25,1e-07,1e400,-0.0,null,true,false,[],{}]',
    '"a bare string"', "42", "NaN", "-Infinity",
    '{"a":1,"a":2}',                      # the last of duplicate keys, as json.loads keeps
    ' {"leading": "space"}', '{"trailing": "space"}\r\n',
]
BAD_TEXTS = ["", " ", "{", '{"a":1}x', '{"a":1} {"b":2}', "\ufeff{}", '{"a":"\x01"}', "[1,]", "tru"]


@pytest.mark.parametrize("text", PARSE_TEXTS, ids=range(len(PARSE_TEXTS)))
def test_parse_reads_what_json_loads_reads(text):
    parsed, loaded = jsontext.parse(text), json.loads(text)
    assert json.dumps(parsed) == json.dumps(loaded) and type(parsed) is type(loaded)


@pytest.mark.parametrize("text", BAD_TEXTS, ids=range(len(BAD_TEXTS)))
def test_parse_refuses_what_json_loads_refuses_with_its_error(text):
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        jsontext.parse(text)
    assert str(got.value) == str(expected.value)
