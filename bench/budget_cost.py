"""What the schema budgets cost a chat that offers no tools and wants no format (issue 17).

Until issue 17 every chat made two `Budget`s (one for compiling its schemas, one for checking
its answers), whether or not it had any. This times, in one gevent-patched process, parsing
a plain chat body as the chat face does (`parse_chat_request`) with and without making those
two budgets too: the "with" line is the old per-chat work, the "without" line today's.
Run: `python bench/budget_cost.py [--number 20000]`.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import timeit  # noqa: E402

from _common import ROOT  # noqa: E402, F401 - puts the repo on sys.path

from lingma_flask.api.chat_request import parse_chat_request  # noqa: E402
from lingma_flask.pipeline.tools.budget import check_budget  # noqa: E402
from lingma_flask.pipeline.tools.budget import compile_budget  # noqa: E402

BODY = {"model": "qwen3-coder", "stream": True, "messages": [{"role": "user", "content": "hello there"}]}


def parse_only() -> None:
    """Today: a plain chat makes no budget."""
    parse_chat_request(BODY)


def parse_and_budgets() -> None:
    """Before: the same, plus the two budgets every chat made."""
    compile_budget()
    parse_chat_request(BODY)
    check_budget()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per timing (default 20000)")
    parser.add_argument("--repeat", type=int, default=7, help="timings; the best is shown (default 7)")
    args = parser.parse_args()
    rows = {}
    for name, fn in (("with the two budgets (before)", parse_and_budgets), ("without (after)", parse_only),
                     ("the two budgets alone", lambda: (compile_budget(), check_budget()))):
        best = min(timeit.repeat(fn, number=args.number, repeat=args.repeat))
        rows[name] = best / args.number * 1e6
        print(f"{name}: {rows[name]:.2f} µs per chat", flush=True)


if __name__ == "__main__":
    main()
