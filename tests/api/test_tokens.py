"""The one token estimator."""

import pytest

from lingma_flask.pipeline.tokens import TokenCounter
from lingma_flask.pipeline.tokens import estimate_prompt_tokens
from lingma_flask.pipeline.tokens import estimate_tokens


@pytest.mark.parametrize("text, tokens", [
    ("", 0),
    ("a", 1),
    ("abcd", 1),
    ("abcde", 2),
    ("hello world", 3),
    ("你好", 2),
    ("你好abc", 3),
    ("ab你cd", 3),          # runs: "ab" -> 1, 你 -> 1, "cd" -> 1
    ("こんにちは", 5),
    ("안녕", 2),
    ("ｈｉ", 2),             # full-width forms count like CJK
    ("x" * 400, 100),
])
def test_estimate_tokens(text, tokens):
    assert estimate_tokens(text) == tokens


def test_estimate_is_deterministic_and_incremental():
    text = "def f(x):\n    return 中文 + x  # 注释 done"
    counter = TokenCounter()
    for char in text:
        counter.add(char)
    assert counter.count == estimate_tokens(text) == estimate_tokens(text)


def test_prompt_tokens_add_four_per_message():
    assert estimate_prompt_tokens(["abcd", "你好"]) == (4 + 1) + (4 + 2)
    assert estimate_prompt_tokens([]) == 0


@pytest.mark.parametrize("text, limit, kept, cut", [
    ("hello world", 2, "hello wo", True),
    ("hello world", 3, "hello world", False),
    ("你好世界", 2, "你好", True),
    ("abc", None, "abc", False),
    ("abc", 0, "", True),
])
def test_take_cuts_at_the_limit(text, limit, kept, cut):
    counter = TokenCounter()
    assert counter.take(text, limit) == (kept, cut)
    assert counter.count == estimate_tokens(kept)


def test_take_continues_across_calls():
    counter = TokenCounter()
    assert counter.take("abcde", 3) == ("abcde", False)      # 2 tokens
    # the run continues: 12 characters are 3 tokens, the 13th would start a 4th
    assert counter.take("fghijklmn", 3) == ("fghijkl", True)
    assert counter.count == 3
