"""Usage queries (per day and key, the history, filters) and the command line that prints them."""

from __future__ import annotations

import csv
import datetime
import io
import os

import pytest

from lingma_flask.__main__ import main
from lingma_flask.store import usage
from lingma_flask.store.usage import Filter
from lingma_flask.store.usage import parse_since

from .sample import fields

DAY1, DAY2 = "2030-01-01T10:00:00+00:00", "2030-01-02T10:00:00+00:00"
SINCE = datetime.datetime(2029, 12, 31)


@pytest.fixture
def recorded(database):
    """Six requests over two days by two keys and a keyless client, one failed, written."""
    for n, (key, time, status, rule) in enumerate([
            ("alice", DAY1, 200, "/v1/chat/completions"), ("alice", DAY1, 429, "/v1/chat/completions"),
            ("bob", DAY1, 200, "/v1/responses"), ("alice", DAY2, 200, "/v1/messages"),
            ("bob", DAY2, 200, "/v1/chat/completions"), (None, DAY2, 200, "/v1/chat/completions")]):
        database.recorder(fields(n, key=key, time=time, status=status, rule=rule))
    assert database.writer.flush() == 6
    return database


def test_daily_totals_per_key(recorded):
    with recorded.connect() as connection:
        days = usage.daily(connection, Filter(since=SINCE))
    assert [(d["day"].isoformat(), d["key"], d["requests"], d["errors"], d["prompt_tokens"], d["completion_tokens"])
            for d in days] == [("2030-01-01", "alice", 2, 1, 20, 8), ("2030-01-01", "bob", 1, 0, 10, 4),
                               ("2030-01-02", "alice", 1, 0, 10, 4), ("2030-01-02", "bob", 1, 0, 10, 4),
                               ("2030-01-02", "local", 1, 0, 10, 4)]


def test_history_is_newest_first_and_filtered(recorded):
    with recorded.connect() as connection:
        everything = usage.history(connection, Filter(since=SINCE), limit=100)
        alice = usage.history(connection, Filter(since=SINCE, key="alice"), limit=100)
        failed = usage.history(connection, Filter(since=SINCE, status=429), limit=100)
        chats = usage.history(connection, Filter(since=SINCE, route="/v1/chat/completions"), limit=2)
        later = usage.history(connection, Filter(since=datetime.datetime(2030, 1, 2)), limit=100)
    assert [r["request_id"] for r in everything] == ["req_5", "req_4", "req_3", "req_2", "req_1", "req_0"]
    assert "prompt" not in everything[0]
    assert {r["key"] for r in alice} == {"alice"} and len(alice) == 3
    assert [r["request_id"] for r in failed] == ["req_1"]
    assert [r["request_id"] for r in chats] == ["req_5", "req_4"]
    assert len(later) == 3


def test_filter_choices(recorded):
    with recorded.connect() as connection:
        keys, routes = usage.keys_and_routes(connection, SINCE)
    assert keys == ["alice", "bob", "local"]
    assert routes == ["/v1/chat/completions", "/v1/messages", "/v1/responses"]


@pytest.mark.parametrize("text,expected", [
    ("7d", datetime.datetime(2030, 1, 3)), ("12h", datetime.datetime(2030, 1, 9, 12)),
    ("30m", datetime.datetime(2030, 1, 9, 23, 30)), ("2w", datetime.datetime(2029, 12, 27)),
    ("2030-01-05", datetime.datetime(2030, 1, 5)),
    ("2030-01-05T08:00:00+02:00", datetime.datetime(2030, 1, 5, 6))])
def test_since_is_an_age_or_a_time(text, expected):
    assert parse_since(text, now=datetime.datetime(2030, 1, 10)) == expected


@pytest.mark.parametrize("text", ["", "7", "d", "yesterday", "7y", "-3d"])
def test_a_bad_since_says_what_it_takes(text):
    with pytest.raises(ValueError, match="7d"):
        parse_since(text)


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture
def shell(db_url, monkeypatch, tmp_path):
    """Run `python -m lingma_flask ...` in this process, with the gateway's settings naming the database."""
    for name in [n for n in os.environ if n.startswith("LINGMA_") or n == "DATABASE_URL"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", db_url)   # the platform's variable: the gateway reads it too
    monkeypatch.chdir(tmp_path)                   # no .env file

    def run(*argv: str) -> int:
        return main(list(argv))
    return run


def test_usage_csv_parses(recorded, shell, capsys):
    assert shell("usage", "--since", "2029-12-31", "--csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(rows[0]) == list(usage.DAILY_COLUMNS)
    assert [(r["day"], r["key"], r["requests"], r["errors"]) for r in rows][:2] == [
        ("2030-01-01", "alice", "2", "1"), ("2030-01-01", "bob", "1", "0")]
    assert len(rows) == 5


def test_usage_of_one_key_request_by_request(recorded, shell, capsys):
    assert shell("usage", "--since", "2029-12-31", "--key", "bob", "--requests", "--csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["request_id"], r["key"], r["route"]) for r in rows] == [
        ("req_4", "bob", "/v1/chat/completions"), ("req_2", "bob", "/v1/responses")]
    assert rows[0]["at"] == "2030-01-02T10:00:00.000Z"


def test_usage_as_a_table(recorded, shell, capsys):
    assert shell("usage", "--since", "2029-12-31") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == list(usage.DAILY_COLUMNS)
    assert lines[1].split() == ["2030-01-01", "alice", "2", "1", "20", "8"]


def test_usage_with_a_bad_since(shell, capsys):
    assert shell("usage", "--since", "soon") == 2
    assert "7d" in capsys.readouterr().err


def test_db_upgrade(db_url, shell, capsys):
    assert shell("db", "upgrade") == 0
    assert "migrated to revision" in capsys.readouterr().out
    assert shell("db", "upgrade") == 0
    assert "already at revision" in capsys.readouterr().out


def test_usage_never_creates_a_sqlite_file(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("LINGMA_DATABASE_URL", raising=False)
    monkeypatch.setenv("LINGMA_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.chdir(tmp_path)
    assert main(["usage"]) == 1
    assert "no usage recorded yet" in capsys.readouterr().err
    assert not (tmp_path / "work" / "lingma.db").exists()


def test_usage_when_the_store_is_off(monkeypatch, tmp_path):
    monkeypatch.setenv("LINGMA_STORE", "off")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="LINGMA_STORE=off"):
        main(["usage"])
