"""The fresh ids: the shapes clients and Lingma see, and no repeats (across blocks and forks)."""

import os
import re
import uuid

from lingma_flask import ids
from lingma_flask.ids import hex_id
from lingma_flask.ids import random16
from lingma_flask.ids import uuid_text


def test_a_hex_id_is_32_lowercase_hex_digits_and_never_repeats():
    made = {hex_id() for _ in range(2000)}
    assert len(made) == 2000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in made)


def test_a_uuid_text_is_a_version_4_uuid_in_canonical_form():
    texts = {uuid_text() for _ in range(2000)}
    assert len(texts) == 2000
    for text in texts:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text


def test_random_pieces_are_16_bytes_and_never_repeat_across_blocks():
    pieces = [random16() for _ in range(3 * ids._BLOCK // 16 + 5)]   # more than three blocks
    assert all(len(piece) == 16 for piece in pieces)
    assert len(set(pieces)) == len(pieces)


def test_a_forked_child_draws_other_bytes_than_its_parent():
    random16()   # the parent holds unused pieces of a block when it forks
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: report its first two draws, then leave at once
        try:
            os.write(writing, random16() + random16())
        finally:
            os._exit(0)
    os.close(writing)
    try:
        child = os.read(reading, 32)
    finally:
        os.close(reading)
        os.waitpid(pid, 0)
    parent = random16() + random16()
    assert len(child) == 32 and child != parent
