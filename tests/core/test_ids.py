"""The fresh ids: the shapes clients and Lingma see, and no repeats."""

import re
import uuid

from lingma_flask.ids import hex_id
from lingma_flask.ids import uuid_text


def test_a_hex_id_is_32_lowercase_hex_digits_and_never_repeats():
    ids = {hex_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_a_uuid_text_is_a_version_4_uuid_in_canonical_form():
    texts = {uuid_text() for _ in range(2000)}
    assert len(texts) == 2000
    for text in texts:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text
