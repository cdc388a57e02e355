"""litellm against the gateway: one JSON line per check on stdout (run in the clients' venv).

Usage: python litellm_check.py  (settings in the environment: GW_BASE_URL, the gateway without
/v1; GW_API_KEY; GW_SECRET, a word only the tool knows). The caller sets
LITELLM_LOCAL_MODEL_COST_MAP=True so that importing litellm does not fetch its price list.
"""

from __future__ import annotations

import base64
import json
import os
import sys

import litellm

BASE = os.environ["GW_BASE_URL"]
KEY = os.environ["GW_API_KEY"]
SECRET = os.environ["GW_SECRET"]
ANSWER = "Hello from litellm"
PLAIN = "Say hello [[sim:answer=%s]]" % base64.urlsafe_b64encode(ANSWER.encode()).decode()
TOOL_PROMPT = "What is the weather in Paris? [[sim:tool=get_weather]]"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
FORECAST = {"type": "json_schema", "json_schema": {"name": "forecast", "strict": True, "schema": {
    "type": "object", "properties": {"city": {"type": "string"}, "summary": {"type": "string"}},
    "required": ["city", "summary"], "additionalProperties": False}}}
THINKING = "dashscope_qwen_plus_20250428_thinking"   # the simulator's reasoning model
# The openai/ prefix speaks chat completions to api_base (with /v1); anthropic/ speaks Messages
# to api_base without /v1 (litellm adds /v1/messages).
FACES = {"openai": ("openai/auto", BASE + "/v1"), "anthropic": ("anthropic/auto", BASE)}


def ask(face: str, **kwargs):
    """One litellm.completion call on a face, without retries."""
    model, base = FACES[face]
    return litellm.completion(model=model, api_base=base, api_key=KEY, num_retries=0,
                              max_tokens=1024, **kwargs)


def generate(face: str) -> dict:
    """A plain completion."""
    reply = ask(face, messages=[{"role": "user", "content": PLAIN}])
    return {"text": reply.choices[0].message.content, "finish": reply.choices[0].finish_reason,
            "completion_tokens": reply.usage.completion_tokens}


def stream(face: str) -> dict:
    """A streamed completion, its deltas joined."""
    parts = [chunk.choices[0].delta.content or "" for chunk in
             ask(face, messages=[{"role": "user", "content": PLAIN}], stream=True)
             if chunk.choices]
    return {"text": "".join(parts), "chunks": len(parts)}


def tools(face: str) -> dict:
    """A tool call, the tool run here, its result sent back, and the answer."""
    messages = [{"role": "user", "content": TOOL_PROMPT}]
    first = ask(face, messages=messages, tools=[WEATHER]).choices[0]
    calls = first.message.tool_calls or []
    messages.append(first.message.model_dump(exclude_none=True))
    for call in calls:
        city = json.loads(call.function.arguments)["city"]
        messages.append({"role": "tool", "tool_call_id": call.id, "content": f"{city}: {SECRET}"})
    second = ask(face, messages=messages, tools=[WEATHER]).choices[0]
    return {"finish": first.finish_reason,
            "calls": [{"name": c.function.name, "arguments": c.function.arguments} for c in calls],
            "text": second.message.content}


def structured(face: str) -> dict:
    """A response_format json_schema answer, parsed."""
    reply = ask(face, messages=[{"role": "user", "content": "Forecast for Paris"}],
                response_format=FORECAST)
    return {"object": json.loads(reply.choices[0].message.content)}


def reasoning(face: str) -> dict:
    """The simulator's reasoning model: its thinking as litellm's reasoning_content."""
    model, base = FACES[face]
    reply = litellm.completion(model=model.replace("auto", THINKING), api_base=base, api_key=KEY,
                               num_retries=0, max_tokens=1024,
                               messages=[{"role": "user", "content": "Think"}])
    message = reply.choices[0].message
    return {"text": message.content, "reasoning": getattr(message, "reasoning_content", None)}


def responses(face: str) -> dict:
    """litellm.responses() (the Responses API) on the openai/ route."""
    reply = litellm.responses(model="openai/auto", api_base=BASE + "/v1", api_key=KEY,
                              input=PLAIN, num_retries=0)
    texts = [part.text for item in reply.output if getattr(item, "content", None)
             for part in item.content if getattr(part, "text", None)]
    return {"text": "".join(texts), "status": reply.status}


CHECKS = [(face, check) for face in FACES
          for check in (generate, stream, tools, structured, reasoning)] + [("openai", responses)]


def main() -> int:
    """Run every check; print one JSON line each."""
    for face, check in CHECKS:
        try:
            line = {"face": face, "check": check.__name__, "ok": True, **check(face)}
        except Exception as error:   # noqa: BLE001 - reported as data, judged by the test
            line = {"face": face, "check": check.__name__, "ok": False,
                    "error": f"{type(error).__name__}: {error}"[:600]}
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
