"""What each import costs the gunicorn worker in memory, and what the master holds (issue 17).

Each measurement runs in a fresh interpreter that first does what the master does before it
forks (imports gunicorn's arbiter and the gevent worker class, runs `gunicorn.conf.py`: the
"master" line), then patches gevent as the worker does ("worker base"). From there:

* **cumulative** — the worker's imports one after another, in the order `create_app` meets
  them, ending with `wsgi` itself (the whole app, built): each line's delta is what that step
  added on top of everything before it;
* **alone** — each library imported by itself on top of the worker base: what it would save
  if it were not imported at all (its own dependencies included).

Deltas are of RSS and of USS (private pages: what a forked worker really adds) from
/proc/self/smaps_rollup, in MB. prometheus-client runs in multiprocess mode
(`PROMETHEUS_MULTIPROC_DIR` set to a fresh directory). `--modules` lists the top-level
packages loaded in the worker after `wsgi` and which of them only the admin page or the
doctor need.
Run: `python bench/import_costs.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, runpy, sys, time
def mem():
    fields = {}
    for line in open("/proc/self/smaps_rollup"):
        parts = line.split()
        if len(parts) >= 3 and parts[1].isdigit():
            fields[parts[0].rstrip(":")] = int(parts[1])
    return {"rss": fields["Rss"], "uss": fields["Private_Clean"] + fields["Private_Dirty"], "pss": fields["Pss"]}
out = []
import gunicorn.arbiter, gunicorn.app.wsgiapp  # noqa
out.append(["python + gunicorn", mem()])
runpy.run_path("gunicorn.conf.py")
out.append(["master (gunicorn.conf.py)", mem()])
from gevent import monkey; monkey.patch_all()
out.append(["worker base (gevent patched)", mem()])
for step in json.loads(sys.argv[1]):
    exec(step)
    out.append([step, mem()])
out.append(["modules", sorted({m.split(".")[0] for m in sys.modules})])
print(json.dumps(out))
"""

# The order create_app meets them (roughly): Flask, the metrics, validation, the faces, the app.
CUMULATIVE = [
    "import flask",
    "import prometheus_client; from prometheus_client import multiprocess",
    "import jsonschema",
    "import pydantic",
    "import wsproto",
    "import segno",
    "import yaml",
    "import requests",
    "import regex",
    "import lingma_flask.lingma.pool",
    "import lingma_flask.pipeline.job",
    "import lingma_flask.api.chat",
    "import lingma_flask.api.responses",
    "import lingma_flask.api.anthropic",
    "import lingma_flask.ops.page",
    "import lingma_flask.ops.admin",
    "import wsgi",
]
ALONE = [
    "import flask",
    "import prometheus_client; from prometheus_client import multiprocess",
    "import jsonschema",
    "import jsonschema_rs",
    "import pydantic",
    "import jinja2",
    "import segno",
    "import wsproto",
    "import yaml",
    "import websocket",
    "import requests",
    "import regex",
    "import lingma_flask.api.validation",
    "import wsgi",
]


def run(steps: list[str]) -> list:
    """Run the child with these import steps; return its list of [label, memory] rows."""
    with tempfile.TemporaryDirectory(prefix="lingma-imports-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINGMA_")}
        env.update({"PROMETHEUS_MULTIPROC_DIR": tmp, "LINGMA_WORK_DIR": str(Path(tmp) / "work"),
                    "LINGMA_BIN": "simulator", "PYTHONPATH": str(ROOT)})
        result = subprocess.run([sys.executable, "-c", CHILD, json.dumps(steps)], cwd=ROOT, env=env,
                                capture_output=True, text=True, check=True)
        return json.loads(result.stdout.strip().splitlines()[-1])


def mb(kb: int) -> str:
    """kB as MB with one decimal."""
    return f"{kb / 1024:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", action="store_true", help="list the top-level packages the worker loads")
    args = parser.parse_args()
    rows = run(CUMULATIVE)
    modules = rows.pop()[1]
    print("cumulative (each line: what the step added; then the process's total)\n")
    print("| step | + RSS MB | + USS MB | RSS MB | USS MB |\n| --- | --- | --- | --- | --- |")
    prev = None
    for label, m in rows:
        delta = (mb(m["rss"] - prev["rss"]), mb(m["uss"] - prev["uss"])) if prev else ("", "")
        print(f"| `{label}` | {delta[0]} | {delta[1]} | {mb(m['rss'])} | {mb(m['uss'])} |")
        prev = m
    print("\nalone, on top of the worker base\n")
    print("| import | + RSS MB | + USS MB |\n| --- | --- | --- |")
    for step in ALONE:
        got = run([step])
        base, after = got[2][1], got[3][1]
        print(f"| `{step}` | {mb(after['rss'] - base['rss'])} | {mb(after['uss'] - base['uss'])} |")
    if args.modules:
        print("\ntop-level packages loaded after `import wsgi`:", " ".join(m for m in modules if not m.startswith("_")))


if __name__ == "__main__":
    main()
