"""The session key: LINGMA_SECRET_KEY, else one file in the work-dir root shared by all workers."""

from __future__ import annotations

import stat
import threading

from flask import Flask

from lingma_flask import create_app
from lingma_flask.ops.secret import FILE_NAME
from lingma_flask.ops.secret import init_secret_key
from lingma_flask.ops.secret import load_or_create


def bare_app(**config) -> Flask:
    """A Flask app that is not TESTING, with some config."""
    app = Flask(__name__)
    app.config.update(config)
    return app


def test_lingma_secret_key_wins(monkeypatch, pool, tmp_path):
    monkeypatch.setenv("LINGMA_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("LINGMA_WORK_DIR", str(tmp_path / "work"))
    app = create_app({"LINGMA_POOL": pool})
    assert app.secret_key == "from-the-environment"
    assert not (tmp_path / "work" / FILE_NAME).exists()


def test_a_generated_key_is_kept_private_in_the_work_root(tmp_path):
    root = tmp_path / "work"
    first = bare_app(WORK_DIR=str(root))
    init_secret_key(first)
    path = root / FILE_NAME
    assert path.read_text().strip() == first.secret_key and len(first.secret_key) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = bare_app(WORK_DIR=str(root), WORKER_INDEX=1)
    init_secret_key(second)
    assert second.secret_key == first.secret_key
    assert [p.name for p in root.iterdir()] == [FILE_NAME]


def test_workers_starting_together_agree_on_one_key(tmp_path):
    for attempt in range(10):
        path = tmp_path / f"root{attempt}" / FILE_NAME
        barrier = threading.Barrier(4)
        keys = []

        def worker(barrier=barrier, keys=keys, path=path):
            barrier.wait()
            keys.append(load_or_create(path))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(keys) == 4 and len(set(keys)) == 1
        assert path.read_text().strip() == keys[0]
        assert [p.name for p in path.parent.iterdir()] == [FILE_NAME]


def test_test_apps_get_a_key_without_writing_a_file(tmp_path):
    app = bare_app(WORK_DIR=str(tmp_path), TESTING=True)
    init_secret_key(app)
    assert app.secret_key and not list(tmp_path.iterdir())
