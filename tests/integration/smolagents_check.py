"""smolagents against the gateway: one JSON line per check on stdout (run in the clients' venv).

Usage: python smolagents_check.py  (settings in the environment: GW_BASE_URL, the gateway without
/v1; GW_API_KEY; GW_SECRET, a word only the tool knows).

The simulator answers each turn from the markers in the whole conversation, the last one
winning. smolagents' ToolCallingAgent asks with `tool_choice: "required"` and sends tool output
back as a user message ("Observation: ..."), so the simulator would call the first tool forever;
the tool's output therefore carries the marker for the next turn, a `final_answer` call with the
secret, which can only come back if the observation reached the model.
"""

from __future__ import annotations

import base64
import json
import os
import sys

from smolagents import CodeAgent
from smolagents import LiteLLMModel
from smolagents import OpenAIModel
from smolagents import ToolCallingAgent
from smolagents import tool

BASE = os.environ["GW_BASE_URL"]
KEY = os.environ["GW_API_KEY"]
SECRET = os.environ["GW_SECRET"]
CALLS: list[str] = []


def b64(text: str) -> str:
    """base64url, as the simulator's markers take it."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city.

    Args:
        city: The city to get the weather for.
    """
    CALLS.append(city)
    steer = b64(json.dumps({"answer": f"{city}: {SECRET}"}))
    return f"{city}: {SECRET} [[sim:tool=final_answer,tool_args={steer}]]"


def tool_calling() -> dict:
    """ToolCallingAgent over chat completions: get_weather, its observation, final_answer."""
    model = OpenAIModel(model_id="auto", api_base=BASE + "/v1", api_key=KEY,
                        client_kwargs={"max_retries": 0})
    agent = ToolCallingAgent(tools=[get_weather], model=model, max_steps=4, verbosity_level=0)
    output = agent.run("What is the weather in Paris? [[sim:tool=get_weather]]")
    return {"output": str(output), "calls": list(CALLS), "steps": len(agent.memory.steps)}


def code_agent() -> dict:
    """CodeAgent over Anthropic Messages (LiteLLMModel): the model writes code that calls the tool."""
    code = ('Thought: I will ask the weather tool.\n<code>\nreport = get_weather(city="Paris")\n'
            'final_answer(report.split(" [[")[0])\n</code>')
    model = LiteLLMModel(model_id="anthropic/auto", api_base=BASE, api_key=KEY, num_retries=0,
                         max_tokens=1024)
    agent = CodeAgent(tools=[get_weather], model=model, max_steps=2, verbosity_level=0)
    output = agent.run(f"What is the weather in Paris? [[sim:answer={b64(code)}]]")
    return {"output": str(output), "calls": list(CALLS), "steps": len(agent.memory.steps)}


def main() -> int:
    """Run every check; print one JSON line each."""
    for check in (tool_calling, code_agent):
        CALLS.clear()
        try:
            line = {"check": check.__name__, "ok": True, **check()}
        except Exception as error:   # noqa: BLE001 - reported as data, judged by the test
            line = {"check": check.__name__, "ok": False,
                    "error": f"{type(error).__name__}: {error}"[:600]}
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
