"""How the parsers of model text grow with adversarial input: linear, or worse (issue 13, item 1).

Each case times one parser (CPU seconds, the best of --rounds) on an adversarial text and on a
benign text of the same size, at several sizes. Printed per size: both times, their ratio
(adversarial / benign, in the same run) and the growth of the adversarial time from the
previous size (size x10: linear ~10, quadratic ~100, cubic ~1000). No gateway is started.

    python bench/parsers_linear.py [--sizes 10000,100000,1000000] [--rounds 3]
    python bench/parsers_linear.py --repo ../old-checkout --sizes 1000,2000,4000 --cap 20

--repo imports lingma_flask from another checkout (to compare with code before a fix);
--cap skips a case's larger sizes once one run took longer than that many seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cases(n: int) -> dict[str, tuple]:
    """Return {case: (function, adversarial argument, benign argument)} at about n characters."""
    from lingma_flask.lingma.think import ThinkSplitter
    from lingma_flask.pipeline.output import OutputFilter
    from lingma_flask.pipeline.tools.lenient import loads
    from lingma_flask.pipeline.tools.lenient import strip_fence
    from lingma_flask.pipeline.tools.parser import CallParser
    from lingma_flask.pipeline.tools.payload import decode_block

    def lenient(text):
        try:
            loads(text)
        except ValueError:
            pass

    def stream(text, size=16):
        parser = CallParser()
        for i in range(0, len(text), size):
            parser.feed(text[i:i + size])
        parser.close()

    def think(text):
        splitter = ThinkSplitter()
        for char in text:
            splitter.feed(char)
        splitter.flush()

    def stops(args):
        stop_length, text = args
        out = OutputFilter(stops=tuple("x" * stop_length + str(i) for i in range(16)))
        for i in range(0, len(text), 16):
            out.feed(text[i:i + 16])
        out.flush()

    def xml(text):
        decode_block(text, text)

    block = '<tool_call>\n{"name": "f", "arguments": {"p": "xxxxxxxxxx"}}\n</tool_call>\nSome prose. '
    param = "<parameter=p>xxxxxxxx</parameter>"
    return {
        "strip_fence: ``` + spaces + x": (
            strip_fence, "```" + " " * n + "x", '```json\n{"a": "' + "x" * n + '"}\n```'),
        "lenient loads: unclosed escaped quotes": (
            lenient, '["' + '\\"' * (n // 2), "['" + "x" * n + "']"),
        "xml: spaces in a <parameter= header": (
            xml, "<function=f><parameter=" + " " * n + "x", "<function=f>" + param * (n // len(param))),
        "xml: failed <parameter= headers, far >": (
            xml, "<function=f>" + '<parameter=a"b' * (n // 14) + ">", "<function=f>" + param * (n // len(param))),
        "xml: repeated <function=": (
            xml, "<function=a" * (n // 11), ("<function=f>" + param + "</function>") * (n // 57)),
        "stream: nested unclosed <tool_call>": (
            stream, "<tool_call>" * (n // 11), block * (n // len(block))),
        "think: start line in 1-char chunks": (
            think, "```think::" + "a" * n, "a" * n),
        "stops: 16 stops of n/2 chars": (
            stops, (n // 2, "x" * n), (3, "x" * n)),
    }


def best_cpu(function, argument, rounds: int) -> float:
    """Return the least CPU time of `rounds` runs."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        function(argument)
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    """Time every case at every size and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repo", default=str(ROOT))
    parser.add_argument("--cap", type=float, default=30.0)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.repo).resolve()))
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"{'case':42} {'size':>9} {'adversarial s':>14} {'benign s':>9} {'ratio':>7} {'growth':>7}")
    for name in cases(10):
        previous = None
        for size in sizes:
            function, hostile, benign = cases(size)[name]
            spent = best_cpu(function, hostile, 1 if previous and previous > args.cap / 10 else args.rounds)
            base = best_cpu(function, benign, args.rounds)
            growth = f"{spent / previous:7.1f}" if previous else "      -"
            print(f"{name:42} {size:>9,} {spent:14.4f} {base:9.4f} {spent / max(base, 1e-6):7.1f} {growth}",
                  flush=True)
            if spent > args.cap:
                print(f"{'':42} (larger sizes skipped: over {args.cap:g} s)")
                break
            previous = max(spent, 1e-6)


if __name__ == "__main__":
    main()
