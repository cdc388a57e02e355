"""One log format for everything the gateway writes, with secrets scrubbed from every line.

`LINGMA_LOG_FORMAT=json` (the default): one JSON object per line — `time`, `level`, `logger`
and `message`, or, for the per-request line, the request's fields (id, route, client address,
API key name, model, instance, status, finish reason, first-token and total ms). gunicorn's own lines use the same
formatter (gunicorn.conf.py). `text`: the classic `[time] [pid] [LEVEL] logger: message`, and
request lines as `request key=value ...`; control characters in them (newlines, C0/C1, U+2028/9)
are escaped and traceback lines indented, so a client's path or model name cannot start a
line that looks like a record of its own.

Whatever the format, the final line is scrubbed: the configured API keys, admin key, metrics
key, session secret and webhook URL, bearer tokens, and Lingma's `pt-`/`rt-` OAuth tokens are
replaced by `***`. Importing this module loads nothing but the standard library (gunicorn's
master imports it before gevent patches anything).

Under systemd, whose journal takes the service's stdout and stderr, each line starts with its
syslog priority (`<4>` for a warning: sd-daemon's prefix, which journald strips and stores), so
`journalctl -p warning` finds the warnings and errors. Elsewhere lines are written unchanged.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import sys

from .jsontext import encoder

REQUEST_LOGGER = "lingma_flask.requests"
MASK = "***"
_PATTERNS = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+|\b(pt|rt)-[A-Za-z0-9_\-.]{6,}")
# only a line holding one of these (lowercased) can match _PATTERNS: most lines skip the scan
_HINTS = ("bearer", "pt-", "rt-")
_secrets: set[str] = set()
_line = encoder(", ", ": ", default=str)  # json.dumps(data, ensure_ascii=False, default=str)
# text mode's escapes: C0, DEL and C1 controls, and the Unicode line and paragraph separators
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7f, 0xa0))}
_CONTROLS.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
                  0x2028: "\\u2028", 0x2029: "\\u2029"})
# logging level floor -> syslog priority (crit, err, warning, info; below INFO: debug = 7)
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def register_secrets(values) -> None:
    """Add values (keys, tokens, URLs) that must never appear in a log line."""
    _secrets.update(str(v) for v in values if v and len(str(v)) >= 4)


def scrub(line: str) -> str:
    """Replace every known secret and every token-looking string in a log line."""
    for secret in _secrets:
        if secret in line:
            line = line.replace(secret, MASK)
    lowered = line.lower()
    if not any(hint in lowered for hint in _HINTS):
        return line
    return _PATTERNS.sub(lambda m: (m.group(1) or "") + MASK, line)


def escape_controls(text: str) -> str:
    """Write control characters (C0, DEL, C1, U+2028/2029) as escapes: one line stays one line."""
    return text.translate(_CONTROLS)


class JsonFormatter(logging.Formatter):
    """Format a record as one scrubbed JSON line (request lines carry their fields)."""

    def format(self, record: logging.LogRecord) -> str:
        data = {"time": datetime.datetime.fromtimestamp(record.created, datetime.UTC)
                .isoformat(timespec="milliseconds"), "level": record.levelname,
                "logger": record.name, "pid": record.process}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        else:
            data["message"] = record.getMessage()
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return scrub(_line(data))


class TextFormatter(logging.Formatter):
    """Format a record as one scrubbed, escaped human line (request lines as key=value pairs)."""

    def __init__(self):
        super().__init__("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
                         "%Y-%m-%d %H:%M:%S %z")

    def formatMessage(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.message = "request " + " ".join(f"{k}={v}" for k, v in fields.items())
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        """Return the record's one escaped line, then any traceback on indented lines."""
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        lines = [escape_controls(scrub(self.formatMessage(record)))]
        trace = self.formatException(record.exc_info) if record.exc_info else record.exc_text
        for text in (trace, record.stack_info and self.formatStack(record.stack_info)):
            if text:
                lines.extend(_continuation(scrub(text)))
        return "\n".join(lines)


def _continuation(text: str) -> list[str]:
    """Indent a traceback's lines (escaped): only a record's own line starts at column 0."""
    return ["  " + escape_controls(line) for line in text.split("\n")]


def formatter(kind: str) -> logging.Formatter:
    """Return the formatter for LINGMA_LOG_FORMAT (`json` or `text`)."""
    return TextFormatter() if kind == "text" else JsonFormatter()


def syslog_priority(level: int) -> int:
    """Return the syslog priority (0-7) of a logging level."""
    return next((priority for floor, priority in _PRIORITIES if level >= floor), 7)


def is_journal(stream) -> bool:
    """Tell whether `stream` is the journal stream systemd connected (`JOURNAL_STREAM`).

    systemd sets JOURNAL_STREAM to the device and inode of that stream; a process it starts
    may pass the variable on to one whose output goes elsewhere, so the stream is compared.
    """
    expected = os.environ.get("JOURNAL_STREAM")
    if not expected:
        return False
    try:
        info = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # no descriptor (a capture), or closed
        return False
    return expected == f"{info.st_dev}:{info.st_ino}"


class JournalAwareHandler(logging.StreamHandler):
    """A stream handler that starts each line with its syslog priority when writing to the journal."""

    _checked: tuple[object, str | None, bool] | None = None  # (stream, JOURNAL_STREAM, verdict)

    def format(self, record: logging.LogRecord) -> str:
        """Format the record; prefix each of its lines with `<priority>` for the journal."""
        text = super().format(record)
        if not self._to_journal():
            return text
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in text.split("\n"))

    def _to_journal(self) -> bool:
        stream, variable = self.stream, os.environ.get("JOURNAL_STREAM")
        checked = self._checked
        if checked is None or checked[0] is not stream or checked[1] != variable:
            checked = self._checked = (stream, variable, is_journal(stream))
        return checked[2]


class _StdoutHandler(JournalAwareHandler):
    """A handler that always writes to the current sys.stdout (test captures replace it)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def configure_logging(level: str, kind: str = "json", secrets=()) -> None:
    """Set the package's level and format; request lines go to stdout, the rest to stderr.

    Under gunicorn the root logger already has gunicorn.conf.py's handlers (same format);
    elsewhere the package gets a stderr handler of its own.
    """
    register_secrets(secrets)
    # No line shows a record's caller or thread: the logging HOWTO's "Optimization" switches
    # spare each record a stack walk (findCaller) and the thread and process name lookups.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    package = logging.getLogger("lingma_flask")
    package.setLevel(level)
    if not package.handlers and not logging.getLogger().handlers:
        package.addHandler(JournalAwareHandler())
    for handler in package.handlers:
        handler.setFormatter(formatter(kind))
    requests = logging.getLogger(REQUEST_LOGGER)
    requests.setLevel(min(logging.INFO, package.level))  # health checks' lines are DEBUG
    requests.propagate = False
    stdout = next((h for h in requests.handlers if isinstance(h, _StdoutHandler)), None)
    if stdout is None:
        stdout = _StdoutHandler()
        requests.addHandler(stdout)
    stdout.setFormatter(formatter(kind))


def gunicorn_logconfig(kind: str) -> dict:
    """gunicorn's `logconfig_dict`: its lines (and the root logger's) in the chosen format."""
    make = "lingma_flask.logs.JsonFormatter" if kind != "text" else "lingma_flask.logs.TextFormatter"
    stream = {"class": "lingma_flask.logs.JournalAwareHandler", "formatter": "gateway"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"gateway": {"()": make}},
        "handlers": {"console": {**stream, "stream": "ext://sys.stderr"},
                     "error_console": {**stream, "stream": "ext://sys.stderr"}},
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            # the gateway writes its own line per request; gunicorn's would repeat it
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }
