"""The one tool every tool check offers, the prompt that asks for it, and checks of its calls.

The prompt carries the simulator's marker, so the built-in simulator answers with a call; a real
model reads it as harmless text and calls the tool because the request requires a call.
"""

from __future__ import annotations

import json

import jsonschema

from .runner import CheckFailed
from .runner import expect

NAME = "get_weather"
DESCRIPTION = "Get the current weather in a city."
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "The city's name, e.g. Paris"}},
    "required": ["city"],
    "additionalProperties": False,
}
PROMPT = ("What is the weather in Paris right now? Call the get_weather tool to find out."
          " [[sim:tool=get_weather]]")


def check_call(name: str, arguments) -> dict:
    """Check a call names the tool and its arguments (JSON text or an object) fit the schema."""
    expect(name == NAME, f"the call names {name!r}, not {NAME!r}")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError as error:
            raise CheckFailed(f"the arguments are not JSON ({error}): {arguments!r}") from None
    expect(isinstance(arguments, dict), f"the arguments are not a JSON object: {arguments!r}")
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(arguments), key=str)
    expect(not errors, f"the arguments {arguments} do not fit the schema: "
                       + "; ".join(e.message for e in errors))
    return arguments


def result(arguments: dict) -> str:
    """Return the tool's answer for a checked call, as the JSON text a client sends back."""
    return json.dumps({"city": arguments["city"], "forecast": "sunny", "temperature_c": 21})


def show(arguments: dict) -> str:
    """Return a call as it reads in a detail: get_weather({...})."""
    return f"{NAME}({json.dumps(arguments, ensure_ascii=False)})"
