"""Anthropic message threads: the conversation a `thread` keeps on the server, by message id.

The `anthropic` SDK's tool runner (and `client.beta.messages.thread()`) sends
`thread: {"type": "create"}` with the whole conversation, then `{"type": "continue",
"previous_message_id": "msg_…"}` with only the new messages and without `system` and `tools`:
the server holds those. Here a thread is kept the way `previous_response_id` keeps a Responses
conversation (`state.Kept`: in this worker's memory, bounded in items and bytes, least recently
used first, and with the store on in the database every worker and host reads; scoped to the
API key's name, forgotten after LINGMA_STATE_TTL), as JSON texts: the thread's `system` and
`tools` as it was created, then each message, the answer included. In memory a message's entry
shares the texts of the one it continues, so a long thread costs its bytes once; its database
row is the JSON array of those texts (`texts_json`).

A `continue` is answered exactly as the whole conversation would be: the thread's fields and
messages, then the request's, make one Messages body, read with every body's limits (its size
against LINGMA_MAX_BODY_BYTES, then the JSON structure bounds of `web/body.py`), validated and
rendered (so a validation error's `messages[i]` counts the thread's messages too). A message can be continued
more than once; each continuation forks. Errors carry Anthropic's `error.details.error_code`,
which the SDK acts on by itself: `thread_not_found` (404: unknown, evicted, expired, another
key's, or kept by another worker with the store off) makes it replay the whole conversation under a new thread;
`thread_fingerprint_mismatch` (400) is a `continue` whose `system` or `tools` differ from the
thread's.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any
from typing import Literal

from flask import current_app
from pydantic import Field
from pydantic import model_validator

from ..jsontext import compact
from ..web.body import decode_json
from ..web.errors import ApiError
from .responses_store import SharedStore
from .responses_store import str_bytes
from .state import Codec
from .state import Kept
from .state import shared_state
from .validation import Lenient
from .validation import validate

MESSAGE_ID = re.compile(r"msg_[0-9a-f]{32}")   # what anthropic.new_message_id gives
STORE_KEY = "lingma_anthropic_threads"
SCOPE = "thread"         # the kind of shared state a thread's message is
ITEM_OVERHEAD = 150      # a held text's row in the store's reference table
FIXED = ("system", "tools")   # the fields a thread keeps as it was created
ERROR_CODES = frozenset({"thread_not_found", "thread_fingerprint_mismatch"})


class ThreadSpec(Lenient):
    """The `thread` field: `{"type": "create"}` or `{"type": "continue", "previous_message_id"}`."""

    type: Literal["create", "continue"]
    previous_message_id: str | None = Field(None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _continues_one(self):
        if self.type == "continue" and self.previous_message_id is None:
            raise ValueError("a continue needs 'previous_message_id'")
        return self


class ThreadField(Lenient):
    """Wraps `thread` so a validation error names `thread.…`."""

    thread: ThreadSpec


def text_bytes(text: str) -> int:
    """Return what one stored JSON text holds in memory, with its row in the store."""
    return str_bytes(text) + ITEM_OVERHEAD


def new_store() -> SharedStore[str]:
    """Return an empty thread store (the same bounds as the Responses store)."""
    return SharedStore(text_bytes)


def get_store() -> Kept[str]:
    """Return this app's thread store: its memory, and the shared state behind it."""
    return Kept(current_app.extensions[STORE_KEY], SCOPE, CODEC, shared_state(), "thread", MESSAGE_ID)


def to_json(value: Any) -> str:
    """Return the compact JSON text a stored field or message is kept as."""
    return compact(value)


def texts_json(texts: tuple[str, ...]) -> bytes:
    """Return a thread's texts as the JSON array shared through the database (each is JSON)."""
    return ("[" + ",".join(texts) + "]").encode()


def texts_from_json(value: bytes) -> tuple[str, ...]:
    """Read `texts_json`'s array back into the texts (each re-encoded as `to_json` made it)."""
    items = json.loads(value)
    if not isinstance(items, list):
        raise TypeError("a thread is a JSON array")
    return tuple(to_json(item) for item in items)


CODEC = Codec(texts_json, texts_from_json)


@dataclasses.dataclass(frozen=True)
class Thread:
    """A request's place in a thread: what its answer is stored with, and the body to answer."""

    fixed: str                  # JSON of the thread's `system` and `tools`, as created
    messages: tuple[str, ...]   # JSON of every message so far, the request's included
    body: dict                  # the whole Messages body, without `thread`

    def keep(self, store: SharedStore[str] | Kept[str], message_id: str, owner: str, text: str,
             calls: tuple) -> bool:
        """Store the thread up to this answer under its message id; False if too large."""
        content: list[dict] = [{"type": "text", "text": text}] if text else []
        content += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                    for c in calls]
        answer = to_json({"role": "assistant", "content": content})
        return store.put(message_id, (self.fixed, *self.messages, answer), owner)


def open_thread(data: dict, store: SharedStore[str] | Kept[str], owner: str,
                max_bytes: int) -> Thread | None:
    """Read a body's `thread`: None without one, else the thread with the whole body to answer.

    Raises a 400 for an invalid `thread` or a `continue` that changes `system` or `tools`, a
    404 `thread_not_found` when `owner` has no such message in the store (a 503 when the
    database that shares it cannot be read), and what
    reading the whole body would raise (a 413 over `max_bytes`, a 400 past the JSON bounds).
    """
    raw = data.get("thread")
    if raw is None:
        return None
    spec = validate(ThreadField, {"thread": raw}).thread
    request = {k: v for k, v in data.items() if k != "thread"}
    messages = request.get("messages", [])
    if not isinstance(messages, list):
        return Thread("", (), request)   # its `messages` fails validation: nothing is kept
    new = tuple(to_json(m) for m in messages)
    if spec.type == "create" or spec.previous_message_id is None:
        return Thread(to_json({f: data.get(f) for f in FIXED}), new, request)
    held = store.lookup(spec.previous_message_id, owner)
    if not held:
        raise thread_not_found(spec.previous_message_id)
    fixed, earlier = held[0], held[1:]
    fields = json.loads(fixed)
    changed = [f for f in FIXED if request.get(f) is not None and request[f] != fields.get(f)]
    if changed:
        raise ApiError(400, f"thread: {' and '.join(changed)} differ from the thread's; send the"
                       " values the thread was created with (or none), or start a new thread"
                       ' with {"type": "create"} and the whole conversation.', param="thread",
                       code="thread_fingerprint_mismatch")
    texts = earlier + new
    rest = {k: v for k, v in request.items() if k != "messages"}
    rest.update((f, v) for f, v in fields.items() if v is not None)
    return Thread(fixed, texts, whole_body(rest, texts, max_bytes))


def whole_body(rest: dict, messages: tuple[str, ...], max_bytes: int) -> dict:
    """Return the Messages body of `rest` and the messages' JSON texts, read as a request body."""
    head = to_json(rest)[:-1]
    raw = (head + ("," if len(head) > 1 else "") + '"messages":[' + ",".join(messages)
           + "]}").encode()
    if len(raw) > max_bytes:
        raise ApiError(413, f"thread: the thread's conversation with this request is {len(raw)}"
                       f" bytes, over LINGMA_MAX_BODY_BYTES = {max_bytes} (the largest body);"
                       " start a new thread with a shorter conversation.",
                       code="request_too_large")
    return decode_json(raw)


def thread_not_found(message_id: str) -> ApiError:
    """Build the 404 the SDK answers by replaying the whole conversation under a new thread."""
    return ApiError(404, f"thread: no thread holds the message '{message_id[:100]}'. This gateway"
                    " keeps recent threads per API key, for LINGMA_STATE_TTL (in memory, per worker"
                    " process, when its store is off); replay the whole conversation with thread"
                    ' {"type": "create"}.',
                    param="thread", code="thread_not_found")
