"""A gevent-patched worker's store writer on a SQLite file whose write lock another process holds.

`python -m gevent.monkey tests/store/gevent_writer.py URL MODE` (test_native.py runs it; the
database is migrated and its write lock held by the test). It records ROWS usage rows and, once
the writer's INSERT has reached SQLite (where it waits for the lock), counts the ticks of a
greenlet that sleeps in a loop: they go on only if the event loop runs while SQLite waits.

* `flush`: a flush in a greenlet; prints `ticking N` once TICKS ticks passed with the flush still
  waiting (the test then releases the lock), then `written N` (what the flush returned) and
  `stored N` (the rows then in the table), and, after one more row and a start and stop of the
  writer, `after stop N` (the stop's last flush).
* `exit`: the writer's thread; once its INSERT waits, `stop()` with a short timeout, prints
  `stopped running=...`, and the script ends (the process must exit with SQLite still waiting).

Lines starting `FAIL` say what went wrong; the exit status is then 1.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import gevent  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy import func  # noqa: E402
from sqlalchemy import select  # noqa: E402

from lingma_flask.store import engine as engine_module  # noqa: E402
from lingma_flask.store import tables  # noqa: E402
from lingma_flask.store.database import Database  # noqa: E402
from lingma_flask.store.settings import StoreSettings  # noqa: E402
from lingma_flask.store.url import normalize  # noqa: E402
from tests.store.sample import fields  # noqa: E402

ROWS = 5
TICKS = 50
DEADLINE = 60.0   # seconds for any one wait here: far past need, short of a hang


def say(line: str) -> None:
    print(line, flush=True)


def main(url: str, mode: str) -> int:
    engine_module.BUSY_SECONDS = 600.0   # SQLite waits for the lock, not for its own timeout
    database = Database(StoreSettings(url=url, interval=0.05), normalize(url), host="gevent-test")
    database.ensure_schema()
    inserting: list[int] = []   # the ticks counted when the writer's INSERT went to SQLite
    ticks = [0]

    @event.listens_for(database.engine, "before_cursor_execute")
    def _seen(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT INTO USAGE") and not inserting:
            inserting.append(ticks[0])

    def tick():
        while True:
            ticks[0] += 1
            gevent.sleep(0.001)

    for n in range(ROWS):
        database.recorder(fields(n))
    gevent.spawn(tick)
    if mode == "flush":
        flush = gevent.spawn(database.writer.flush)
        if not poll(lambda: flush.ready() or (inserting and ticks[0] - inserting[0] >= TICKS)):
            say("FAIL the INSERT never reached SQLite, or the ticks stopped")
            return 1
        if flush.ready():
            say(f"FAIL the flush ended while the lock was held: {flush.value!r}")
            return 1
        say(f"ticking {ticks[0] - inserting[0]}")   # the test now releases the lock
        written = flush.get(timeout=DEADLINE)
        say(f"written {written}")
        say(f"stored {count(database)}")
        database.recorder(fields(ROWS))
        database.start()
        database.stop(timeout=DEADLINE)
        say(f"after stop {count(database)}")
        return 0
    database.start()
    if not poll(lambda: inserting and ticks[0] - inserting[0] >= TICKS):
        say("FAIL the INSERT never reached SQLite, or the ticks stopped")
        return 1
    database.stop(timeout=0.2)
    say(f"stopped running={database.writer.running}")
    return 0


def poll(check) -> bool:
    """Whether `check()` came true before DEADLINE (the event loop runs between two looks)."""
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() >= deadline:
            return False
        gevent.sleep(0.01)
    return True


def count(database: Database) -> int:
    with database.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(tables.usage)).scalar_one())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
