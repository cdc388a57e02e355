"""Client JSON Schemas cannot stall the worker: patterns, expansion, budgets, uniqueItems, cache.

Each case uses the size that froze or killed the worker before the limits (issue 13, items 2
and 3); work is bounded by counting calls and steps, never by the clock.
"""

import json

import jsonschema._keywords
import jsonschema._utils
import pytest

from lingma_flask.pipeline.tools import budget as budget_module
from lingma_flask.pipeline.tools import canonical
from lingma_flask.pipeline.tools import check
from lingma_flask.pipeline.tools import coerce
from lingma_flask.pipeline.tools import complexity
from lingma_flask.pipeline.tools.budget import Budget
from lingma_flask.pipeline.tools.check import check_call
from lingma_flask.pipeline.tools.check import check_json
from lingma_flask.pipeline.tools.parser import Call
from lingma_flask.pipeline.tools.spec import Tool

ASK = [{"role": "user", "content": "go"}]


@pytest.fixture(autouse=True)
def empty_cache():
    check.clear_cache()
    yield
    check.clear_cache()


@pytest.fixture
def no_stdlib_regex(monkeypatch):
    """Fail the test if jsonschema's own (backtracking, unbounded) `re.search` runs."""
    def refuse(*args, **kwargs):
        raise AssertionError("jsonschema matched a pattern with re")
    monkeypatch.setattr(jsonschema._keywords.re, "search", refuse)


def chain(k: int, key: str = "allOf") -> dict:
    """The 1.4 KB schema of 2^k: each $def refers to the next one twice."""
    defs = {f"d{i}": {key: [{"$ref": f"#/$defs/d{i + 1}"}] * 2} for i in range(k)}
    defs[f"d{k}"] = {"type": "string"}
    return {"type": "object", "properties": {"x": {"$ref": "#/$defs/d0"}}, "$defs": defs}


def json_call(name, arguments):
    return Call("<tool_call>...</tool_call>", name, arguments)


# -- patterns ----------------------------------------------------------------------------

EVIL = "^(a|a)*$"   # exponential under backtracking (re: 2^31 steps for the text below)


@pytest.mark.parametrize("schema, value", [
    ({"type": "object", "properties": {"s": {"pattern": EVIL}}}, {"s": "a" * 30 + "!"}),
    ({"type": "object", "properties": {"s": {"pattern": EVIL}}}, {"s": "a" * 40 + "!"}),
    ({"type": "object", "patternProperties": {EVIL: {"type": "string"}}}, {"a" * 30 + "!": 1}),
    ({"type": "object", "patternProperties": {EVIL: {}}, "additionalProperties": False},
     {"a" * 30 + "!": 1}),
    ({"type": "object", "propertyNames": {"pattern": EVIL}}, {"a" * 30 + "!": 1}),
    # a subschema naming another draft stays on the bounded validators
    ({"type": "object", "properties": {"s": {"$schema": "http://json-schema.org/draft-07/schema#",
                                             "pattern": EVIL}}}, {"s": "a" * 30 + "!"}),
])
def test_evil_patterns_stop_at_their_timeout(no_stdlib_regex, schema, value):
    problem = check.validate(value, schema)
    assert "the pattern '^(a|a)*$' took too long to match" in problem


def test_nested_quantifier_pattern_is_answered(no_stdlib_regex):
    schema = {"type": "object", "properties": {"s": {"pattern": "^(a+)+$"}}}
    assert check.validate({"s": "a" * 30 + "!"}, schema).endswith("does not match '^(a+)+$'")
    assert check.validate({"s": "a" * 30}, schema) is None


@pytest.mark.parametrize("schema, value, problem", [
    ({"type": "object", "properties": {"s": {"pattern": "^[a-z]+$"}}}, {"s": "abc"}, None),
    ({"type": "object", "properties": {"s": {"pattern": "^[a-z]+$"}}}, {"s": "aB"},
     "at $.s: 'aB' does not match '^[a-z]+$'"),
    ({"type": "object", "properties": {"s": {"pattern": "^(?!\\s*$).+"}}}, {"s": "\t"},
     "at $.s: '\\t' does not match '^(?!\\\\s*$).+'"),
    ({"patternProperties": {"^x_": {"type": "integer"}}, "additionalProperties": False},
     {"x_a": 1, "y": 2}, "'y' does not match any of the regexes: '^x_'"),
    ({"patternProperties": {"^x_": {"type": "integer"}}}, {"x_a": "no"},
     "at $.x_a: 'no' is not of type 'integer'"),
    ({"patternProperties": {"^x_": {}}, "additionalProperties": {"type": "string"}},
     {"x_a": 1, "y": 2}, "at $.y: 2 is not of type 'string'"),
])
def test_patterns_keep_their_meaning(no_stdlib_regex, schema, value, problem):
    assert check.validate(value, schema) == problem


# -- the complexity budget, measured at compile time ---------------------------------------

@pytest.mark.parametrize("k", [17, 22, 30])
@pytest.mark.parametrize("key", ["allOf", "anyOf", "oneOf"])
def test_exponential_ref_chains_are_refused_after_a_linear_walk(monkeypatch, k, key):
    steps = []
    real = complexity.Index.children
    monkeypatch.setattr(complexity.Index, "children",
                        lambda self, node: steps.append(1) or real(self, node))
    entry = check.compiled(chain(k, key))
    assert entry.refused
    assert "expands to more than 200,000 subschemas" in entry.problem
    assert len(steps) < 10 * k + 20   # each part measured once


def test_limits_on_properties_enums_and_bytes():
    many = {"type": "object", "properties": {f"p{n}": {} for n in range(20_001)}}
    assert "declares 20,001 properties" in check.compiled(many).problem
    enum = {"enum": list(range(20_001))}
    assert "20,001 values" in check.compiled(enum).problem
    long = {"description": "x" * 2_000_000}
    assert "bytes of JSON (at most 2,000,000)" in check.compiled(long).problem
    assert all(check.compiled(s).refused for s in (many, enum, long))


def test_recursive_schemas_are_not_refused():
    tree = {"$defs": {"node": {"type": "object", "properties": {
        "name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
        "$ref": "#/$defs/node"}
    assert not check.compiled(tree).refused
    assert check.validate({"name": "a", "children": [{"name": "b", "children": []}]}, tree) is None
    assert check.validate({"children": [{"name": 1}]}, tree) == "at $.children[0].name: 1 is not of type 'string'"


def test_anchors_and_ids_are_followed_when_measuring():
    defs = {f"d{i}": {"$anchor": f"a{i}", "allOf": [{"$ref": f"#a{i + 1}"}] * 2} for i in range(30)}
    defs["d30"] = {"$anchor": "a30", "type": "string"}
    assert check.compiled({"$defs": defs, "$ref": "#a0"}).refused
    ids = {f"d{i}": {"$id": f"urn:d{i}", "anyOf": [{"$ref": f"urn:d{i + 1}"}] * 2} for i in range(30)}
    ids["d30"] = {"$id": "urn:d30", "type": "string"}
    assert check.compiled({"$defs": ids, "$ref": "urn:d0"}).refused


def test_unevaluated_properties_with_pattern_properties_are_refused():
    schema = {"patternProperties": {"^x": {}}, "unevaluatedProperties": False}
    assert "patternProperties cannot be combined" in check.compiled(schema).problem


@pytest.mark.parametrize("url, body, param", [
    ("/v1/chat/completions", {"messages": ASK, "tools": [
        {"type": "function", "function": {"name": f"t{n}", "parameters": {"type": "object"}}}
        for n in range(3)] + [{"type": "function", "function": {"name": "bad", "parameters": chain(22)}}]},
     "tools[3].function.parameters"),
    ("/v1/chat/completions", {"messages": ASK, "functions": [{"name": "bad", "parameters": chain(30)}]},
     "functions[0].parameters"),
    ("/v1/chat/completions", {"messages": ASK, "stream": True, "response_format": {
        "type": "json_schema", "json_schema": {"name": "r", "schema": chain(30)}}},
     "response_format.json_schema.schema"),
    ("/v1/responses", {"input": "go", "tools": [
        {"type": "web_search"}, {"type": "function", "name": "bad", "parameters": chain(22)}]},
     "tools[1].parameters"),
    ("/v1/responses", {"input": "go", "text": {"format": {
        "type": "json_schema", "name": "r", "schema": chain(22)}}},
     "text.format.schema"),
])
def test_openai_faces_answer_a_400_naming_the_schema(client, pool, url, body, param):
    response = client.post(url, json={"model": "qwen3-coder", **body})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["param"] == param
    assert error["code"] == "invalid_value"
    assert error["type"] == "invalid_request_error"
    assert "too costly to check" in error["message"] and param in error["message"]
    assert pool.asks == []   # refused before Lingma was asked


@pytest.mark.parametrize("body, param", [
    ({"tools": [{"name": "ok", "input_schema": {"type": "object"}},
                {"name": "bad", "input_schema": chain(22)}]}, "tools[1].input_schema"),
    ({"output_config": {"format": {"type": "json_schema", "schema": chain(30)}}},
     "output_config.format.schema"),
])
def test_messages_answer_a_400_naming_the_schema(client, pool, body, param):
    response = client.post("/v1/messages", json={"model": "qwen3-coder", "max_tokens": 50,
                                                 "messages": ASK, **body})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"Invalid value for '{param}': the schema is too costly")
    assert pool.asks == []


# -- the budget of a check -----------------------------------------------------------------

# admitted (it refers to itself), yet each level of the answer doubles the work: 2^40 below
DOUBLING = {"$defs": {"a": {"type": "array", "items": {"allOf": [{"$ref": "#/$defs/a"}] * 2}}},
            "$ref": "#/$defs/a"}


def nested_list(levels):
    value = []
    for _ in range(levels):
        value = [value]
    return value


def test_a_check_stops_when_its_budget_is_spent():
    assert not check.compiled(DOUBLING).refused
    budget = Budget(20_000, 60.0, "the schema took too long to check against the answer")
    problem = check.validate(nested_list(40), DOUBLING, budget)
    assert problem == ("the schema took too long to check against the answer"
                       " (over 20,000 steps or 60 s of CPU)")
    assert budget.steps_left < 0


def test_the_request_budget_is_shared_by_its_checks():
    budget = Budget(20_000, 60.0, "spent")
    schema = {"type": "object", "properties": {"v": {"$ref": "#/$defs/a"}}, "$defs": DOUBLING["$defs"]}
    tools = {"t": Tool("t", "", schema)}
    first = check_call(json_call("t", {"v": nested_list(40)}), tools, budget)
    assert first == (None, "t: spent (over 20,000 steps or 60 s of CPU)")
    # nothing is left for the repair turn's answer, however small
    assert check_json('{"v": []}', {"type": "object"}, budget) == (None, "spent (over 20,000 steps or 60 s of CPU)")


def test_the_default_budget_bounds_a_check(monkeypatch):
    monkeypatch.setattr(budget_module, "CHECK_STEPS", 5_000)
    problem = check.validate(nested_list(40), DOUBLING)
    assert problem.startswith("the schema took too long to check against the answer (over 5,000 steps")


def test_a_long_check_yields_to_other_greenlets(monkeypatch):
    sleeps = []
    monkeypatch.setattr(budget_module, "SLICE", 0.0)
    monkeypatch.setattr(budget_module, "pause", lambda: sleeps.append(1))
    check.validate(nested_list(12), DOUBLING, Budget(10**6, 60.0))
    assert len(sleeps) > 10


# -- XML typing ------------------------------------------------------------------------------

def test_xml_typing_visits_each_branch_once(monkeypatch):
    """anyOf fan-out: 10 $defs, each offering the next ten times (10^10 paths)."""
    defs = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}] * 10 + [{"type": "null"}]}
            for i in range(10)}
    defs["d10"] = {"anyOf": [{"type": "integer"}, {"type": "boolean"}]}
    schema = {"type": "object", "properties": {"n": {"$ref": "#/$defs/d0"}}, "$defs": defs}
    visits = []
    real = coerce._own_types
    monkeypatch.setattr(coerce, "_own_types", lambda node: visits.append(1) or real(node))
    assert coerce.schema_types(schema["properties"]["n"], schema) == {"null"}  # d10 is 11 hops deep
    assert coerce.type_arguments({"n": "7"}, schema) == {"n": "7"}
    assert len(visits) < 60


def test_xml_typing_still_follows_refs_and_branches():
    schema = {"$defs": {"N": {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/B"}]},
                        "B": {"oneOf": [{"type": "boolean"}, {"enum": [None]}]}},
              "properties": {"v": {"$ref": "#/$defs/N"}}}
    assert coerce.schema_types(schema["properties"]["v"], schema) == {"integer", "boolean", "null"}
    assert coerce.type_arguments({"v": "\n12\n"}, schema) == {"v": 12}


def test_an_xml_call_against_a_fan_out_schema_is_not_typed(monkeypatch):
    visits = []
    monkeypatch.setattr(coerce, "schema_types", lambda *a: visits.append(1) or set())
    call = Call("<tool_call>...</tool_call>", "t", {"x": "1"}, style="xml")
    arguments, problem = check_call(call, {"t": Tool("t", "", chain(30, "anyOf"))})
    assert arguments is None and "too costly to check" in problem
    assert visits == []


# -- uniqueItems ---------------------------------------------------------------------------

def test_unique_items_over_3000_objects_is_linear(monkeypatch):
    monkeypatch.setattr(jsonschema._utils, "equal", lambda *a: pytest.fail("pairwise comparison"))
    keys = []
    real = canonical.key
    monkeypatch.setattr(canonical, "key", lambda value: keys.append(1) or real(value))
    items = [{"id": n, "name": f"item {n}", "tags": [n, "x"]} for n in range(3_000)]
    schema = {"type": "array", "uniqueItems": True}
    assert check.validate(items, schema) is None
    assert len(keys) <= 3_000 * 6
    duplicate = {"tags": [2_999, "x"], "name": "item 2999", "id": 2_999.0}
    assert check.validate(items + [duplicate], schema) == (
        "has non-unique elements: items 2999 and 3000 are equal")


@pytest.mark.parametrize("items, unique", [
    ([1, 1.0], False),
    ([True, 1], True),
    ([False, 0], True),
    ([None, False], True),
    ([{"a": 1, "b": 2}, {"b": 2, "a": 1}], False),
    ([[1, 2], [2, 1]], True),
    ([[1, [True]], [1.0, [True]]], False),
    ([[1, [True]], [1, [1]]], True),
    (["1", 1], True),
    ([{"a": [1]}, {"a": [1, 1]}], True),
])
def test_unique_items_keeps_json_equality(items, unique):
    assert (canonical.duplicate(items) is None) is unique
    assert (check.validate(items, {"uniqueItems": True}) is None) is unique


# -- unevaluated properties and items ------------------------------------------------------

def test_unevaluated_keywords_look_names_up_in_sets():
    schema = {"allOf": [{"properties": {"a": {}}}], "unevaluatedProperties": False}
    wide = {f"k{n}": n for n in range(20_000)}
    assert check.validate({"a": 1}, schema) is None
    problem = check.validate({"a": 1, **wide}, schema)
    assert problem.startswith("Unevaluated properties are not allowed ('k0', 'k1', ")
    items = {"prefixItems": [{"type": "integer"}], "unevaluatedItems": False}
    assert check.validate([1], items) is None
    assert check.validate(list(range(20_000)), items).startswith(
        "Unevaluated items are not allowed (1, 2, 3")


# -- compiled once per request; the cache bounded by bytes ---------------------------------

def big_schema(tag: str = "") -> dict:
    """About 0.9 MB of JSON: 3,000 documented properties."""
    properties = {f"p{n}": {"type": "string", "description": tag + "d" * 280} for n in range(3_000)}
    properties["city"] = {"type": "string"}
    return {"type": "object", "properties": properties, "required": ["city"]}


@pytest.fixture
def big_dumps(monkeypatch):
    """Count the canonical serialisations of a large schema (what the cache key costs)."""
    counted = []
    real = json.dumps

    def dumps(value, *args, **kwargs):
        text = real(value, *args, **kwargs)
        if kwargs.get("sort_keys") and len(text) > 800_000:
            counted.append(len(text))
        return text
    monkeypatch.setattr(json, "dumps", dumps)
    return counted


def test_500_calls_against_a_large_schema_compute_its_key_once(client, pool, big_dumps):
    schema = big_schema()
    assert 850_000 < len(json.dumps(schema)) < 1_000_000
    call = '<tool_call>\n{"name": "where", "arguments": {"city": "Paris"}}\n</tool_call>\n'
    pool.script(call * 500)
    response = client.post("/v1/chat/completions", json={
        "model": "qwen3-coder", "messages": ASK,
        "tools": [{"type": "function", "function": {"name": "where", "parameters": schema}}]})
    assert response.status_code == 200
    assert len(response.get_json()["choices"][0]["message"]["tool_calls"]) == 500
    assert len(big_dumps) == 1


def test_a_response_format_schema_is_compiled_once_with_its_repair_turn(client, pool, big_dumps):
    pool.script('{"city": [1]}')   # not {"city": 1}: that is coerced to "1", valid at once
    pool.script('{"city": "Paris"}')
    response = client.post("/v1/chat/completions", json={
        "model": "qwen3-coder", "messages": ASK, "response_format": {
            "type": "json_schema", "json_schema": {"name": "r", "schema": big_schema()}}})
    assert response.status_code == 200
    assert json.loads(response.get_json()["choices"][0]["message"]["content"]) == {"city": "Paris"}
    assert len(pool.asks) == 2 and len(big_dumps) == 1


def test_the_cache_is_bounded_by_bytes_after_30_large_schemas(monkeypatch):
    # compiling for real is what the other tests check; here only the cache's bookkeeping
    monkeypatch.setattr(check, "_compile", lambda schema: check.Compiled(schema, validator=object()))
    sizes = []
    for n in range(30):
        schema = big_schema(f"{n}:")
        sizes.append(check.cache_key(schema)[1])
        assert not check.compiled(schema).refused
        assert check.cache_bytes() <= check.CACHE_BYTES
    assert check.cache_size() == check.CACHE_BYTES // max(sizes)
    assert check.cache_bytes() == sum(sizes[-check.cache_size():])


def test_a_schema_larger_than_the_cache_is_not_kept(monkeypatch):
    monkeypatch.setattr(check, "CACHE_BYTES", 100_000)
    schema = big_schema()
    assert check.compiled(schema).problem is None
    assert check.cache_size() == 0
    small = {"type": "object", "properties": {"a": {"type": "integer"}}}
    check.compiled(small)
    assert check.cache_size() == 1 and check.cache_bytes() == len(json.dumps(small, sort_keys=True))


def test_the_least_recently_used_schema_leaves_first(monkeypatch):
    schemas = [{"type": "object", "title": "x" * 40 + str(n)} for n in range(3)]
    size = check.cache_key(schemas[0])[1]
    monkeypatch.setattr(check, "CACHE_BYTES", 2 * size)
    compiled = [check.compiled(s) for s in schemas[:2]]
    assert check.compiled(dict(schemas[0])) is compiled[0]   # a hit: now the most recent
    check.compiled(schemas[2])
    assert check.compiled(dict(schemas[0])) is compiled[0]
    assert check.compiled(dict(schemas[1])) is not compiled[1]   # evicted, compiled anew
