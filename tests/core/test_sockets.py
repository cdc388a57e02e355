"""send_all: one `send` when the kernel takes the whole buffer, `sendall` for what it did not."""

import socket
import threading

from lingma_flask.lingma.sockets import send_all


class ShortSends:
    """A socket whose `send` takes at most `limit` bytes; records each call."""

    def __init__(self, limit):
        self.limit = limit
        self.calls: list[tuple[str, bytes]] = []

    def send(self, data):
        taken = bytes(data[: self.limit])
        self.calls.append(("send", taken))
        return len(taken)

    def sendall(self, data):
        self.calls.append(("sendall", bytes(data)))


def test_a_buffer_the_kernel_takes_whole_is_one_send():
    sock = ShortSends(limit=100)
    send_all(sock, b"x" * 100)
    assert sock.calls == [("send", b"x" * 100)]


def test_what_a_short_send_leaves_goes_out_with_sendall_in_order():
    sock = ShortSends(limit=3)
    send_all(sock, b"abcdefgh")
    assert sock.calls == [("send", b"abc"), ("sendall", b"defgh")]


def test_a_large_buffer_arrives_whole_over_a_real_socket():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        data = bytes(range(256)) * 8192  # 2 MB: more than one send's worth
        received = bytearray()

        reader = threading.Thread(target=lambda: _read(theirs, len(data), received))
        reader.start()
        send_all(ours, data)
        reader.join(timeout=30)
        assert not reader.is_alive()
        assert bytes(received) == data


def test_a_closed_peer_raises_oserror():
    ours, theirs = socket.socketpair()
    with ours:
        theirs.close()
        try:
            send_all(ours, b"hello")
        except OSError:
            return
        raise AssertionError("send_all to a closed peer did not raise")


def _read(sock, size, into):
    while len(into) < size:
        block = sock.recv(65536)
        if not block:
            return
        into.extend(block)
