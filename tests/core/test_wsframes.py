"""The WebSocket frame parser under the RPC reader."""

import random
import struct

import pytest

from lingma_flask.lingma import wsframes


def server_frame(opcode, payload, fin=True, mask=None):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def data_of(pieces):
    return b"".join(p for op, p in pieces if op == wsframes.OP_BINARY)


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 300000])
def test_payload_sizes(size):
    payload = bytes(i % 251 for i in range(size))
    assert data_of(wsframes.FrameReader().feed(server_frame(1, payload))) == payload


def test_bytes_one_at_a_time_and_fragmented_messages():
    stream = server_frame(1, b"hello ", fin=False) + server_frame(0, b"world") + server_frame(2, "中文".encode())
    reader = wsframes.FrameReader()
    pieces = []
    for i in range(len(stream)):
        pieces += reader.feed(stream[i:i + 1])
    assert data_of(pieces) == "hello world中文".encode()


def test_masked_frames_are_unmasked():
    payload = b"masked payload that is long enough"
    pieces = wsframes.FrameReader().feed(server_frame(1, payload, mask=b"\x01\x02\x03\x04"))
    assert data_of(pieces) == payload


def test_control_frames_come_out_whole():
    pieces = wsframes.FrameReader().feed(server_frame(9, b"ping!") + server_frame(8, b"\x03\xe8"))
    assert pieces == [(wsframes.OP_PING, b"ping!"), (wsframes.OP_CLOSE, b"\x03\xe8")]


def test_bad_opcode_is_a_protocol_error():
    with pytest.raises(wsframes.WsProtocolError):
        wsframes.FrameReader().feed(bytes([0x83, 0]))


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200000])
def test_client_frames_are_masked_and_round_trip(size):
    from websocket import ABNF
    payload = bytes(i % 256 for i in range(size))
    frame = wsframes.text_frame(payload)
    assert frame[0] == 0x81 and frame[1] & 0x80  # FIN + text, mask bit set
    parsed = wsframes.FrameReader().feed(frame)
    assert data_of(parsed) == payload
    decoded = ABNF.create_frame(payload, ABNF.OPCODE_TEXT).format()
    assert len(decoded) == len(frame)  # same framing overhead as websocket-client's own


def _mixed_stream():
    return b"".join([
        server_frame(2, b"plain " * 3), server_frame(2, b"x" * 300), server_frame(9, b"ping"),
        server_frame(1, b"first half ", fin=False), server_frame(0, b"second half"),
        server_frame(2, b""), server_frame(2, b"masked", mask=b"\x10\x20\x30\x40"),
        server_frame(2, b"y" * 70000), server_frame(2, b"last"),
    ])


def _pieces_fed(chunks):
    reader, pieces = wsframes.FrameReader(), []
    for chunk in chunks:
        pieces += reader.feed(chunk)
    data = b"".join(p for op, p in pieces if op == wsframes.OP_BINARY)
    return data, [p for p in pieces if p[0] != wsframes.OP_BINARY]


@pytest.mark.parametrize("seed", range(40))
def test_reads_split_anywhere_give_what_bytes_one_at_a_time_give(seed):
    # whole frames at the start of a read are taken straight from it, the rest is buffered:
    # both ways must give the same data and control frames, wherever the reads split
    stream = _mixed_stream()
    cuts = sorted(random.Random(seed).sample(range(1, len(stream)), 6))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert _pieces_fed(chunks) == _pieces_fed([stream[i:i + 1] for i in range(len(stream))])


def test_a_bad_opcode_after_good_frames_in_one_read_is_still_an_error():
    with pytest.raises(wsframes.WsProtocolError):
        wsframes.FrameReader().feed(server_frame(2, b"fine") + bytes([0x83, 0]))
