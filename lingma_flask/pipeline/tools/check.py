"""Check parsed calls and structured-output answers against their JSON Schemas.

Every failure comes back as one line of problem text for the repair turn, never as an
exception. A request's schemas are compiled once, when it is parsed (`compiled`), and kept in a
cache keyed by a hash of their canonical JSON and bounded by entries and bytes, so the same
tools sent on every request compile once. A schema too costly to apply (`complexity`) is
refused then; checks run on bounded validators (`bounded`) that charge a per-request budget.
`$ref`s resolve only inside the schema (and to the JSON Schema meta-schemas): nothing is fetched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from itertools import islice
from typing import Any

from jsonschema.validators import Draft202012Validator
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable

from .bounded import bounded
from .bounded import schema_error
from .budget import Budget
from .budget import OverBudget
from .budget import check_budget
from .budget import compile_budget
from .coerce import json_type
from .coerce import type_arguments
from .complexity import measure
from .complexity import too_long
from .freeform import INPUT
from .lenient import depth
from .lru import SizedLRU
from .nearjson import coerce
from .nearjson import extract
from .payload import decode_arguments
from .pieces import Call
from .spec import Tool

MAX_DEPTH = 64           # nesting of arguments and answers: ample, yet far from recursion limits
MAX_SCHEMA_DEPTH = 128   # a schema nests about twice per level of the data it describes
CACHE_SIZE = 256         # compiled schemas kept, while their canonical JSON adds up to at most
CACHE_BYTES = 4_000_000  # this many bytes (about twice that as Python objects, measured)
LISTED_TOOLS = 10
ERRORS_SHOWN = 3
MESSAGE_LIMIT = 200
PASSED = "arguments"     # the key arguments that are not an object are passed on under
TYPE_NAMES = {"null": "null", "boolean": "a boolean", "number": "a number", "string": "a string",
              "array": "an array", "object": "an object"}
# A registry with no retrieve function: a $ref outside the schema fails instead of being fetched.
NO_RETRIEVAL = Registry()

_cache: SizedLRU[bytes, Compiled] = SizedLRU()

Checked = tuple[dict[str, Any], None] | tuple[None, str]
"""A call's arguments as a JSON object, or the problem that keeps it from being one."""


@dataclasses.dataclass(frozen=True)
class Compiled:
    """A client's schema prepared for checks: its validator, or why it cannot check anything.

    `refused` marks a schema over a complexity limit: the request gets a 400 before Lingma is
    asked. Another `problem` (an invalid schema) is reported by each check, as a repair hint.
    """

    schema: Any
    validator: Any = None
    problem: str | None = None
    refused: bool = False


def check_call(call: Call, tools: dict[str, Tool], budget: Budget | None = None) -> Checked:
    """Return (arguments, None) for a valid call of an offered tool, else (None, problem)."""
    if call.name is None:
        return None, f"a tool call needs a function name; {offered_names(tools)}"
    tool = tools.get(call.name)
    if tool is None:
        return None, f"unknown tool {call.name!r}; {offered_names(tools)}"
    schema = tool.checker or compiled(tool.parameters)
    parsed = arguments_object(call, tool, schema)
    if parsed[1] is not None:
        return None, f"{call.name}: {parsed[1]}"
    problem = validate(parsed[0], schema, budget)
    if problem is not None:
        coerced = coerced_valid(parsed[0], schema, budget)
        if coerced is None:
            return None, f"{call.name}: {problem}"
        return coerced[0], None
    return parsed


def offered_names(tools: dict[str, Tool]) -> str:
    """Return a short list of the offered tool names for a problem text."""
    if not tools:
        return "no tools are offered"
    names = ", ".join(islice(tools, LISTED_TOOLS))
    more = len(tools) - LISTED_TOOLS
    return f"offered tools: {names}" + (f" and {more} more" if more > 0 else "")


def arguments_object(call: Call, tool: Tool, schema: Compiled | None = None) -> Checked:
    """Return the call's arguments as a JSON object (XML ones typed by schema), or a problem."""
    arguments = call.arguments
    if isinstance(arguments, str):
        arguments = decode_arguments(arguments)
    if tool.freeform and isinstance(arguments, str):   # a custom tool's text, given bare
        arguments = {INPUT: arguments}
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return None, f"arguments must be a JSON object, not {_json_type_name(arguments)}"
    if call.style == "xml" and (schema is None or schema.problem is None):
        arguments = type_arguments(arguments, tool.parameters)
    return arguments, None


def given_arguments(call: Call, tools: dict[str, Tool]) -> dict[str, Any]:
    """Return a call's arguments as the model gave them, to pass an invalid call on as it is.

    As given when they are a JSON object (XML values typed by the tool's schema when the tool
    is offered). Anything else (a string that is not JSON, a list, a number) is wrapped as
    `{"arguments": value}`: every client's parser takes an object (Anthropic's `input` must be
    one, and LangChain files a call whose arguments are not one as invalid, never running
    it), and the agent's validation then names the arguments the model left out. A custom
    tool's text becomes its one `input`, as when it is valid.
    """
    tool = tools.get(call.name or "")
    if tool is not None:
        parsed = arguments_object(call, tool)
        if parsed[1] is None:
            return parsed[0]
    arguments = call.arguments
    if isinstance(arguments, str):
        arguments = decode_arguments(arguments)
    if arguments is None:
        return {}
    if isinstance(arguments, dict):
        return arguments
    if tool is not None and tool.freeform:
        text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        return {INPUT: text}
    return {PASSED: arguments}


def check_json(text: str, schema: Compiled | dict | None,
               budget: Budget | None = None) -> tuple[Any, str | None]:
    """Return (value, None) for an answer that is the JSON asked for, else (None, problem).

    The JSON may come fenced or set in prose (`nearjson.extract`: the one object, or the
    array a schema asks for); scalars of the wrong type are coerced toward the schema when
    that makes the value valid. The value must be an object unless the schema's `type` asks
    for something else.
    """
    raw = schema.schema if isinstance(schema, Compiled) else schema
    opener = "[" if isinstance(raw, dict) and raw.get("type") == "array" else "{"
    try:
        value = extract(text, opener)
    except ValueError as error:
        return None, f"the answer is not valid JSON: {_short(str(error))}"
    if _wants_object(raw) and not isinstance(value, dict):
        return None, f"the answer must be a JSON object, not {_json_type_name(value)}"
    if raw is None:
        problem = _depth_problem(value)
        return (None, problem) if problem else (value, None)
    problem = validate(value, schema, budget)
    if problem is None:
        return value, None
    coerced = coerced_valid(value, schema, budget)
    return (coerced[0], None) if coerced is not None else (None, problem)


def coerced_valid(value: Any, schema: Any, budget: Budget | None = None) -> tuple[Any] | None:
    """Return (value coerced toward the schema,) when coercing changed it into a valid one, else None."""
    entry = compiled(schema)
    if entry.problem:
        return None
    changed = coerce(value, entry.schema)
    if changed == value or validate(changed, entry, budget) is not None:
        return None
    return (changed,)


def validate(instance: Any, schema: Any, budget: Budget | None = None) -> str | None:
    """Return None when the instance is valid for the schema, else one line of problems.

    The check charges `budget` (the request's, shared by all its checks), or a fresh one.
    """
    problem = _depth_problem(instance)
    if problem:
        return problem
    entry = compiled(schema)
    if entry.problem:
        return entry.problem
    try:
        with (budget or check_budget()).active():
            errors = list(islice(entry.validator.iter_errors(instance), ERRORS_SHOWN))
    except OverBudget as error:
        return str(error)
    except RecursionError:
        return "the schema refers to itself without end"
    except Unresolvable as error:
        return f"the schema has a $ref that cannot be resolved here: {_short(str(error))}"
    except Exception as error:  # noqa: BLE001 - a client's schema may trip jsonschema anywhere
        return f"the schema could not be applied: {_short(str(error))}"
    return "; ".join(_error_text(error) for error in errors) or None


def compiled(schema: Any, budget: Budget | None = None) -> Compiled:
    """Return a schema prepared for checks (from the cache when it was seen before).

    Measuring and compiling charge `budget` (the request's), or a fresh one. A schema over a
    limit comes back `refused`; such verdicts are not cached.
    """
    if isinstance(schema, Compiled):
        return schema
    if not isinstance(schema, (dict, bool)):
        kind = _json_type_name(schema)
        return Compiled(schema, problem=f"the schema must be a JSON object, not {kind}")
    if depth(schema, MAX_SCHEMA_DEPTH) > MAX_SCHEMA_DEPTH:
        return Compiled(schema, problem=f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels")
    try:
        key, size = cache_key(schema)
    except (TypeError, ValueError) as error:
        return Compiled(schema, problem=f"the schema is not JSON: {_short(str(error))}")
    entry = _cache.get(key)
    if entry is not None:
        return entry
    reason = too_long(size) or measure(schema)
    if reason:
        problem = f"the schema is too costly to check: {reason}"
        return Compiled(schema, problem=problem, refused=True)
    with (budget or compile_budget()).active():
        entry = _compile(schema)
    if not entry.refused:
        _cache.put(key, entry, size, max_entries=CACHE_SIZE, max_size=CACHE_BYTES)
    return entry


def cache_key(schema: Any) -> tuple[bytes, int]:
    """Return the cache key of a schema (a hash of its canonical JSON) and that JSON's length."""
    text = json.dumps(schema, sort_keys=True)
    return hashlib.sha256(text.encode()).digest(), len(text)


def _compile(schema: Any) -> Compiled:
    try:
        cls = bounded(validator_for(schema, default=Draft202012Validator))
        error = schema_error(cls, schema)
        if error is not None:
            return Compiled(schema, problem=f"the schema is invalid: {_short(error.message)}")
        return Compiled(schema, cls(schema, registry=NO_RETRIEVAL))
    except OverBudget as error:
        return Compiled(schema, problem=str(error), refused=True)
    except RecursionError:
        return Compiled(schema, problem="the schema nests too deeply to check")
    except Exception as error:  # noqa: BLE001 - e.g. an unhashable "$schema" value
        return Compiled(schema, problem=f"the schema is invalid: {_short(str(error))}")


def cache_size() -> int:
    """Return how many compiled schemas the cache holds."""
    return len(_cache)


def cache_bytes() -> int:
    """Return the summed canonical JSON length of the cached schemas."""
    return _cache.total


def clear_cache() -> None:
    """Forget every compiled schema (for tests)."""
    _cache.clear()


def _depth_problem(value: Any) -> str | None:
    if depth(value, MAX_DEPTH) > MAX_DEPTH:
        return f"the value nests deeper than {MAX_DEPTH} levels"
    return None


def _wants_object(schema: dict | None) -> bool:
    declared = schema.get("type", "object") if isinstance(schema, dict) else "object"
    return declared == "object"


def _error_text(error: Any) -> str:
    where = "" if error.json_path == "$" else f"at {error.json_path}: "
    return where + _short(error.message)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT - 3] + "..."


def _json_type_name(value: Any) -> str:
    kind = json_type(value)
    return TYPE_NAMES[kind] if kind is not None else type(value).__name__
