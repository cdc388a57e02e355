"""Time to first token through each API face, and the cost of offering tools, same run.

1. Faces: added time-to-first-token (client receipt of the first text − the simulator's send
   stamp, `[[sim:stamp=text]]`) through `/v1/responses` and `/v1/messages` streaming, as a
   ratio of `/v1/chat/completions` in the same run, rounds alternating between the faces; one
   stream at a time and 100 concurrent streams. Target: each within 1.2x of chat.
2. Tools: the whole client-side time to the first text (request sent → first content),
   chat completions with 20 tools offered and no call made, minus the same request without
   tools, one at a time, alternating. Target: within +5 ms.

Run: `python bench/faces_ttft.py` (`--help` for the knobs).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from _common import StreamEnd  # noqa: E402
from _common import median_ms  # noqa: E402
from _common import raise_nofile  # noqa: E402
from _common import sse_request  # noqa: E402
from _common import stamps_in  # noqa: E402
from _common import start_gateway  # noqa: E402
from _common import stop_gateway  # noqa: E402

from tests.integration.gateway import API_KEY  # noqa: E402

PROMPT = "face {i} [[sim:stamp=text]] [[sim:ttft={ttft}]] [[sim:chunks=10]] [[sim:delay=0.02]]"
AUTH = {"Authorization": f"Bearer {API_KEY}", "anthropic-version": "2023-06-01"}
TOOLS = [{"type": "function", "function": {
    "name": f"tool_{n}", "description": f"Tool number {n}: does something useful with its inputs.",
    "parameters": {"type": "object", "properties": {
        "path": {"type": "string", "description": "a file path"},
        "limit": {"type": "integer", "minimum": 1}, "recursive": {"type": "boolean"}},
        "required": ["path"]}}} for n in range(20)]


def chat_text(message: dict) -> str:
    return "".join((c.get("delta") or {}).get("content") or "" for c in message.get("choices", ()))


def responses_text(message: dict) -> str:
    if message.get("type") == "response.completed":
        raise StreamEnd
    return message.get("delta", "") if message.get("type") == "response.output_text.delta" else ""


def messages_text(message: dict) -> str:
    if message.get("type") == "message_stop":
        raise StreamEnd
    delta = message.get("delta") or {}
    return delta.get("text", "") if delta.get("type") == "text_delta" else ""


FACES = {
    "chat": ("/v1/chat/completions", lambda p: {"model": "auto", "stream": True,
                                                "messages": [{"role": "user", "content": p}]}, chat_text),
    "responses": ("/v1/responses", lambda p: {"model": "auto", "stream": True, "input": p}, responses_text),
    "messages": ("/v1/messages", lambda p: {"model": "auto", "stream": True, "max_tokens": 1000,
                                           "messages": [{"role": "user", "content": p}]}, messages_text),
}


def first_text(port: int, face: str, prompt: str, extra: dict, timeout: float) -> tuple[int, int]:
    """Stream one answer; return (added TTFT ns by the stamp, client-side TTFT ns)."""
    path, make, extract = FACES[face]
    first: list[tuple[int, int]] = []
    sent = time.monotonic_ns()

    def on_data(payload, now):
        text = extract(json.loads(payload))
        stamps = stamps_in(text) if text else []
        if stamps and not first:
            first.append((now - stamps[0], now - sent))

    status = sse_request(port, path, {**make(prompt), **extra}, AUTH, on_data, timeout)
    if status != 200 or not first:
        raise RuntimeError(f"{face}: status {status}, first text seen: {bool(first)}")
    return first[0]


def face_round(port: int, face: str, streams: int, args, samples: list) -> None:
    def one(i):
        prompt = PROMPT.format(i=i, ttft=args.ttft)
        samples.append(first_text(port, face, prompt, {}, args.timeout)[0])
    if streams == 1:
        for i in range(args.serial):
            one(i)
        return
    jobs = [gevent.spawn(one, i) for i in range(streams)]
    gevent.joinall(jobs, timeout=args.timeout, raise_error=True)


def faces_benchmark(port: int, args) -> None:
    for streams in (1, 100):
        samples = {face: [] for face in FACES}
        for _ in range(args.rounds):
            for face in FACES:
                face_round(port, face, streams, args, samples[face])
        base = median_ms(samples["chat"])
        line = f"{streams:4d} stream(s): chat added TTFT median {base:.2f} ms"
        for face in ("responses", "messages"):
            value = median_ms(samples[face])
            verdict = "met" if value <= 1.2 * base else "MISSED"
            line += f" | {face} {value:.2f} ms = {value / base:.2f}x chat (target <= 1.2x: {verdict})"
        print(line)


def tools_benchmark(port: int, args) -> None:
    plain, tools = [], []
    extra = {"tools": TOOLS}
    for i in range(args.rounds * args.serial):
        prompt = PROMPT.format(i=i, ttft=args.ttft)
        plain.append(first_text(port, "chat", prompt, {}, args.timeout)[1])
        tools.append(first_text(port, "chat", prompt, extra, args.timeout)[1])
    a, b = median_ms(plain), median_ms(tools)
    print(f"   tools: client TTFT without tools {a:.2f} ms, with 20 tools {b:.2f} ms: {b / a:.3f}x, "
          f"{b - a:+.2f} ms (target +5 ms: {'met' if b - a <= 5 else 'MISSED'})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serial", type=int, default=20, help="streams per round, one at a time")
    parser.add_argument("--ttft", type=float, default=0.05, help="simulator first-token delay")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    raise_nofile()
    gateway = start_gateway(LINGMA_MAX_CONCURRENCY="400", LINGMA_QUEUE_TIMEOUT="60",
                            LINGMA_WORKER_CONNECTIONS="1000")
    try:
        port = int(gateway.url.rsplit(":", 1)[1])
        for face in FACES:  # warm up every face
            first_text(port, face, PROMPT.format(i=0, ttft=args.ttft), {}, args.timeout)
        print(f"gateway {gateway.url}; {args.rounds} rounds alternating the faces; one at a time = "
              f"{args.serial} streams per round; simulator first token after {args.ttft * 1000:.0f} ms")
        faces_benchmark(port, args)
        tools_benchmark(port, args)
    finally:
        stop_gateway(gateway)


if __name__ == "__main__":
    main()
