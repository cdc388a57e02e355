"""Stop strings and max_tokens as the gateway applies them to chunks."""

import pytest

from lingma_flask.pipeline.output import OutputFilter


def run(chunks, **kwargs):
    out = OutputFilter(**kwargs)
    sent = []
    for chunk in chunks:
        sent.append(out.feed(chunk))
        if out.finish_reason:
            break
    else:
        sent.append(out.flush())
    return sent, out.finish_reason


def test_no_rules_passes_chunks_through_unbuffered():
    assert run(["a", "b", "c"]) == (["a", "b", "c", ""], "stop")


def test_stop_inside_one_chunk_ends_before_it():
    assert run(["Hello END world"], stops=("END",)) == (["Hello "], "stop")


def test_stop_split_across_chunks_is_caught():
    sent, reason = run(["Hello E", "N", "D more"], stops=("END",))
    assert "".join(sent) == "Hello "
    assert reason == "stop"


def test_only_a_tail_is_held_back():
    out = OutputFilter(stops=("STOP",))
    assert out.feed("abcdefgh") == "abcde"      # holds len("STOP") - 1 = 3 characters
    assert out.feed("ij") == "fg"
    assert out.flush() == "hij"
    assert out.finish_reason == "stop"


def test_earliest_of_several_stops_wins():
    sent, reason = run(["x##y\n\nz"], stops=("\n\n", "##"))
    assert "".join(sent) == "x"


def test_stop_not_present_releases_everything_at_the_end():
    sent, reason = run(["ab", "c"], stops=("zz",))
    assert "".join(sent) == "abc" and reason == "stop"


def test_max_tokens_cuts_and_reports_length():
    sent, reason = run(["abcd", "efgh", "ijkl"], max_tokens=2)
    assert "".join(sent) == "abcdefgh"
    assert reason == "length"


def test_max_tokens_exactly_reached_by_a_natural_end_is_stop():
    sent, reason = run(["abcd", "efgh"], max_tokens=2)
    assert "".join(sent) == "abcdefgh" and reason == "stop"


def test_length_beats_a_later_stop():
    sent, reason = run(["abcdefgh STOP"], stops=("STOP",), max_tokens=1)
    assert "".join(sent) == "abcd" and reason == "length"


def test_completion_tokens_count_only_what_was_released():
    out = OutputFilter(stops=("xyz",))
    out.feed("你好abcd")
    assert out.completion_tokens == 3                  # "你好ab" released, "cd" held
    out.flush()
    assert out.completion_tokens == 3


@pytest.mark.parametrize("chunks", [["a", "b", "E", "N", "D"], ["abE", "ND"], ["abEND"]])
def test_stop_at_any_split(chunks):
    sent, reason = run(chunks, stops=("END",))
    assert "".join(sent) == "ab" and reason == "stop"


def test_feed_after_finish_sends_nothing():
    out = OutputFilter(stops=("!",))
    assert out.feed("hi!") == "hi"
    assert out.feed("more") == ""


@pytest.mark.parametrize("text", ["plain", "", "quote \" and \\ backslash", "line\nbreak", "中文 🎉",
                                  "\u0001slot\u0001"])
def test_sse_template_is_byte_identical_to_encode(text):
    from lingma_flask.web import sse
    payload = {"id": "x", "choices": [{"index": 0, "delta": {"content": sse.SLOT}, "finish_reason": None}]}
    fill = sse.template(payload)
    expected = sse.encode({"id": "x", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})
    assert fill(text) == expected.encode()
