"""Which database the store uses, and how its URL is shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from lingma_flask.settings_reader import SettingError
from lingma_flask.store.door import open_database
from lingma_flask.store.settings import StoreSettings
from lingma_flask.store.url import describe
from lingma_flask.store.url import resolve
from lingma_flask.store.url import sqlite_path


def test_default_is_sqlite_beside_the_work_dirs(tmp_path):
    url = resolve(None, {}, tmp_path / "work")
    assert url.drivername == "sqlite"
    assert sqlite_path(url) == tmp_path / "work" / "lingma.db"   # the work root, not w0/ or an instance's


@pytest.mark.parametrize("given", ["postgres://u:secret@db.example:5432/lingma",
                                   "postgresql://u:secret@db.example:5432/lingma",
                                   "postgresql+psycopg://u:secret@db.example:5432/lingma"])
def test_postgres_urls_use_psycopg_3(given, tmp_path):
    url = resolve(None, {"DATABASE_URL": given}, tmp_path)
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database, url.username) == ("db.example", 5432, "lingma", "u")


def test_lingma_database_url_wins_over_database_url(tmp_path):
    url = resolve("postgres://mine@a/one", {"DATABASE_URL": "postgres://platform@b/two"}, tmp_path)
    assert (url.host, url.database) == ("a", "one")


def test_blank_database_url_means_the_default(tmp_path):
    assert resolve(None, {"DATABASE_URL": "  "}, tmp_path).drivername == "sqlite"


def test_a_password_is_never_shown():
    shown = describe(resolve(None, {"DATABASE_URL": "postgres://u:s3cr%40t@h/db"}, Path("/")))
    assert "s3cr" not in shown and "***" in shown


def test_open_database_reads_the_settings(tmp_path):
    database = open_database({"WORK_DIR": str(tmp_path), "STORE_INTERVAL": "0.5", "STORE_BUFFER": "7",
                              "HISTORY_DAYS": "3", "LOG_PROMPTS": "on"}, environ={})
    assert database is not None
    assert sqlite_path(database.url) == tmp_path / "lingma.db"
    assert (database.settings.interval, database.usage.limit, database.settings.history_days,
            database.rows.log_prompts) == (0.5, 7, 3, True)
    assert not (tmp_path / "lingma.db").exists()   # opened lazily: nothing touched until first use


def test_the_store_can_be_off(tmp_path):
    assert open_database({"WORK_DIR": str(tmp_path), "STORE": "off"}, environ={}) is None


@pytest.mark.parametrize("name,value", [("STORE", "maybe"), ("STORE_INTERVAL", "0"), ("STORE_INTERVAL", "soon"),
                                        ("STORE_BUFFER", "0"), ("HISTORY_DAYS", "-1"), ("LOG_PROMPTS", "2")])
def test_bad_settings_name_their_variable(name, value):
    with pytest.raises(SettingError) as caught:
        StoreSettings.from_mapping({name: value})
    assert caught.value.name == "LINGMA_" + name


def test_a_database_url_that_is_no_url_is_refused_without_repeating_it():
    with pytest.raises(SettingError) as caught:
        StoreSettings.from_mapping({"DATABASE_URL": "hunter2-the-password"})
    assert caught.value.name == "LINGMA_DATABASE_URL" and "hunter2" not in str(caught.value)


def test_a_host_goes_by_lingma_host_name_or_the_machine_name(tmp_path):
    import socket

    named = open_database({"WORK_DIR": str(tmp_path), "HOST_NAME": "gateway-b"}, environ={})
    plain = open_database({"WORK_DIR": str(tmp_path)}, environ={})
    assert named.rows.host == "gateway-b"
    assert plain.rows.host == socket.gethostname()
