"""The one path every API face shares: model, prompt, Lingma, and the answer as events.

`start(chat, record)` resolves the model, renders the prompt (offered tools and the response
format included) and asks the pool — everything that can fail before a response exists.
`Job.run(tick)` then yields the common events (`events.py`): reasoning and text as Lingma
streams them (stop strings and the token limit applied, tool-call markup held back), the
checked tool calls after one repair turn if needed, and the finish with estimated usage.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Iterator
from collections.abc import Mapping

from ..lingma.errors import LingmaConnectionError
from ..lingma.errors import LingmaContentFilterError
from ..lingma.errors import LingmaError
from ..lingma.errors import LingmaQuotaError
from ..lingma.stream import Thought
from ..observe import Observers
from ..web.apierror import ApiError
from ..web.apierror import from_lingma
from ..web.record import RequestRecord
from . import context_guard
from . import events
from .calls import Checked
from .calls import check_answer
from .calls import passed_on
from .conversation import ChatRequest
from .conversation import ResponseFormat
from .conversation import Turn
from .output import OutputFilter
from .ports import ChatStream
from .ports import Pool
from .prompt import check_length
from .prompt import render_prompt
from .prompt import text_length
from .prompt import turn_text
from .targets import Target
from .targets import requested_target
from .targets import resolve_target
from .tokens import TokenCounter
from .tokens import estimate_prompt_tokens
from .tokens import estimate_tokens
from .tools import contract
from .tools.budget import Budget
from .tools.budget import check_budget as new_check_budget
from .tools.check import check_json
from .tools.eventlog import RequestEvents
from .tools.parser import Broken
from .tools.parser import Call
from .tools.parser import CallParser
from .tools.pieces import Piece
from .tools.spec import ToolCall

log = logging.getLogger(__name__)

CLIENT_CHECK = 1.0   # seconds between checks that a non-streaming client is still there


class Answer:
    """One Lingma answer as read: its raw text, its prose, and the calls and broken blocks in it."""

    def __init__(self, parses_calls: bool) -> None:
        self.parser = CallParser() if parses_calls else None
        self.raw: list[str] = []
        self.prose_parts: list[str] = []
        self.calls: list[Call] = []
        self.broken: list[Broken] = []

    @property
    def text(self) -> str:
        """Everything Lingma said."""
        return "".join(self.raw)

    @property
    def prose(self) -> str:
        """What Lingma said outside tool-call markup."""
        return "".join(self.prose_parts)

    def feed(self, chunk: str) -> list[str]:
        """Take a chunk; return the prose in it (tool-call markup removed)."""
        self.raw.append(chunk)
        if self.parser is None:
            self.prose_parts.append(chunk)
            return [chunk]
        return self._prose(self.parser.feed(chunk))

    def close(self) -> list[str]:
        """The answer ended: return the prose still held back."""
        return self._prose(self.parser.close()) if self.parser is not None else []

    def _prose(self, pieces: list[Piece]) -> list[str]:
        texts = []
        for piece in pieces:
            if isinstance(piece, Call):
                self.calls.append(piece)
            elif isinstance(piece, Broken):
                self.broken.append(piece)
            else:
                texts.append(piece.text)
        self.prose_parts += texts
        return texts


@dataclasses.dataclass(frozen=True)
class Context:
    """What starting a job needs from the app: the face builds it inside the request and passes it.

    A generator (a stream, a `Series`) keeps using the one its view built, after the request.
    """

    pool: Pool
    aliases: Mapping[str, str]
    reasoning_mode: str
    keepalive: float
    observers: Observers = dataclasses.field(default_factory=Observers)  # metrics, alerts
    invalid_tool_calls: str = "pass"   # LINGMA_INVALID_TOOL_CALLS: pass, drop or error

    @property
    def startup_timeout(self) -> float:
        """How long a request waits for a starting Lingma (the pool's LINGMA_STARTUP_TIMEOUT)."""
        return self.pool.settings.startup_timeout


class Job:
    """One answer, made launched or pending by `start()`; iterate `run(tick)` once, then it is closed.

    Launched: Lingma was asked and `stream` is set. Pending: a stream that arrived while no
    Lingma was ready; `run()` launches it after the wait. The model is resolved exactly once:
    when the job is made (a `target` given) or at launch. Until then `target` is the name
    requested (`resolved` is False), which the response headers and the echoed name carry.
    """

    def __init__(self, chat: ChatRequest, record: RequestRecord, ctx: Context,
                 target: Target | None = None) -> None:
        self.chat, self.record, self.ctx = chat, record, ctx
        self.target = target if target is not None else requested_target(chat.model)
        self.resolved = target is not None
        self.stream: ChatStream | None = None
        self.prompt_tokens = 0
        self.sections: list[str] = []   # the prompt's extra system sections, rendered at launch
        self.reasoning_mode = ctx.reasoning_mode
        self.offered = {t.name: t for t in contract.offered_tools(list(chat.tools), chat.tool_choice)}
        self.json_mode = chat.response_format is not None
        self.output = OutputFilter(() if self.json_mode else chat.stops,
                                   None if self.json_mode else chat.max_tokens)
        self.reasoning = TokenCounter()
        self.call_tokens = 0
        self._streams: list[ChatStream] = []
        self._thinking_inline = False
        self.filtered: LingmaContentFilterError | None = None
        self._check_budget: Budget | None = None   # made by the first check (`check_budget`)
        self.tool_log = RequestEvents()   # the first tool events logged, the rest summed
        # Call markup is parsed out of every answer to a request with tools or tool history,
        # whatever the tool choice: the prompt's <tool_call> blocks invite more of them.
        self.parses_calls = bool(chat.tools) or has_tool_history(chat.turns)
        # The answer text is held back until the calls are settled when the repair turn's text
        # may replace it (a whole answer) or a demanded call may come as plain JSON: a list of
        # (is it prose, event), or None when text goes out as it comes.
        holds = self.offered and not self.json_mode and (not chat.stream or chat.tool_choice.requires_call)
        self._held: list[tuple[bool, events.Text]] | None = [] if holds else None

    @property
    def check_budget(self) -> Budget:
        """The budget every schema check of this job shares, repair turn included.

        Made at the first check: most chats offer no tools and want no format, and check nothing.
        """
        if self._check_budget is None:
            self._check_budget = new_check_budget()
        return self._check_budget

    # -- starting --------------------------------------------------------------------
    @property
    def pending(self) -> bool:
        """Whether Lingma is not asked yet (`run()` launches a pending job after the wait)."""
        return self.stream is None

    def launch(self) -> ChatStream:
        """Resolve the model (unless resolved), render the prompt and ask Lingma; return the stream."""
        chat, ctx = self.chat, self.ctx
        if not self.resolved:
            self.target = resolve_target(chat.model, ctx.pool, ctx.aliases)
            self.resolved = True
        self.record.model = self.target.name
        check_images(chat, self.target, ctx.pool)
        self.sections = prompt_sections(chat)
        limit = prompt_limit(ctx.pool)
        # the cheap bound first: an over-long body is neither rendered nor counted
        check_length(text_length(chat.turns, self.sections), limit, at_least=True)
        prompt = render_prompt(chat.turns, self.sections)
        check_length(len(prompt), limit)
        self.prompt_tokens = count_prompt_tokens(chat, self.sections)
        context_guard.guard(ctx.pool, self.target.key, self.prompt_tokens)  # before Lingma is asked
        self.stream = stream = ctx.pool.ask(prompt, self.target.key, images=chat.images,
                                            tenant=self.record.key)
        self._streams.append(stream)
        self.record.instance = stream.instance_name
        return stream

    def _launch_when_ready(self, tick: float) -> Generator[events.Event, None, ChatStream]:
        """Wait for Lingma (starting, reconnecting) with keepalives, then launch."""
        deadline = time.monotonic() + self.ctx.startup_timeout
        while not self.ctx.pool.await_ready(min(tick, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                break  # launch() then says why Lingma is not ready
            yield events.KEEPALIVE
        return self.launch()

    # -- the events --------------------------------------------------------------------
    def run(self, tick: float) -> Iterator[events.Event]:
        """Yield the answer's events (see events.py); raise LingmaError / ApiError on failure."""
        try:
            stream = self.stream
            if stream is None:   # pending
                stream = yield from self._launch_when_ready(tick)
            first = yield from self._first_answer(stream, tick)
            wanted = self.chat.response_format
            if not self.offered:
                self._drop_markup(first)
            if wanted is not None and not (self.offered and (first.calls or first.broken)):
                yield from self._settle_json(wanted, first, tick)
            elif self.offered:
                yield from self._settle_calls(first, tick)
            else:
                yield self._finish(self.output.finish_reason or "stop")
        except LingmaContentFilterError as err:
            self.filtered = err
            yield from self._release()
            yield self._finish("content_filter")
        except LingmaQuotaError:
            self.ctx.observers.quota(True)
            raise
        else:
            self.ctx.observers.quota(False)
        finally:
            self.close()

    def _first_answer(self, stream: ChatStream, tick: float) -> Generator[events.Event, None, Answer]:
        """Read the first answer; ask once more if Lingma's connection died before it said anything.

        A Lingma that crashes as a chat goes out fails that chat with a lost connection before
        any token: nothing reached the client, so the chat waits for the respawn (as a new one
        would) and is asked again instead of failing.
        """
        answer = Answer(self.parses_calls)
        try:
            yield from self._read(stream, answer, tick, live=not self.json_mode)
        except LingmaConnectionError as error:
            if answer.raw or self.reasoning.count:
                raise
            log.info("Lingma's connection closed before the first token (%s); asking again once"
                     " Lingma is back", error.message)
            answer = Answer(self.parses_calls)
            stream = yield from self._launch_when_ready(tick)
            yield from self._read(stream, answer, tick, live=not self.json_mode)
        return answer

    def _read(self, stream: ChatStream, answer: Answer, tick: float, live: bool) -> Iterator[events.Event]:
        for item in stream.events(tick, coalesce=True, reasoning=True):
            if item is None:
                yield events.KEEPALIVE
                continue
            self.record.mark_first_token()
            if isinstance(item, Thought):
                if live:
                    yield from self._reason(item.text)
                continue
            texts = answer.feed(item)
            if not live:
                continue  # a repair turn: read it whole, whatever the first answer's finish
            yield from self._texts(texts)
            if self.output.finish_reason:
                stream.cancel(f"finish_reason {self.output.finish_reason}")
                return
        texts = answer.close()
        if live:
            yield from self._texts(texts)
            yield from self._flush()

    def _reason(self, text: str) -> Iterator[events.Event]:
        self.reasoning.add(text)
        if self.reasoning_mode == "separate":
            yield events.Reasoning(text)
        elif self.reasoning_mode == "inline":
            if not self._thinking_inline:
                self._thinking_inline = True
                yield from self._out(events.Text("<think>"))
            yield from self._out(events.Text(text))

    def _texts(self, texts: list[str]) -> Iterator[events.Event]:
        for text in texts:
            if text:
                yield from self._emit(self.output.feed(text))

    def _flush(self) -> Iterator[events.Event]:
        """Send what the output filter still holds back (not fed to it again: it ended)."""
        yield from self._emit(self.output.flush())

    def _emit(self, text: str) -> Iterator[events.Event]:
        if not text:
            return
        if self._thinking_inline:
            self._thinking_inline = False
            yield from self._out(events.Text("</think>\n"))
        yield from self._out(events.Text(text), prose=True)

    def _out(self, event: events.Text, prose: bool = False) -> Iterator[events.Event]:
        """Send a text event now, or hold it back while the answer's text may still change."""
        if self._held is None:
            yield event
        else:
            self._held.append((prose, event))

    def _release(self) -> Iterator[events.Event]:
        """Send the text held back; from now on text goes out as it comes."""
        held, self._held = self._held or [], None
        for _, event in held:
            yield event

    # -- tool calls --------------------------------------------------------------------
    def _settle_calls(self, first: Answer, tick: float) -> Iterator[events.Event]:
        checked = self._check(first, "repair")
        calls, problems = checked.calls, checked.problems
        if checked.untagged:
            self._forget_prose()   # the prose was the call, written as plain JSON
        if self.output.finish_reason == "length":
            # cut at the token limit: an unfinished answer is neither repaired nor required to
            # call; it ends as `length` with the calls it completed
            problems = []
        if problems:
            second = Answer(True)
            repair = contract.repair_text(problems, require_call=self.chat.tool_choice.requires_call)
            yield from self._read(self._ask_again(first, repair), second, tick, live=False)
            retried = self._check(second)
            if retried.calls:
                calls = retried.calls
            elif not calls and not retried.untagged and second.prose.strip():
                # no valid call: the repair answer's text (if it has any) is the answer
                yield from self._answer_instead(first, second.prose)
            calls = calls + self._still_invalid(retried, returning=bool(calls))
            if self.chat.tool_choice.requires_call and not calls:
                raise tool_call_invalid(retried.problems)
        yield from self._release()
        if not self.chat.parallel_tools:
            calls = calls[:1]
        if calls:
            self.call_tokens = sum(estimate_tokens(c.name + c.arguments_json()) for c in calls)
            self.record.tool_calls = len(calls)
            yield events.Calls(tuple(calls))
        yield self._finish("tool_calls" if calls else (self.output.finish_reason or "stop"))

    def _check(self, answer: Answer, on_problem: str | None = None) -> Checked:
        """Check an answer's calls; log the valid ones, and the problems as `on_problem` if given."""
        checked = check_answer(answer.calls, answer.broken, answer.prose, self.offered,
                               self.chat.tool_choice, self.chat.call_prefix, self.check_budget)
        for call in checked.calls:
            self._tool_event(call.name, "call")
        if on_problem is not None:
            for bad in checked.invalid:
                self._tool_event(bad.tool, on_problem, bad.problem)
        self.tool_log.summarize()
        return checked

    def _still_invalid(self, left: Checked, returning: bool) -> list[ToolCall]:
        """Apply LINGMA_INVALID_TOOL_CALLS to the calls still invalid after the repair turn.

        Return those passed on (`pass`); raise the 502 under `error`, or under `pass` when
        nothing at all could be returned. Each one is logged as a `failure` saying its fate.
        """
        if not left.invalid:
            return []
        mode = self.ctx.invalid_tool_calls
        passed = passed_on(left, self.offered, self.chat.call_prefix) if mode == "pass" else []
        refused = mode == "error" or (mode == "pass" and not passed and not returning)
        for bad in left.invalid:
            fate = ("refused (502)" if refused else
                    "passed on as given" if mode == "pass" and bad.passable else "dropped")
            self._tool_event(bad.tool, "failure", f"{fate}: {bad.problem}")
        self.tool_log.summarize()
        if refused:
            raise tool_call_invalid(left.problems)
        return passed

    def _drop_markup(self, answer: Answer) -> None:
        """Log the calls of an answer that may call nothing (tool_choice none, no tools): dropped."""
        why = "tool_choice is none" if self.chat.tools else "no tools are offered"
        for broken in answer.broken:
            self._tool_event("(unreadable)", "dropped", f"{why}: {broken.reason}")
        for call in answer.calls:
            self._tool_event(call.name or "(unnamed)", "dropped", f"{why}: the call is not returned")
        self.tool_log.summarize()

    def _tool_event(self, tool: str, event: str, detail: str = "") -> None:
        """Report a tool event (call, repair, failure, dropped) to the request's log and the observers (metrics)."""
        self.tool_log.record(tool, event, detail)
        self.ctx.observers.tool_event(tool, event)

    # -- the answer text ---------------------------------------------------------------
    def _forget_prose(self) -> None:
        """Drop the prose held back (what was read as a call); reasoning stays."""
        if self._held is not None:
            self._held = [(prose, event) for prose, event in self._held if not prose]

    def _answer_instead(self, first: Answer, text: str) -> Iterator[events.Event]:
        """Make the repair answer's text the answer's.

        Held back (a whole answer, or a demanded call), it replaces the first answer's prose.
        In a stream that prose was sent already: the repair text follows it, less an opening
        that repeats it; after a stop string it is not sent at all.
        """
        if self.json_mode:   # a response format as well: the text must be its JSON
            yield from self._json_text(self._checked_json(text))
            return
        if self._held is not None:
            self._forget_prose()
            self.output = OutputFilter(self.chat.stops, self.chat.max_tokens)
        elif self.output.stop_sequence is not None:
            return
        else:
            text = continuation(first.prose, text)
            self.output.resume()
        yield from self._texts([text])
        yield from self._flush()

    # -- structured output -------------------------------------------------------------
    def _settle_json(self, wanted: ResponseFormat, first: Answer, tick: float) -> Iterator[events.Event]:
        schema = wanted.checker or wanted.schema
        value, problem = check_json(first.prose, schema, self.check_budget)
        if problem:
            second = Answer(self.parses_calls)
            again = self._ask_again(first, contract.json_repair_text([problem]))
            yield from self._read(again, second, tick, live=False)
            value = self._checked_json(second.prose)
        yield from self._json_text(value)
        yield self._finish("stop")

    def _checked_json(self, text: str) -> object:
        """Return the response format's JSON in a repair answer's text, or raise the 502."""
        wanted = self.chat.response_format
        schema = (wanted.checker or wanted.schema) if wanted is not None else None
        value, problem = check_json(text, schema, self.check_budget)
        if problem:
            raise ApiError(502, "Lingma's answer did not match the requested response format,"
                           f" even after a repair turn: {problem}", code="response_format_invalid")
        return value

    def _json_text(self, value: object) -> Iterator[events.Event]:
        text = json.dumps(value, ensure_ascii=False)
        self.output.counter.add(text)
        yield events.Text(text)

    # -- shared ------------------------------------------------------------------------
    def _ask_again(self, answer: Answer, correction: str) -> ChatStream:
        """Ask Lingma once more: the conversation, its failed answer, and what to fix."""
        turns = self.chat.turns + (Turn("assistant", answer.text), Turn("user", correction))
        prompt = render_prompt(turns, self.sections)
        stream = self.ctx.pool.ask(prompt, self.target.key, tenant=self.record.key)
        self._streams.append(stream)
        return stream

    def _finish(self, reason: str) -> events.Finish:
        usage = self.usage()
        self.record.finish_reason = reason
        self.record.prompt_tokens, self.record.completion_tokens = (usage.prompt_tokens,
                                                                    usage.completion_tokens)
        stop = self.output.stop_sequence if reason == "stop" else None
        return events.Finish(reason, usage, stop)

    def usage(self) -> events.Usage:
        """Return the estimated usage so far."""
        reasoning = self.reasoning.count
        completion = self.output.completion_tokens + self.call_tokens + reasoning
        return events.Usage(self.prompt_tokens, completion, reasoning)

    def cancel(self, reason: str) -> None:
        """Tell Lingma to stop every stream of this job."""
        for stream in self._streams:
            stream.cancel(reason)

    def close(self) -> None:
        """Free every stream of this job (idempotent); count Lingma's finish codes once."""
        for stream in self._streams:
            stream.close()
        streams, self._streams = self._streams, []
        for stream in streams:
            finish = stream.finish
            if finish is not None:
                self.ctx.observers.lingma_finish(finish.status_code if finish.status_code is not None else 200)


def tool_call_invalid(problems: list[str]) -> ApiError:
    """The 502 of an answer whose calls are still invalid after its repair turn."""
    return ApiError(502, "Lingma's answer did not call a function validly, even after a repair"
                    " turn: " + "; ".join(problems)[:1000], code="tool_call_invalid")


def has_tool_history(turns: tuple[Turn, ...]) -> bool:
    """Tell whether a conversation holds earlier tool calls or tool results."""
    return any(turn.calls or turn.role == "tool" for turn in turns)


def continuation(sent: str, text: str) -> str:
    """Return what of `text` follows `sent` in a stream: less a repeated opening, on a new line."""
    if sent and text.startswith(sent):
        return text[len(sent):]
    if sent and text and not sent[-1].isspace() and not text[0].isspace():
        return "\n" + text
    return text


def prompt_sections(chat: ChatRequest) -> list[str]:
    """Return the extra system sections: offered tools, then the response format."""
    sections = [contract.tools_section(list(chat.tools), chat.tool_choice, chat.parallel_tools)]
    if chat.response_format is not None:
        sections.append(contract.schema_section(chat.response_format.schema))
    return [s for s in sections if s]


def prompt_limit(pool: Pool) -> int:
    """Return the pool's prompt length limit in characters (LINGMA_MAX_PROMPT_CHARS)."""
    return pool.settings.max_prompt_chars


def count_prompt_tokens(chat: ChatRequest, sections: list[str] | None = None) -> int:
    """Estimate the prompt's tokens: every turn and every extra section (count_tokens uses it)."""
    sections = prompt_sections(chat) if sections is None else sections
    texts = [turn_text(t) for t in chat.turns] + sections
    return estimate_prompt_tokens(texts)


def start(chat: ChatRequest, record: RequestRecord, ctx: Context) -> Job:
    """Start a job: everything that can fail before a response exists fails here.

    When no Lingma is ready (starting, reconnecting, respawning), a non-streamed request waits
    here for one (at most LINGMA_STARTUP_TIMEOUT) and the job is returned launched; a streamed
    one gets a pending job, which starts its response and waits inside it, with keepalives.
    `ctx` is the app's pool, aliases, settings and observers, as the face captured them.
    """
    record.model = chat.model
    record.note_prompt(next((turn.text for turn in reversed(chat.turns) if turn.role == "user"), ""))
    check_tool_choice(chat)
    ready = ctx.pool.wait_ready(0)
    if not ready and chat.stream:
        return Job(chat, record, ctx, known_target(chat, ctx))   # pending: run() launches it
    if not ready:
        ctx.pool.await_ready(ctx.startup_timeout)
    job = Job(chat, record, ctx)
    job.launch()
    return job


def known_target(chat: ChatRequest, ctx: Context) -> Target | None:
    """Resolve a pending job's model if Lingma's registry is known (404 now), else return None.

    Lingma keeps its registry across a respawn, so an unknown name is refused before a stream
    starts, as it is when Lingma is up; on a first start there is no registry yet and
    `launch()` resolves the name after the wait.
    """
    try:
        models = ctx.pool.models()
    except LingmaError:
        return None
    return resolve_target(chat.model, ctx.pool, ctx.aliases, models=models)


def check_tool_choice(chat: ChatRequest) -> None:
    """Refuse a tool choice that demands a call no offered tool can make (only a 502 could follow)."""
    choice = chat.tool_choice
    if not choice.requires_call or contract.offered_tools(list(chat.tools), choice):
        return
    # only a named choice has a name (ToolChoice checks it)
    wanted = f"a call of {choice.name[:60]!r}" if choice.name else "a function call"
    raise ApiError(400, f"tool_choice demands {wanted}, but 'tools' offers no such function.",
                   param="tool_choice", code="invalid_value")


def check_images(chat: ChatRequest, target: Target, pool: Pool) -> None:
    """Refuse images for a model without vision, naming the models that have it."""
    if not chat.images or (target.info is not None and target.info.is_vl):
        return
    vision = [m.key for m in pool.models() if m.is_vl]
    offer = f"; vision models: {', '.join(vision)}" if vision else "; no model offers vision"
    raise ApiError(400, f"The model '{target.name}' does not accept images{offer}.",
                   param="model", code="model_not_vision")


@dataclasses.dataclass
class Result:
    """A whole answer, gathered for a non-streaming response."""

    finish: events.Finish
    text: list[str] = dataclasses.field(default_factory=list)
    reasoning: list[str] = dataclasses.field(default_factory=list)
    calls: tuple[ToolCall, ...] = ()

    @property
    def content(self) -> str:
        """The answer text."""
        return "".join(self.text)


def collect(job: Job, client_alive: Callable[[], bool]) -> Result:
    """Gather a whole answer; cancel it when the client goes away meanwhile."""
    text: list[str] = []
    reasoning: list[str] = []
    calls: tuple[ToolCall, ...] = ()
    finish: events.Finish | None = None
    next_check = time.monotonic() + CLIENT_CHECK
    for event in job.run(CLIENT_CHECK):
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + CLIENT_CHECK
            if not client_alive():
                job.cancel("the client disconnected")
                raise ApiError(499, "The client closed the connection.", code="client_disconnected")
        if isinstance(event, events.Text):
            text.append(event.text)
        elif isinstance(event, events.Reasoning):
            reasoning.append(event.text)
        elif isinstance(event, events.Calls):
            calls = event.calls
        elif isinstance(event, events.Finish):
            finish = event
    if job.filtered is not None and not text:  # nothing to return but the refusal
        raise from_lingma(job.filtered)
    if finish is None:  # never: run() ends every answer it does not raise for with a Finish
        raise RuntimeError(f"the answer of request {job.record.id} ended without a finish")
    return Result(finish, text, reasoning, calls)
