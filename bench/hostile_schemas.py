"""Hostile client JSON Schemas, in process: CPU time, memory and the longest stall they cause.

No gateway: each case runs the gateway's own code for one request (the face's parser, which
compiles the schemas, then the checks the pipeline makes) on the main greenlet of a
gevent-patched process, while a ticker greenlet wakes every millisecond and records the
longest gap between its wake-ups, i.e. the longest time the case kept every other stream
waiting. Printed per case: CPU seconds (time.process_time), the ratio to a benign case of
similar size run in the same process, the longest stall, and for the cache case the growth of
RSS and of traced Python memory (tracemalloc) and the bytes the schema cache holds.
Targets (issue 13): every case under 1 s of CPU, no stall over 250 ms, memory bounded.

    python bench/hostile_schemas.py
"""

from gevent import monkey

monkey.patch_all()

# ruff: noqa: E402 - the patching must come first
import gc
import json
import logging
import threading
import time
import tracemalloc
from collections.abc import Callable

from _common import ROOT  # noqa: F401 - puts the repo on sys.path
from _common import ratio

from lingma_flask.api.chat_request import parse_chat_request
from lingma_flask.pipeline.tools import budget
from lingma_flask.pipeline.tools import check
from lingma_flask.pipeline.tools.budget import check_budget
from lingma_flask.pipeline.tools.coerce import type_arguments
from lingma_flask.pipeline.tools.pieces import Call

ASK = [{"role": "user", "content": "go"}]


class Ticker:
    """A greenlet that notes the longest gap between its 1 ms sleeps."""

    def __init__(self):
        self.longest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        last = time.monotonic()
        while not self._stop.is_set():
            time.sleep(0.001)
            now = time.monotonic()
            self.longest = max(self.longest, now - last)
            last = now

    def reset(self):
        time.sleep(0.005)   # let it run once before the case
        self.longest = 0.0

    def stop(self):
        self._stop.set()
        self._thread.join()


def request(tools: list | None = None, schema: dict | None = None):
    """Parse a chat request offering `tools` and/or a json_schema response format."""
    body = {"model": "qwen3-coder", "messages": ASK}
    if tools:
        body["tools"] = [{"type": "function", "function": {"name": f"t{n}", "parameters": p}}
                         for n, p in enumerate(tools)]
    if schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}
    try:
        return parse_chat_request(body)[0]
    except Exception as error:  # noqa: BLE001 - a 400 is an expected outcome here
        return error


def answer_json(schema: dict, text: str):
    """A structured-output request: parse (compiles), then check one answer."""
    chat = request(schema=schema)
    if isinstance(chat, Exception):
        return f"{getattr(chat, 'status', '')} {chat}"
    return check.check_json(text, chat.response_format.checker, check_budget())[1] or "valid"


def calls(schema: dict, arguments: dict, count: int, style: str = "json"):
    """A tool request: parse (compiles), then check `count` calls with one request budget."""
    chat = request(tools=[schema])
    if isinstance(chat, Exception):
        return f"{getattr(chat, 'status', '')} {chat}"
    tools = {tool.name: tool for tool in chat.tools}
    budget = check_budget()
    results = [check.check_call(Call("", "t0", arguments, style=style), tools, budget)
               for _ in range(count)]
    problems = {p for _, p in results if p}
    return f"{count - len([r for r in results if r[1]])} valid" + (f", {problems.pop()[:60]}" if problems else "")


# -- the schemas -------------------------------------------------------------------------

def chain(k: int, twice: bool = True, key: str = "allOf") -> dict:
    """Each $def refers to the next one twice (2^k) or, benign, once."""
    refs = 2 if twice else 1
    defs = {f"d{i}": {key: [{"$ref": f"#/$defs/d{i + 1}"}] * refs} for i in range(k)}
    defs[f"d{k}"] = {"type": "string"}
    return {"type": "object", "properties": {"x": {"$ref": "#/$defs/d0"}}, "$defs": defs}


def doubling(refs: int) -> dict:
    """A schema referring to itself `refs` times per level of the answer (admitted: recursive)."""
    return {"$defs": {"a": {"type": "array", "items": {"allOf": [{"$ref": "#/$defs/a"}] * refs}}},
            "$ref": "#/$defs/a", "type": "array"}


def nested(levels: int) -> list:
    """An array nested `levels` deep."""
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def fan_out(width: int, levels: int, ref: bool = True) -> dict:
    """anyOf fan-out: each level offers the next `width` times (benign: inlined once)."""
    defs = {}
    for i in range(levels):
        nxt = {"$ref": f"#/$defs/d{i + 1}"}
        defs[f"d{i}"] = {"anyOf": [nxt] * (width if ref else 1) + [{"type": "null"}]}
    defs[f"d{levels}"] = {"anyOf": [{"type": "integer"}, {"type": "boolean"}]}
    return {"type": "object", "properties": {"n": {"$ref": "#/$defs/d0"}}, "$defs": defs}


def big(tag: str = "") -> dict:
    """About 0.9 MB of JSON: 3,000 documented properties."""
    properties = {f"p{n}": {"type": "string", "description": tag + "d" * 280} for n in range(3_000)}
    properties["city"] = {"type": "string"}
    return {"type": "object", "properties": properties, "required": ["city"]}


def cases() -> list[tuple[str, Callable, Callable]]:
    """(name, hostile, benign) triples."""
    text = "a" * 30 + "!"
    objects = [{"id": n, "name": f"item {n}", "tags": [n, "x"]} for n in range(3_000)]
    rows = [
        ("pattern ^(a+)+$ vs 30 a's + '!'",
         lambda: answer_json({"properties": {"s": {"pattern": "^(a+)+$"}}}, json.dumps({"s": text})),
         lambda: answer_json({"properties": {"s": {"pattern": "^a+!$"}}}, json.dumps({"s": text}))),
        ("pattern ^(a|a)*$ vs 30 a's + '!'",
         lambda: answer_json({"properties": {"s": {"pattern": "^(a|a)*$"}}}, json.dumps({"s": text})),
         lambda: answer_json({"properties": {"s": {"pattern": "^a*!$"}}}, json.dumps({"s": text}))),
        ("20 strings x ^(a|a)*$ (one answer)",
         lambda: answer_json({"type": "array", "items": {"pattern": "^(a|a)*$"}}, json.dumps([text] * 20)),
         lambda: answer_json({"type": "array", "items": {"pattern": "^a*!$"}}, json.dumps([text] * 20))),
    ]
    hidden = {"type": "array", "anyOf": [{"items": {"pattern": "^(a|a)*$"}}, {"maxItems": 0}]}
    plain = {"type": "array", "anyOf": [{"items": {"pattern": "^a*!$"}}, {"maxItems": 0}]}
    rows.append(("anyOf hides 200 x ^(a|a)*$",
                 lambda: answer_json(hidden, json.dumps([text] * 200)),
                 lambda: answer_json(plain, json.dumps([text] * 200))))
    deep = json.dumps(nested(40))
    rows.append(("allOf doubling per level, 40 deep",
                 lambda: answer_json(doubling(2), deep), lambda: answer_json(doubling(1), deep)))
    for k in (17, 22, 30):
        rows.append((f"2^{k} allOf/$ref chain ({len(json.dumps(chain(k)))} B)",
                     lambda k=k: answer_json(chain(k), '{"x": "y"}'),
                     lambda k=k: answer_json(chain(k, twice=False), '{"x": "y"}')))
    rows += [
        ("anyOf fan-out 10^10, XML call", lambda: calls(fan_out(10, 10), {"n": "7"}, 1, "xml"),
         lambda: calls(fan_out(10, 10, ref=False), {"n": "7"}, 1, "xml")),
        ("anyOf fan-out 10^10, typing only", lambda: type_arguments({"n": "7"}, fan_out(10, 10)),
         lambda: type_arguments({"n": "7"}, fan_out(10, 10, ref=False))),
        ("uniqueItems over 3,000 objects",
         lambda: answer_json({"type": "array", "uniqueItems": True}, json.dumps(objects)),
         lambda: answer_json({"type": "array"}, json.dumps(objects))),
        ("500 calls vs one 0.9 MB schema", lambda: calls(big(), {"city": "Paris"}, 500),
         lambda: calls(big(), {"city": "Paris"}, 1)),
    ]
    return rows


def measure(ticker: Ticker, run: Callable) -> tuple[float, float, object]:
    """Run once: (CPU seconds, longest stall in seconds, outcome)."""
    check.clear_cache()
    gc.collect()
    ticker.reset()
    start = time.process_time()
    outcome = run()
    cpu = time.process_time() - start
    time.sleep(0.005)   # let the ticker note the gap that just ended
    return cpu, ticker.longest, outcome


def rss_mib() -> float:
    """This process's resident memory (MiB)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def distinct_schemas(ticker: Ticker, distinct: bool) -> tuple[float, float, str]:
    """30 requests, each offering a 0.9 MB schema: distinct ones, or the same one (benign)."""
    check.clear_cache()
    gc.collect()
    rss = rss_mib()
    ticker.reset()
    start = time.process_time()
    refused = sum(isinstance(request(tools=[big(f"{n}:" if distinct else "")]), Exception)
                  for n in range(30))
    cpu = time.process_time() - start
    time.sleep(0.005)
    stall = ticker.longest
    gc.collect()
    note = (f"RSS +{rss_mib() - rss:.0f} MiB, cache {check.cache_size()} schemas /"
            f" {check.cache_bytes() / 1e6:.1f} MB, {refused} refused")
    return cpu, stall, note


def traced_cache(distinct: bool) -> str:
    """The same 30 requests under tracemalloc: Python memory still held afterwards."""
    check.clear_cache()
    gc.collect()
    budget.COMPILE_SECONDS *= 5   # tracing slows everything: keep the outcome of the timed run
    tracemalloc.start()
    for n in range(30):
        request(tools=[big(f"{n}:" if distinct else "")])
    gc.collect()
    held, peak = (size / 2**20 for size in tracemalloc.get_traced_memory())
    tracemalloc.stop()
    budget.COMPILE_SECONDS /= 5
    return f"traced: {held:.0f} MiB held, {peak:.0f} MiB peak"


def main() -> None:
    logging.disable(logging.WARNING)
    ticker = Ticker()
    print(f"{'case':38} {'CPU s':>7} {'benign':>7} {'ratio':>8} {'stall ms':>9}  outcome")
    for name, hostile, benign in cases():
        cpu, stall, outcome = measure(ticker, hostile)
        base, _, _ = measure(ticker, benign)
        print(f"{name:38} {cpu:7.3f} {base:7.3f} {ratio(cpu, base):>8} {stall * 1e3:9.1f}  {str(outcome)[:70]}")
    cpu, stall, note = distinct_schemas(ticker, True)
    base, _, base_note = distinct_schemas(ticker, False)
    print(f"{'30 distinct 0.9 MB schemas':38} {cpu:7.3f} {base:7.3f} {ratio(cpu, base):>8} {stall * 1e3:9.1f}"
          f"  {note}; {traced_cache(True)}")
    print(f"{'  (benign: the same one 30 times)':38} {'':7} {'':7} {'':>8} {'':9}  {base_note};"
          f" {traced_cache(False)}")
    ticker.stop()


if __name__ == "__main__":
    main()
