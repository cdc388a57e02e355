"""Check parsed calls and structured-output answers against their JSON Schemas.

Every failure comes back as one line of problem text for the repair turn, never as an
exception. Validators are compiled on first use and kept in a bounded cache keyed by the
schema's canonical JSON, so the same tools sent on every request compile once. `$ref`s
resolve only inside the schema (and to the JSON Schema meta-schemas): nothing is fetched.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from itertools import islice
from typing import Any

from jsonschema.exceptions import SchemaError
from jsonschema.validators import Draft202012Validator
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable

from .coerce import json_type
from .coerce import type_arguments
from .lenient import depth
from .lenient import loads
from .lenient import strip_fence
from .payload import decode_arguments
from .pieces import Call
from .spec import Tool

MAX_DEPTH = 64           # nesting of arguments and answers: ample, yet far from recursion limits
MAX_SCHEMA_DEPTH = 128   # a schema nests about twice per level of the data it describes
CACHE_SIZE = 256
LISTED_TOOLS = 10
ERRORS_SHOWN = 3
MESSAGE_LIMIT = 200
TYPE_NAMES = {"null": "null", "boolean": "a boolean", "number": "a number", "string": "a string",
              "array": "an array", "object": "an object"}
# A registry with no retrieve function: a $ref outside the schema fails instead of being fetched.
NO_RETRIEVAL = Registry()

_cache: OrderedDict[str, tuple[Any, str | None]] = OrderedDict()
_cache_lock = threading.Lock()


def check_call(call: Call, tools: dict[str, Tool]) -> tuple[dict | None, str | None]:
    """Return (arguments, None) for a valid call of an offered tool, else (None, problem)."""
    if call.name is None:
        return None, f"a tool call needs a function name; {offered_names(tools)}"
    tool = tools.get(call.name)
    if tool is None:
        return None, f"unknown tool {call.name!r}; {offered_names(tools)}"
    arguments, problem = arguments_object(call, tool)
    if problem is None:
        problem = validate(arguments, tool.parameters)
    if problem is not None:
        return None, f"{call.name}: {problem}"
    return arguments, None


def offered_names(tools: dict[str, Tool]) -> str:
    """Return a short list of the offered tool names for a problem text."""
    if not tools:
        return "no tools are offered"
    names = ", ".join(islice(tools, LISTED_TOOLS))
    more = len(tools) - LISTED_TOOLS
    return f"offered tools: {names}" + (f" and {more} more" if more > 0 else "")


def arguments_object(call: Call, tool: Tool) -> tuple[dict | None, str | None]:
    """Return the call's arguments as a JSON object (XML ones typed by schema), or a problem."""
    arguments = call.arguments
    if isinstance(arguments, str):
        arguments = decode_arguments(arguments)
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return None, f"arguments must be a JSON object, not {_json_type_name(arguments)}"
    if call.style == "xml":
        arguments = type_arguments(arguments, tool.parameters)
    return arguments, None


def check_json(text: str, schema: dict | None) -> tuple[Any, str | None]:
    """Return (value, None) for an answer that is the JSON asked for, else (None, problem).

    A code fence around the whole answer is forgiven; prose is not. The value must be an
    object unless the schema's `type` asks for something else.
    """
    try:
        value = loads(strip_fence(text))
    except ValueError as error:
        return None, f"the answer is not valid JSON: {_short(str(error))}"
    if _wants_object(schema) and not isinstance(value, dict):
        return None, f"the answer must be a JSON object, not {_json_type_name(value)}"
    problem = validate(value, schema) if schema is not None else _depth_problem(value)
    return (None, problem) if problem else (value, None)


def validate(instance: Any, schema: Any) -> str | None:
    """Return None when the instance is valid for the schema, else one line of problems."""
    problem = _depth_problem(instance)
    if problem:
        return problem
    validator, problem = compiled(schema)
    if problem:
        return problem
    try:
        errors = list(islice(validator.iter_errors(instance), ERRORS_SHOWN))
    except RecursionError:
        return "the schema refers to itself without end"
    except Unresolvable as error:
        return f"the schema has a $ref that cannot be resolved here: {_short(str(error))}"
    except Exception as error:  # noqa: BLE001 - a client's schema may trip jsonschema anywhere
        return f"the schema could not be applied: {_short(str(error))}"
    return "; ".join(_error_text(error) for error in errors) or None


def compiled(schema: Any) -> tuple[Any, str | None]:
    """Return (validator, None) for a schema, or (None, problem) when it is not a valid one."""
    if not isinstance(schema, (dict, bool)):
        return None, f"the schema must be a JSON object, not {_json_type_name(schema)}"
    if depth(schema, MAX_SCHEMA_DEPTH) > MAX_SCHEMA_DEPTH:
        return None, f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels"
    try:
        key = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError) as error:
        return None, f"the schema is not JSON: {_short(str(error))}"
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    entry = _compile(schema)
    with _cache_lock:
        _cache[key] = entry
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return entry


def _compile(schema: Any) -> tuple[Any, str | None]:
    try:
        cls = validator_for(schema, default=Draft202012Validator)
        cls.check_schema(schema)
        return cls(schema, registry=NO_RETRIEVAL), None
    except SchemaError as error:
        return None, f"the schema is invalid: {_short(error.message)}"
    except RecursionError:
        return None, "the schema nests too deeply to check"
    except Exception as error:  # noqa: BLE001 - e.g. an unhashable "$schema" value
        return None, f"the schema is invalid: {_short(str(error))}"


def cache_size() -> int:
    """Return how many compiled schemas the cache holds."""
    with _cache_lock:
        return len(_cache)


def clear_cache() -> None:
    """Forget every compiled schema (for tests)."""
    with _cache_lock:
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
    return TYPE_NAMES.get(json_type(value)) or type(value).__name__
