"""Lenient JSON: the slips models make are forgiven, nothing else is."""

import pytest

from lingma_flask.pipeline.tools.lenient import depth
from lingma_flask.pipeline.tools.lenient import loads
from lingma_flask.pipeline.tools.lenient import loads_run
from lingma_flask.pipeline.tools.lenient import strip_fence


@pytest.mark.parametrize("text, value", [
    ('{"a": 1}', {"a": 1}),
    ("{'a': 1}", {"a": 1}),
    ("{'a': 'say \"hi\"'}", {"a": 'say "hi"'}),
    ("{'a': 'it\\'s'}", {"a": "it's"}),
    ("{'a': 'back\\\\slash'}", {"a": "back\\slash"}),
    ('{"a": "it\'s", \'b\': 2}', {"a": "it's", "b": 2}),
    ('{"a": [1, 2,], }', {"a": [1, 2]}),
    ('{"a": [1, 2,\n]\n,\n}', {"a": [1, 2]}),
    ('{"a": True, "b": False, "c": None}', {"a": True, "b": False, "c": None}),
    ('{"a": "True, None,]"}', {"a": "True, None,]"}),
    ('{"a": "line\nbreak\ttab"}', {"a": "line\nbreak\ttab"}),
    ('{"名": "值"}', {"名": "值"}),
    ("[1, 'two', None,]", [1, "two", None]),
])
def test_loads_forgives(text, value):
    assert loads(text) == value


@pytest.mark.parametrize("text", [
    "", "not json", "{'a': 1", '{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}',
    "{a: 1}", '{"a": TrueValue}', "[" * 50_000 + "]" * 50_000,
])
def test_loads_refuses(text):
    with pytest.raises(ValueError):
        loads(text)


def test_loads_reports_what_is_wrong_beyond_the_slips():
    with pytest.raises(ValueError, match="Expecting ',' delimiter"):
        loads("{'a': 1 'b': 2}")


@pytest.mark.parametrize("text, inside", [
    ('```json\n{"a": 1}\n```', '{"a": 1}'),
    ('  ```\n{"a": 1}\n```  \n', '{"a": 1}'),
    ('```JSON {"a": 1}```', '{"a": 1}'),
    ('{"a": "```"}', '{"a": "```"}'),
    ('text ```json\n{}\n```', 'text ```json\n{}\n```'),
])
def test_strip_fence(text, inside):
    assert strip_fence(text) == inside


@pytest.mark.parametrize("text, values", [
    ('{"a": 1}\n{"b": 2}', [{"a": 1}, {"b": 2}]),
    ('{"a": 1}, {"b": 2}', [{"a": 1}, {"b": 2}]),
    ('{"a": 1}', None),
    ('{"a": 1} junk', None),
    ('{"a": 1}\n{"b": NaN}', None),
])
def test_loads_run(text, values):
    assert loads_run(text) == values


@pytest.mark.parametrize("value, levels", [
    (1, 0), ({}, 1), ([[], {"a": [1]}], 3), ({"a": {"b": {"c": {}}}}, 4),
])
def test_depth(value, levels):
    assert depth(value, 10) == levels


def test_depth_stops_counting_past_the_limit():
    value = []
    for _ in range(100_000):
        value = [value]
    assert depth(value, 10) == 11
