"""Fresh random ids (request, completion, message and Lingma session ids), cheaply.

`uuid.uuid4()` builds a `UUID` object only to format it at once: 3.3 µs, against 0.7 µs for
16 bytes of `os.urandom` as hex, and a chat takes four ids.
"""

from __future__ import annotations

import os


def hex_id() -> str:
    """32 random hex digits (as `uuid.uuid4().hex` is shaped)."""
    return os.urandom(16).hex()


def uuid_text() -> str:
    """A random version-4 UUID as text, `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
