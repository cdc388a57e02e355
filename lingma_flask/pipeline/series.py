"""Several prompts answered one after the other, as one answer (the legacy completions face).

The view starts the first prompt's job (what fails before a response exists fails there) and
hands it to a `Series` with all the prompts; the series starts each next prompt's job when
the previous one has finished. A whole answer collects `jobs()` one by one; a stream encodes
`run(tick)`, every prompt's events in turn, each prompt's ended by its own `Finish`.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence

from . import events
from .conversation import ChatRequest
from .job import Job
from .job import start


class Series:
    """The jobs of several prompts, in order; iterate `jobs()` or `run(tick)` once."""

    def __init__(self, first: Job, chats: Sequence[ChatRequest]) -> None:
        self.first, self.record, self.ctx = first, first.record, first.ctx
        self._rest = tuple(chats[1:])   # chats[0] is the first job's
        self._current = first

    def jobs(self) -> Iterator[Job]:
        """Yield the first job, then start and yield each next prompt's job in turn."""
        yield self.first
        for chat in self._rest:
            self._current = start(chat, self.record, self.ctx)
            yield self._current

    def run(self, tick: float) -> Iterator[events.Event]:
        """Yield every prompt's events in turn (see `Job.run`)."""
        for job in self.jobs():
            yield from job.run(tick)

    def close(self) -> None:
        """Free the streams of the job answering now (each job frees its own when it ends)."""
        self._current.close()
