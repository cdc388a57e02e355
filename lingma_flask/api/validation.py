"""What every face's request validation shares: the lenient pydantic base, count limits, errors.

Unknown fields are accepted everywhere (clients send many); counts are bounded so any body is
validated at a small cost; the first (most specific) problem becomes a 400 naming the field.
"""

from __future__ import annotations

import re
from typing import Any

import pydantic
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictBool
from pydantic import StrictFloat
from pydantic import StrictInt

from ..pipeline.tools.budget import Budget
from ..pipeline.tools.check import Compiled
from ..pipeline.tools.check import compiled
from ..pipeline.tools.spec import Tool
from ..web.errors import ApiError

MAX_MESSAGES = 20_000     # turns in one request
MAX_PARTS = 2_000         # content parts (or blocks) in one message
MAX_TOOLS = 512           # tools offered in one request
MAX_STOPS = 16            # stop sequences (OpenAI allows 4; Anthropic more)
MAX_NAME = 256            # model and tool names

Flag = StrictBool
Count = StrictInt
Number = StrictFloat   # a JSON number (integers too); never a string or a boolean


def model_field():
    """The `model` field: optional, but never empty (OpenAI answers "" with a 400)."""
    return Field(None, min_length=1, max_length=MAX_NAME)


class Lenient(BaseModel):
    """Base of the request models: unknown fields are accepted (and listed as not forwarded)."""

    model_config = ConfigDict(extra="allow")


def validate(model: type[BaseModel], data: Any):
    """Validate a decoded body with `model`, or raise a 400 naming the field."""
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_request")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: pydantic.ValidationError) -> ApiError:
    """Turn the most specific pydantic error into a 400 naming the field."""
    error = max(exc.errors(include_url=False, include_input=False), key=lambda e: len(e["loc"]))
    param = param_path(error["loc"])
    if error["type"] == "missing":
        return ApiError(400, f"Missing required parameter: '{param}'.", param=param,
                        code="missing_required_parameter")
    message = error["msg"].removeprefix("Value error, ")
    return ApiError(400, f"Invalid value for '{param}': {message}.", param=param,
                    code="invalid_value")


_FIELD = re.compile(r"[a-z_][a-z0-9_]*")
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def param_path(loc: tuple) -> str | None:
    """Render a pydantic location as `messages[0].content[1]`, dropping union type tags."""
    path = ""
    for item in loc:
        if isinstance(item, int):
            path += f"[{item}]"
        elif _FIELD.fullmatch(item) and item not in _TYPE_TAGS:
            path += ("." if path else "") + item
    return path or None


def ignored_fields(data: dict, used: frozenset[str]) -> tuple[str, ...]:
    """Return the top-level fields accepted but not forwarded (at most 50 names)."""
    return tuple(sorted(str(k)[:64] for k in data if k not in used))[:50]


def function_tool(name: str, description: str | None, parameters: Any, param: str | None = None,
                  budget: Budget | None = None) -> Tool:
    """Build an offered tool, its schema compiled (a 400 naming `param` when too costly).

    A missing or non-object schema means no arguments.
    """
    if not isinstance(parameters, dict):
        parameters = {"type": "object", "properties": {}}
    return Tool(name=name, description=description or "", parameters=parameters,
                checker=checked_schema(parameters, param, budget))


def checked_schema(schema: Any, param: str | None, budget: Budget | None = None) -> Compiled:
    """Compile a client's JSON Schema for this request, or raise a 400 naming `param`.

    Only a schema over a complexity limit is refused here; an invalid one is reported to the
    model by each check, as before. `budget` is the request's compile budget.
    """
    entry = compiled(schema, budget)
    if entry.refused:
        raise ApiError(400, f"Invalid value for '{param}': {entry.problem}. See the schema limits"
                       " in docs/api.md.", param=param, code="invalid_value")
    return entry


def image_data_uri(url: str | None, param: str) -> str:
    """Accept an image as a base64 data URI; a remote URL is refused (nothing is fetched)."""
    if url and re.match(r"data:image/[\w.+-]+;base64,", url, re.I):
        return url
    raise ApiError(400, "Images must be sent inline as data URIs (data:image/png;base64,...);"
                   " this gateway fetches no URLs.", param=param, code="invalid_image_url")
