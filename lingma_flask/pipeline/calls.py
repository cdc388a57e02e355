"""Which calls an answer returns: the valid ones, and what becomes of those still invalid.

`check_answer` sorts one answer's call blocks into valid calls (`ToolCall`s with fresh ids),
invalid ones with their problems, and blocks that could not be read. When the tool choice
demands a call and the answer has no call block, its prose is read for a call written as
plain JSON (`tools/untagged.py`).

After the repair turn, LINGMA_INVALID_TOOL_CALLS decides about a call that is still invalid
(`INVALID_MODES`): `pass` returns it with its arguments as the model gave them, so the agent's
own validation reports the problem back to the model and the loop goes on; `drop` leaves it
out; `error` fails the answer with a 502 `tool_call_invalid`. A block that cannot be read as
a named call cannot be passed on: when nothing else is returned, `pass` fails as `error` does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from collections.abc import Mapping

from .tools.budget import Budget
from .tools.check import check_call
from .tools.check import given_arguments
from .tools.pieces import Broken
from .tools.pieces import Call
from .tools.spec import Tool
from .tools.spec import ToolCall
from .tools.spec import ToolChoice
from .tools.spec import new_call_id
from .tools.untagged import untagged_call

INVALID_MODES = ("pass", "drop", "error")
NO_CALL = "no function was called, but this answer must call one"
UNREADABLE = "(unreadable)"


@dataclasses.dataclass(frozen=True)
class Invalid:
    """A call that failed its check (`call` None: a block that could not be read at all)."""

    call: Call | None
    problem: str

    @property
    def tool(self) -> str:
        """The name the tool log gives it."""
        if self.call is None:
            return UNREADABLE
        return self.call.name or "(unnamed)"

    @property
    def passable(self) -> bool:
        """Tell whether it can go to the client as a call: it names a function."""
        return self.call is not None and bool(self.call.name)


@dataclasses.dataclass
class Checked:
    """One answer's calls, sorted: valid, invalid, and whether a demanded call is missing."""

    calls: list[ToolCall] = dataclasses.field(default_factory=list)
    invalid: list[Invalid] = dataclasses.field(default_factory=list)
    missing: bool = False     # no call at all, though the tool choice demands one
    untagged: bool = False    # the call was read from JSON written without <tool_call> tags

    @property
    def problems(self) -> list[str]:
        """One line per problem, for the repair turn and the 502."""
        return [bad.problem for bad in self.invalid] + ([NO_CALL] if self.missing else [])


def forced_tool(offered: Mapping[str, Tool], choice: ToolChoice) -> Tool | None:
    """Return the one tool an answer must call (a named choice, or `required` with one tool)."""
    if choice.requires_call and len(offered) == 1:
        return next(iter(offered.values()))
    return None


def check_answer(calls: Iterable[Call], broken: Iterable[Broken], prose: str,
                 offered: dict[str, Tool], choice: ToolChoice, prefix: str,
                 budget: Budget | None = None) -> Checked:
    """Check an answer's calls against the offered tools (see the module's docstring)."""
    found = list(calls)
    checked = Checked(invalid=[Invalid(None, f"tool call block: {b.reason}") for b in broken])
    if not found and not checked.invalid and choice.requires_call:
        plain = untagged_call(prose, offered, forced_tool(offered, choice), budget)
        if plain is not None:
            found, checked.untagged = [plain], True
    for call in found:
        arguments, problem = check_call(call, offered, budget)
        if arguments is not None and problem is None and call.name:
            checked.calls.append(ToolCall(new_call_id(prefix), call.name, arguments))
        else:
            checked.invalid.append(Invalid(call, problem or NO_CALL))
    checked.missing = choice.requires_call and not checked.calls and not checked.invalid
    return checked


def passed_on(left: Checked, offered: dict[str, Tool], prefix: str) -> list[ToolCall]:
    """Return the invalid calls that name a function, as calls with the arguments as given."""
    return [ToolCall(new_call_id(prefix), bad.call.name, given_arguments(bad.call, offered))
            for bad in left.invalid if bad.call is not None and bad.call.name]
