"""An agent framework end to end: pydantic-ai over chat completions, a function tool, the simulator.

openai-agents was the first choice, but every release caps `websockets<17` while the gateway pins
websockets 17 (the simulator's server), so pydantic-ai (`pydantic-ai-slim[openai]`) drives the
gateway instead: the same loop (ask, call the tool, send its result, answer) through the official
openai SDK's AsyncOpenAI client. Instrumentation is off, so nothing leaves the machine.
"""

import asyncio
import secrets

import openai
import pytest
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai import NativeOutput
from pydantic_ai.messages import ToolReturnPart
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from tests.integration.gateway import API_KEY

pytestmark = pytest.mark.integration
PROMPT = "What is the weather in Paris? Use the get_weather tool. [[sim:tool=get_weather]]"


class Forecast(BaseModel):
    """The structured answer: a city and what its weather is like."""

    city: str
    summary: str


class WeatherTool:
    """A get_weather tool that records its calls and answers with a report unique to the test."""

    def __init__(self):
        self.report = "sunny, report " + secrets.token_hex(4)
        self.cities: list[str] = []

    def get_weather(self, city: str) -> str:
        """Get the current weather in a city."""
        self.cities.append(city)
        return f"{city}: {self.report}"


def run_agent(gateway, tool: WeatherTool, output_type=str):
    """Run one agent over the gateway's chat completions; return its run result."""
    async def go():
        async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=API_KEY,
                                      max_retries=0, timeout=60) as client:
            model = OpenAIChatModel("auto", provider=OpenAIProvider(openai_client=client))
            agent = Agent(model, tools=[tool.get_weather], output_type=output_type)
            agent.instrument = False
            return await agent.run(PROMPT)
    return asyncio.run(go())


def tool_returns(result) -> list[str]:
    """The tool results the agent sent back to the model."""
    return [part.content for message in result.all_messages() for part in message.parts
            if isinstance(part, ToolReturnPart)]


def test_the_agent_calls_the_tool_and_answers_with_its_output(gateway):
    tool = WeatherTool()
    result = run_agent(gateway, tool)
    assert len(tool.cities) == 1 and tool.cities[0]
    assert tool_returns(result) == [f"{tool.cities[0]}: {tool.report}"]
    assert tool.report in result.output


def test_a_structured_answer_after_the_tool_call(gateway):
    tool = WeatherTool()
    result = run_agent(gateway, tool, NativeOutput(Forecast))
    assert len(tool.cities) == 1
    assert tool_returns(result) == [f"{tool.cities[0]}: {tool.report}"]
    assert isinstance(result.output, Forecast) and result.output.city and result.output.summary
