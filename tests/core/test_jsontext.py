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
