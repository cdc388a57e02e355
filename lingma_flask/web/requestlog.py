"""Request ids (x-request-id on every response) and one JSON log line per request.

The Flask hooks: each request gets a `RequestRecord` (record.py, Flask-free). Its line is
written in one place, when the server closes the response: after the last byte of a JSON
answer, and after a stream's generator has ended and filled in how it ended.
"""

from __future__ import annotations

import re

from flask import Flask

from ..extension import app_globals
from ..extension import current_request
from ..extension import get_observers
from ..ids import hex_id
from .record import RequestRecord

HEADER = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def request_id() -> str:
    """Return the client's x-request-id if sane, else a fresh one."""
    incoming = current_request().headers.get(HEADER, "")
    return incoming if _SANE_ID.fullmatch(incoming) else "req_" + hex_id()


def current_record() -> RequestRecord:
    """Return this request's record (made on demand if before_request did not run)."""
    context = app_globals()  # several calls per request: no proxy in between
    record = context.get("request_record")
    if record is None:
        request = current_request()
        record = context.request_record = RequestRecord(request_id(), request.method, request.path,
                                                  get_observers(), client=request.remote_addr)
    return record


def start_record() -> None:
    """Open the request's record."""
    current_record()


def finish_record(response):
    """Stamp x-request-id on the response; its line is logged when the response is closed."""
    record = current_record()
    response.headers[HEADER] = record.id
    record.status = response.status_code
    rule = current_request().url_rule
    if rule is not None:
        record.route = record._rule = rule.rule
    response.call_on_close(record.write)
    return response


def init_app(app: Flask) -> None:
    """Register the request id and log hooks."""
    app.before_request(start_record)
    app.after_request(finish_record)
