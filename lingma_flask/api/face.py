"""What every API face does the same way: read the body, and answer as JSON or as SSE.

A face module parses its body into a `ChatRequest`, calls `pipeline.start` with the app's
`context()`, then either `collect_answer(job)` (JSON) or `stream_answer(job, encoder)` (SSE).
An encoder turns the common events into the face's frames:

    encoder.open()        -> frames sent at once (headers and a first byte right away)
    encoder.event(event)  -> frames for one event (KEEPALIVE included)
    encoder.fail(error)   -> frames that end the stream with an ApiError
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from collections.abc import Iterator

from flask import request

from ..extension import get_observers
from ..extension import get_pool
from ..extension import get_settings
from ..lingma.errors import LingmaError
from ..pipeline.conversation import ChatRequest
from ..pipeline.job import Context
from ..pipeline.job import Job
from ..pipeline.job import Result
from ..pipeline.job import collect
from ..pipeline.series import Series
from ..pipeline.targets import resolve_target
from ..web import sse
from ..web.body import decode_json
from ..web.connection import client_gone
from ..web.connection import client_socket
from ..web.connection import read_body
from ..web.connection import set_write_deadline
from ..web.errors import ApiError
from ..web.errors import from_lingma

log = logging.getLogger(__name__)


def read_json_body() -> dict:
    """Read and decode the request body (size, time and shape bounded) into a JSON object."""
    settings = get_settings()
    raw = read_body(request.environ, settings.max_body_bytes, settings.body_timeout)
    return decode_json(raw)


def context() -> Context:
    """Capture what the pipeline needs of the current app: pool, aliases, settings, observers.

    Call it inside the request; a stream's generator keeps the job's, made here.
    """
    settings = get_settings()
    return Context(get_pool(), settings.model_aliases, settings.reasoning, settings.sse_keepalive,
                   get_observers(), settings.invalid_tool_calls)


def check_model(chat: ChatRequest) -> None:
    """Refuse an unknown model name as answering would (404), without asking Lingma anything.

    For the routes that only count tokens: when the registry is unavailable the name is let
    through, since counting does not need Lingma.
    """
    settings = get_settings()
    try:
        resolve_target(chat.model, get_pool(), settings.model_aliases)
    except LingmaError:
        pass


def answer_headers(job: Job) -> dict[str, str]:
    """Headers every answer carries: usage is estimated; which Lingma model answered."""
    return {"x-lingma-usage": "estimated", "x-lingma-model": job.target.key}


def collect_answer(job: Job) -> Result:
    """Gather the whole answer, cancelling it if the client hangs up meanwhile."""
    sock = client_socket(request.environ)
    return collect(job, lambda: not client_gone(sock))


def stream_answer(job: Job | Series, encoder, headers: dict[str, str] | None = None):
    """Return the SSE response of a job or a `Series`; the stream fills in the request's record
    as it ends, and the response's close writes the line."""
    settings = get_settings()
    try:
        frames = _frames(job, encoder, settings.sse_keepalive)
        # the write guard (connection.init_app) times every body; a stream's also has a deadline
        set_write_deadline(request.environ, time.monotonic() + settings.total_timeout)
        response = sse.event_stream(frames, headers=headers)
    except BaseException:
        job.close()
        raise
    # a generator never started is never closed: free the job when the response is
    response.call_on_close(job.close)
    return response


def joined(frames) -> bytes:
    """The frames of one event as one write (a socket write per frame costs more than bytes)."""
    return b"".join(f.encode() if isinstance(f, str) else f for f in frames)


def encoded_frames(job: Job | Series, encoder, keepalive: float) -> Generator:
    """The frames `stream_answer` writes, one joined chunk per event, for another transport
    (the Responses WebSocket); closing the generator ends the job."""
    yield from _frames(job, encoder, keepalive)


def _frames(job: Job | Series, encoder, keepalive: float) -> Iterator:
    record, ended, observers = job.record, False, job.ctx.observers
    observers.stream_opened()
    try:
        yield joined(encoder.open())
        for event in job.run(keepalive):
            frames = joined(encoder.event(event))
            if frames:
                yield frames
        ended = True
    except (LingmaError, ApiError) as exc:
        error = from_lingma(exc) if isinstance(exc, LingmaError) else exc
        record.error, ended = error.code or error.type, True
        yield joined(encoder.fail(error))
    except Exception:
        log.exception("stream %s failed", record.id)
        record.error, ended = "internal_error", True
        yield joined(encoder.fail(ApiError(500, "The gateway hit an internal error; see the"
                                           " server log.", code="internal_error")))
    finally:
        # never yield here: a GeneratorExit (client gone) passes through this block
        job.close()
        observers.stream_closed()
        if not ended:
            record.error = record.error or "client_disconnected"
