"""Time to first token of the Responses API over its WebSocket vs over HTTP (SSE), same run.

Each round sends one conversation's next request both ways, alternating which goes first:
HTTP as Codex sends it (a new connection, the whole conversation each time, `store: false`)
and the WebSocket as Codex sends it (one connection for the run, `previous_response_id` and
only the new message). The conversation starts with a Codex-sized system prompt (`--system`
bytes) and grows by one question and answer per round. Two figures per transport, medians:

* added: the client's receipt of the first text − the simulator's send stamp
  (`[[sim:stamp=text]]`): what the gateway and the transport add;
* whole: request sent (connect included for HTTP) → first text.

Run: `python bench/responses_ws_ttft.py` (`--help` for the knobs).
"""

from __future__ import annotations

import argparse
import json
import time

from _common import StreamEnd
from _common import median_ms
from _common import sse_request
from _common import stamps_in
from _common import start_gateway
from _common import stop_gateway
from websockets.sync.client import connect

from tests.integration.gateway import API_KEY

QUESTION = "round {i} [[sim:stamp=text]] [[sim:ttft={ttft}]] [[sim:chunks=5]] [[sim:delay=0.01]]"


def first_text(on_text):
    """An event handler: `on_text(text, recv_ns)` for the first delta, StreamEnd at the end."""
    def handle(payload, now):
        event = json.loads(payload)
        if event.get("type") == "response.output_text.delta" and event.get("delta"):
            on_text(event["delta"], now)
        if event.get("type") in ("response.completed", "response.failed", "error"):
            raise StreamEnd(event)
    return handle


def over_http(port: int, conversation: list, result: dict) -> str:
    """One request over HTTP with the whole conversation; returns the answer's text."""
    texts: list[str] = []
    body = {"model": "auto", "stream": True, "store": False, "input": conversation}

    def on_text(text, now):
        if not texts:
            result["first"] = now
        texts.append(text)
    result["sent"] = time.monotonic_ns()
    status = sse_request(port, "/v1/responses", body, {"Authorization": f"Bearer {API_KEY}"},
                         first_text(on_text))
    if status != 200:
        raise RuntimeError(f"HTTP {status}")
    return "".join(texts)


def over_socket(ws, message: dict, result: dict) -> tuple[str, str]:
    """One request over the open WebSocket; returns the answer's text and response id."""
    texts: list[str] = []

    def on_text(text, now):
        if not texts:
            result["first"] = now
        texts.append(text)
    handle = first_text(on_text)
    result["sent"] = time.monotonic_ns()
    ws.send(json.dumps({"type": "response.create", **message}))
    while True:
        payload = ws.recv(timeout=60)
        now = time.monotonic_ns()
        try:
            handle(payload, now)
        except StreamEnd as end:
            event = end.args[0]
            if event.get("type") != "response.completed":
                raise RuntimeError(f"WebSocket: {payload[:300]}") from None
            return "".join(texts), event["response"]["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--system", type=int, default=25_000, help="system prompt bytes")
    parser.add_argument("--ttft", type=float, default=0.05, help="simulated first-token delay")
    args = parser.parse_args()
    gateway = start_gateway(LINGMA_SSE_KEEPALIVE="5")
    try:
        port = int(gateway.url.rsplit(":", 1)[1])
        system = {"role": "developer", "content": "x" * args.system}
        conversation: list = [system]
        samples: dict[str, dict[str, list[int]]] = {
            "http": {"added": [], "whole": []}, "websocket": {"added": [], "whole": []}}
        ws_url = gateway.url.replace("http://", "ws://") + "/v1/responses"
        with connect(ws_url, additional_headers={"Authorization": f"Bearer {API_KEY}"},
                     max_size=None) as ws:
            previous = None
            for i in range(args.rounds):
                question = {"role": "user", "content": QUESTION.format(i=i, ttft=args.ttft)}
                conversation.append(question)
                message = {"model": "auto", "store": False,
                           "input": [question] if previous else [system, question]}
                if previous:
                    message["previous_response_id"] = previous
                order = ("http", "websocket") if i % 2 == 0 else ("websocket", "http")
                for way in order:
                    result: dict[str, int] = {}
                    if way == "http":
                        answer = over_http(port, list(conversation), result)
                    else:
                        answer, previous = over_socket(ws, message, result)
                    stamp = stamps_in(answer)[0]
                    samples[way]["added"].append(result["first"] - stamp)
                    samples[way]["whole"].append(result["first"] - result["sent"])
                conversation.append({"role": "assistant", "content": answer})
        print(f"{args.rounds} rounds, system prompt {args.system} bytes, simulated ttft"
              f" {args.ttft * 1000:.0f} ms; medians:")
        for way, figures in samples.items():
            print(f"  {way:9s}  added {median_ms(figures['added']):6.2f} ms"
                  f"   whole {median_ms(figures['whole']):7.2f} ms")
    finally:
        stop_gateway(gateway)
        gateway.cleanup()


if __name__ == "__main__":
    main()
