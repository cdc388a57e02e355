"""ThinkSplitter: think fences inside answer text never reach the answer, however they are cut."""

import pytest

from lingma_flask.lingma.think import ThinkSplitter

FENCED = "\n```think::{THINK_TIME}\nLet me think: 2+2.\n```\nThe answer is 4. Use `x` here."


def split(chunks):
    splitter = ThinkSplitter()
    answer = "".join(splitter.feed(c) for c in chunks) + splitter.flush()
    return answer, splitter.reasoning


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11, 1000])
def test_markers_cut_anywhere_are_removed(size):
    chunks = [FENCED[i:i + size] for i in range(0, len(FENCED), size)]
    assert split(chunks) == ("The answer is 4. Use `x` here.", "Let me think: 2+2.")


def test_plain_text_and_ordinary_code_fences_pass_through():
    text = "Here:\n```python\nprint(1)\n```\nDone `ok`"
    assert split([text[i:i + 3] for i in range(0, len(text), 3)]) == (text, "")


def test_an_unclosed_think_block_is_all_reasoning():
    assert split(["```think::1\nstill thinking"]) == ("", "still thinking")


def test_a_trailing_backtick_is_released_at_the_end():
    splitter = ThinkSplitter()
    assert splitter.feed("a `") == "a "
    assert splitter.flush() == "`"
