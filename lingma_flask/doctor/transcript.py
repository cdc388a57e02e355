"""The transcript of `doctor --lingma`: every frame written and read, timed, saved redacted.

Frames are kept as they went (so the redactor can first learn the account from all of them)
and written at the end, one line each: seconds since the start, the connection (`classic`,
`acp`), `C→S` or `S→C`, and the message as JSON; then the table of results. Every line of
the file goes through the redactor (redact.py): it is meant to be attached to a bug report.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import threading
import time
from pathlib import Path

from .redact import Redactor

SENT, RECEIVED = "C→S", "S→C"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One frame (`message`, decoded JSON) or one line of text about the wire (`text`)."""

    seconds: float
    channel: str
    direction: str
    message: object = None
    text: str | None = None


class Transcript:
    """Frames and notes of one run, in order; thread-safe to append to."""

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self.entries: list[Entry] = []
        self.header: list[str] = []

    def _add(self, entry: Entry) -> None:
        with self._lock:
            self.entries.append(entry)

    def elapsed(self) -> float:
        """Seconds since the transcript began."""
        return time.monotonic() - self._started

    def frame(self, channel: str, direction: str, message: object) -> None:
        """Record one JSON-RPC message sent (`SENT`) or received (`RECEIVED`) on `channel`."""
        self._add(Entry(self.elapsed(), channel, direction, message=message))

    def event(self, channel: str, text: str) -> None:
        """Record something about the wire that is not a message (connected, closed, skipped frame)."""
        self._add(Entry(self.elapsed(), channel, "--", text=text))

    def note(self, text: str) -> None:
        """Add a line to the file's header (what was checked, how it was found)."""
        self.header.append(text)

    def render(self, redactor: Redactor, results: list[str]) -> str:
        """Return the whole file's text, every line redacted."""
        with self._lock:
            entries = list(self.entries)
        for entry in entries:
            redactor.learn(entry.message)
        lines = ["# lingma-flask doctor --lingma: the frames between the doctor and Lingma",
                 f"# {time.strftime('%Y-%m-%d %H:%M:%S %z')}; Python {platform.python_version()};"
                 f" {sys.platform} {platform.machine()}",
                 "# redacted: tokens, cookies, account names and ids (<account>), e-mail addresses,"
                 " the work dir (<work-dir>) and the home folder (~)"]
        lines += [f"# {redactor.text(line)}" for line in self.header]
        lines.append("")
        for entry in entries:
            body = redactor.text(entry.text or "") if entry.message is None else redactor.message(entry.message)
            lines.append(f"{entry.seconds:9.3f}s  {entry.channel:<7}  {entry.direction}  {body}")
        lines += ["", "# results"]
        lines += [f"# {redactor.text(line)}" for line in results]
        return "\n".join(lines) + "\n"

    def write(self, path: Path, redactor: Redactor, results: list[str]) -> Path:
        """Write the redacted transcript to `path` (readable by its owner only); return the path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        text = self.render(redactor, results)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        return path
