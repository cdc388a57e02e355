"""The LSP framing codec: encode, and an incremental decoder fed in every possible way."""

import json
import random

import pytest

from lingma_flask.lingma import framing


def frames(*messages):
    return b"".join(framing.encode(m) for m in messages)


def test_encode_counts_utf8_bytes():
    data = framing.encode({"text": "中文"})
    header, body = data.split(b"\r\n\r\n", 1)
    assert header == b"Content-Length: %d" % len(body)
    assert json.loads(body) == {"text": "中文"}
    assert len(body) > len('{"text":"中文"}')  # bytes, not characters


def test_byte_by_byte_including_inside_utf8():
    data = frames({"a": "héllo 世界"}, {"b": 2})
    decoder = framing.FrameDecoder()
    out = []
    for i in range(len(data)):
        out += decoder.feed(data[i:i + 1])
    assert out == [{"a": "héllo 世界"}, {"b": 2}]
    assert decoder.buffered == 0


def test_several_frames_in_one_message():
    assert framing.FrameDecoder().feed(frames({"i": 1}, {"i": 2}, {"i": 3})) == [{"i": 1}, {"i": 2}, {"i": 3}]


@pytest.mark.parametrize("header", [
    b"content-length: 2\r\n\r\n",
    b"CONTENT-LENGTH:2\r\n\r\n",
    b"Content-Type: application/vscode-jsonrpc\r\nContent-Length: 2\r\n\r\n",
    b"Content-Length: 2\r\nX-Extra: yes\r\n\r\n",
    b"Content-Length: 2\n\n",
])
def test_header_variants(header):
    assert framing.FrameDecoder().feed(header + b"{}") == [{}]


def test_frame_without_length_is_skipped_and_counted(caplog):
    decoder = framing.FrameDecoder()
    out = decoder.feed(b"X-Nothing: 1\r\n\r\n" + frames({"ok": True}))
    assert out == [{"ok": True}]
    assert decoder.skipped == 1
    assert "without a valid Content-Length" in caplog.text


def test_invalid_json_is_skipped_not_fatal(caplog):
    decoder = framing.FrameDecoder()
    out = decoder.feed(b"Content-Length: 5\r\n\r\n{nope" + frames({"after": 1}))
    assert out == [{"after": 1}]
    assert decoder.skipped == 1
    assert "invalid JSON" in caplog.text


def test_oversized_frame_raises_before_buffering():
    decoder = framing.FrameDecoder(max_frame=100)
    with pytest.raises(framing.FrameTooLarge, match="exceeds the 100-byte limit"):
        decoder.feed(b"Content-Length: 101\r\n\r\n")


def test_endless_header_raises():
    with pytest.raises(framing.FrameTooLarge):
        framing.FrameDecoder().feed(b"X" * 10000)


def test_partial_frame_waits():
    data = framing.encode({"long": "x" * 1000})
    decoder = framing.FrameDecoder()
    assert decoder.feed(data[:-1]) == []
    assert decoder.feed(data[-1:]) == [{"long": "x" * 1000}]


@pytest.mark.parametrize("rid", [0, 7, -3, 2**70, "abc", "é\"\\\n", 1.5, True, None, [1]])
def test_an_ack_is_the_encoded_reply_message(rid):
    reply = {"jsonrpc": "2.0", "id": rid, "result": {}}
    assert framing.ack(rid) == framing.encode(reply)
    assert framing.FrameDecoder().feed(framing.ack(rid)) == [reply]


@pytest.mark.parametrize("separator", [b"\r\n\r\n", b"\n\n"])
@pytest.mark.parametrize("header", [b"Content-Length: %d", b"content-length:%d",
                                    b"Content-Type: x\r\nContent-Length:  %d "])
def test_a_body_holding_either_separator_does_not_end_the_header_early(separator, header):
    # JSON strings cannot hold raw newlines, but whitespace between tokens can
    bodies = [b'{"text":\n\n"a"}', b'{"text":\r\n\r\n"c"}']
    stream = b"".join(header % len(b) + separator + b for b in bodies)
    assert framing.FrameDecoder().feed(stream) == [{"text": "a"}, {"text": "c"}]


def test_a_length_of_thousands_of_digits_is_skipped_not_fatal():
    # int() refuses numbers of over 4,300 digits with a ValueError: that must not escape
    decoder = framing.FrameDecoder()
    out = decoder.feed(b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n" + frames({"ok": True}))
    assert out == [{"ok": True}]
    assert decoder.skipped == 1


def _mixed_stream():
    return (frames({"i": 1}, {"t": "中文 " * 40})
            + b"Content-Type: application/vscode-jsonrpc\r\nContent-Length: 8\r\n\r\n" + b'{"i": 3}'
            + frames({"i": 4}) + b"Content-Length: 9\n\n" + b'{"i": 5 }'
            + b"Content-Length: 3\r\n\r\n{x}"               # invalid JSON: skipped
            + b"X-No-Length: 1\r\n\r\n"                      # no length: skipped
            + b"Content-Length: 0007\r\n\r\n" + b'{"i":6}' + frames({"i": 7}))


def _fed(chunks):
    decoder, out = framing.FrameDecoder(), []
    for chunk in chunks:
        out += decoder.feed(chunk)
    return out, decoder.skipped, decoder.buffered


@pytest.mark.parametrize("seed", range(40))
def test_reads_split_anywhere_give_what_bytes_one_at_a_time_give(seed):
    # plain frames at the start of a read are decoded straight from it, the rest is buffered:
    # both ways must give the same messages and skips, wherever the reads split
    stream = _mixed_stream()
    cuts = sorted(random.Random(seed).sample(range(1, len(stream)), 5))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    expected = _fed([stream[i:i + 1] for i in range(len(stream))])
    assert expected[0] == [{"i": 1}, {"t": "中文 " * 40}, {"i": 3}, {"i": 4}, {"i": 5}, {"i": 6}, {"i": 7}]
    assert _fed(chunks) == expected == _fed([stream])


def test_a_frame_over_the_limit_after_plain_ones_in_one_read_still_raises():
    decoder = framing.FrameDecoder(max_frame=100)
    with pytest.raises(framing.FrameTooLarge):
        decoder.feed(frames({"i": 1}) + b"Content-Length: 101\r\n\r\n")
