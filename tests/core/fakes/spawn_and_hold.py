"""Start the fake Lingma through `LingmaProcess`, record `pid port` in a file, then wait to be killed.

`spawn_and_hold.py WORK_DIR PID_FILE [--thread] [--simulator]`; with `--thread` the spawn
happens on a long-lived non-main thread (the supervisor-thread case); `--simulator` runs the
built-in simulator instead of the fake. Run it under `python -m gevent.monkey`
to exercise gevent's subprocess.
"""

import os
import sys
import threading
import time
from pathlib import Path

FAKES = Path(__file__).resolve().parent
sys.path.insert(0, str(FAKES.parents[2]))

from lingma_flask.lingma.discovery import LingmaCommand  # noqa: E402
from lingma_flask.lingma.discovery import simulator_command  # noqa: E402
from lingma_flask.lingma.process import LingmaProcess  # noqa: E402


def spawn(work_dir: str, pid_file: str) -> None:
    command = LingmaCommand((sys.executable, str(FAKES / "fake_lingma.py")), str(FAKES), False, "fake")
    if "--simulator" in sys.argv:
        command = simulator_command()
    proc = LingmaProcess(command, Path(work_dir), startup_timeout=20)
    port = proc.start()
    partial = pid_file + ".tmp"
    Path(partial).write_text(f"{proc.pid} {port}\n")
    os.replace(partial, pid_file)


def main() -> None:
    work_dir, pid_file = sys.argv[1], sys.argv[2]
    if "--thread" in sys.argv:
        thread = threading.Thread(target=lambda: (spawn(work_dir, pid_file), threading.Event().wait()),
                                  daemon=True)
        thread.start()
    else:
        spawn(work_dir, pid_file)
    while True:        # the test SIGKILLs us
        time.sleep(60)


if __name__ == "__main__":
    main()
