"""The gateway's settings as the app and gunicorn.conf.py read them: one reader, one error
that names the variable (the conftest's isolated_env drops LINGMA_* and runs in tmp_path)."""

import gc
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

from lingma_flask import create_app
from lingma_flask.config import ApiSettings
from lingma_flask.config import check_settings
from lingma_flask.settings_reader import SettingError

CONF = str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py")


def test_api_settings_defaults_are_the_fields_defaults():
    assert ApiSettings.from_mapping({}) == ApiSettings()


@pytest.mark.parametrize("value, level", [("debug", "DEBUG"), (" Warning ", "WARNING"), ("WARN", "WARN")])
def test_log_level_takes_logging_names_in_any_case(value, level):
    assert ApiSettings.from_mapping({"LOG_LEVEL": value}).log_level == level


def test_a_bad_log_level_names_the_variable_at_start(monkeypatch, pool):
    monkeypatch.setenv("LINGMA_LOG_LEVEL", "loud")
    with pytest.raises(SettingError, match="LINGMA_LOG_LEVEL must be one of .*DEBUG.*, not 'loud'"):
        create_app({"LINGMA_POOL": pool})


@pytest.mark.parametrize("key, value", [
    ("MAX_BODY_BYTES", "lots"), ("SSE_KEEPALIVE", "often"), ("REASONING", "loud"),
    ("LOG_FORMAT", "xml"), ("API_KEYS", ","), ("MODEL_ALIASES", "[1]"),
    ("MAX_CONCURRENCY", "many"), ("AUTO_MEMORY", "maybe"), ("SOCKET_PORT", "x"),
])
def test_check_settings_reads_the_api_and_the_core_settings(key, value):
    with pytest.raises(SettingError) as caught:
        check_settings({key: value})
    assert caught.value.name == "LINGMA_" + key and str(caught.value).startswith("LINGMA_" + key)


def test_check_settings_passes_good_values():
    check_settings({"MAX_CONCURRENCY": "8", "REASONING": "Inline", "WORKERS": "2", "API_KEYS": "k"})


# -- gunicorn.conf.py, as gunicorn's master executes it --------------------------------------

def test_gunicorn_conf_reads_its_settings_with_their_defaults(monkeypatch):
    conf = runpy.run_path(CONF)
    assert (conf["workers"], conf["worker_connections"]) == (1, 2000)
    assert conf["logconfig_dict"]["formatters"]["gateway"]["()"].endswith("JsonFormatter")
    monkeypatch.setenv("LINGMA_WORKERS", "3")
    monkeypatch.setenv("LINGMA_WORKER_CONNECTIONS", "80")
    monkeypatch.setenv("LINGMA_LOG_FORMAT", " Text ")
    conf = runpy.run_path(CONF)
    assert (conf["workers"], conf["worker_connections"]) == (3, 80)
    assert conf["logconfig_dict"]["formatters"]["gateway"]["()"].endswith("TextFormatter")


@pytest.mark.parametrize("name, value, message", [
    ("LINGMA_WORKERS", "two", "error: LINGMA_WORKERS must be a whole number of at least 1, not 'two'"),
    ("LINGMA_WORKERS", "0", "error: LINGMA_WORKERS must be a whole number of at least 1, not '0'"),
    ("LINGMA_WORKER_CONNECTIONS", "1e3",
     "error: LINGMA_WORKER_CONNECTIONS must be a whole number of at least 1, not '1e3'"),
    ("LINGMA_LOG_FORMAT", "xml", "error: LINGMA_LOG_FORMAT must be one of json, text, not 'xml'"),
    ("LINGMA_MAX_CONCURRENCY", "many", "error: LINGMA_MAX_CONCURRENCY must be a whole number, not 'many'"),
])
def test_gunicorn_conf_exits_with_one_line_naming_a_bad_setting(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as caught:
        runpy.run_path(CONF)
    assert caught.value.code == message


def test_gunicorn_conf_reads_the_dotenv_file_after_the_environment(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("LINGMA_WORKERS=2\nLINGMA_WORKER_CONNECTIONS=lots\n")
    with pytest.raises(SystemExit, match="LINGMA_WORKER_CONNECTIONS must be a whole number"):
        runpy.run_path(CONF)
    monkeypatch.setenv("LINGMA_WORKER_CONNECTIONS", "50")
    conf = runpy.run_path(CONF)
    assert (conf["workers"], conf["worker_connections"]) == (2, 50)


def test_the_master_freezes_what_it_holds_before_each_fork():
    """Objects the master holds move to the collector's permanent generation before a fork, so
    the worker's collections never write into them (their pages stay shared)."""
    conf = runpy.run_path(CONF)
    server = SimpleNamespace(WORKERS={1: SimpleNamespace(lingma_index=0)})
    worker = SimpleNamespace()
    try:
        gc.unfreeze()
        assert gc.get_freeze_count() == 0
        conf["pre_fork"](server, worker)
        assert worker.lingma_index == 1
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
