"""create_app: config layers (defaults, .env, LINGMA_* env, test_config) and the pool."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lingma_flask import create_app
from lingma_flask.extension import core_settings
from lingma_flask.lingma.pool import LingmaPool


def test_defaults(make_app):
    app = make_app()
    api = app.extensions["lingma_api"]
    assert api.api_keys == () and api.model_aliases == {}
    assert api.max_body_bytes == 16 * 1024 * 1024 == app.config["MAX_CONTENT_LENGTH"]
    assert api.sse_keepalive == 0.01
    assert app.config["WORKERS"] == 1 and app.config["WORKER_CONNECTIONS"] == 2000


def test_env_then_test_config(monkeypatch, pool):
    monkeypatch.setenv("LINGMA_API_KEYS", "k1,k2")
    monkeypatch.setenv("LINGMA_SSE_KEEPALIVE", "2")
    monkeypatch.setenv("LINGMA_MAX_BODY_BYTES", "1000")
    app = create_app({"LINGMA_POOL": pool, "MAX_BODY_BYTES": 2000})
    api = app.extensions["lingma_api"]
    assert api.api_keys == ("k1", "k2")
    assert api.sse_keepalive == 2.0
    assert api.max_body_bytes == 2000


def test_numeric_key_from_env_stays_a_string(monkeypatch, pool):
    monkeypatch.setenv("LINGMA_API_KEYS", "12345")  # JSON would make it the number 12345
    assert create_app({"LINGMA_POOL": pool}).extensions["lingma_api"].api_keys == ("12345",)


def test_dotenv_is_read_but_real_env_wins(tmp_path, monkeypatch, pool):
    (tmp_path / ".env").write_text("LINGMA_API_KEYS=from-file\nLINGMA_SSE_KEEPALIVE=7\n")
    monkeypatch.setenv("LINGMA_API_KEYS", "from-env")
    app = create_app({"LINGMA_POOL": pool})
    api = app.extensions["lingma_api"]
    assert api.api_keys == ("from-env",)
    assert api.sse_keepalive == 7.0


def test_a_real_pool_is_built_from_core_settings_but_not_started(monkeypatch, tmp_path):
    monkeypatch.setenv("LINGMA_BIN", "simulator")
    monkeypatch.setenv("LINGMA_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("LINGMA_POOL_SIZE", "2")
    app = create_app()
    pool = app.extensions["lingma"]
    assert isinstance(pool, LingmaPool)
    assert pool.settings.bin == "simulator" and pool.settings.pool_size == 2
    assert pool.instances == []  # start() is the worker hook's job


def test_worker_index_gives_each_worker_its_own_work_dir(tmp_path):
    settings = core_settings({"WORK_DIR": str(tmp_path), "WORKER_INDEX": "1"})
    assert Path(settings.work_dir) == tmp_path / "w1"
    assert core_settings({"WORK_DIR": str(tmp_path)}).work_dir == str(tmp_path)


def test_init_refuses_to_run_twice(make_app):
    from lingma_flask import extension
    with pytest.raises(RuntimeError, match="already registered"):
        extension.init_app(make_app())


def test_wsgi_module_builds_the_app(monkeypatch, tmp_path):
    import importlib
    import sys
    monkeypatch.setenv("LINGMA_BIN", "simulator")
    monkeypatch.setenv("LINGMA_WORK_DIR", str(tmp_path))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    sys.modules.pop("wsgi", None)
    wsgi = importlib.import_module("wsgi")
    try:
        assert isinstance(wsgi.app.extensions["lingma"], LingmaPool)
    finally:
        sys.modules.pop("wsgi", None)


ROOT = Path(__file__).resolve().parents[2]
STORE_PACKAGES = ("sqlalchemy", "alembic", "psycopg", "mako")
# a gunicorn gevent worker's start: patched first, then the app built by `import wsgi`
IMPORT_WSGI = (
    "from gevent import monkey\n"
    "monkey.patch_all()\n"
    "import json, sys\n"
    "import wsgi\n"
    f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {STORE_PACKAGES!r})))\n")


def store_modules_of_a_worker(work_dir: Path, store: str) -> list[str]:
    """The store packages' modules loaded once a fresh process built the app with LINGMA_STORE=`store`."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("LINGMA_") and name != "DATABASE_URL"}
    env.update(LINGMA_STORE=store, LINGMA_BIN="simulator", LINGMA_WORK_DIR=str(work_dir))
    done = subprocess.run([sys.executable, "-c", IMPORT_WSGI], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_worker_without_the_store_never_loads_sqlalchemy(tmp_path):
    """LINGMA_STORE=off: building the app loads no SQLAlchemy, Alembic, psycopg or Mako (some
    14 MB a worker); with the store on SQLAlchemy is there, so the check tells the two apart."""
    assert store_modules_of_a_worker(tmp_path / "off", "off") == []
    loaded = store_modules_of_a_worker(tmp_path / "on", "on")
    assert "sqlalchemy" in loaded
    assert not [name for name in loaded if name.split(".")[0] in ("alembic", "mako")]  # migrations: a child


def test_the_current_app_g_and_request_are_flasks_own_without_the_proxies(make_app):
    import flask

    from lingma_flask import extension
    first, second = make_app(), make_app()
    for app in (first, second):
        with app.test_request_context("/v1/models"):
            assert extension.current() is flask.current_app._get_current_object() is app
            assert extension.app_globals() is flask.g._get_current_object()
            assert extension.current_request() is flask.request._get_current_object()
            assert extension.get_settings() is app.extensions["lingma_api"]
    for read in (extension.current, extension.app_globals):
        with pytest.raises(RuntimeError, match="outside of application context"):
            read()
    with first.app_context(), pytest.raises(RuntimeError, match="outside of request context"):
        extension.current_request()
