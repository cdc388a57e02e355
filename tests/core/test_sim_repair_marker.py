"""The simulator's `repair=B64` and `then=B64` markers: exact answers for the repair turn and for
the turns after a tool result."""

from __future__ import annotations

import base64

import pytest

from lingma_flask.pipeline.tools import contract
from lingma_flask.simulator import scenario
from lingma_flask.simulator.config import SimConfig
from tests.core.simprompts import conversation_prompt
from tests.core.simprompts import tool_response


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


MARKERS = f"[[sim:answer={b64('first <tool_call>')},repair={b64('It is sunny.')}]] weather?"


def answer(*turns) -> str:
    return scenario.build(conversation_prompt(*turns), SimConfig()).answer


@pytest.mark.parametrize("repair", [contract.repair_text(["get_weather: bad"], require_call=False),
                                    contract.json_repair_text(["not JSON"])])
def test_the_repair_turn_gets_the_repair_answer(repair):
    assert answer(("User", MARKERS), ("Assistant", "first <tool_call>"), ("User", repair)) == "It is sunny."


def test_other_turns_get_the_usual_answer():
    assert answer(("User", MARKERS)) == "first <tool_call>"
    assert answer(("User", MARKERS), ("Assistant", "x"), ("User", tool_response("ok"))) == "first <tool_call>"
    alone = f"[[sim:repair={b64('It is sunny.')}]] weather?"
    assert answer(("User", alone)) == "You said: weather?"


def test_a_turn_of_tool_results_gets_the_then_answer():
    markers = f"[[sim:answer={b64('call')},then={b64('Done.')}]] weather?"
    assert answer(("User", markers)) == "call"
    assert answer(("User", markers), ("Assistant", "call"), ("User", tool_response("ok"))) == "Done."
    repair = contract.repair_text(["bad"], require_call=False)
    assert answer(("User", markers), ("Assistant", "call"), ("User", repair)) == "call"
