"""The web tests share the API tests' fixtures: an isolated environment, a FakePool, the app."""

from tests.api.conftest import isolated_env  # noqa: F401  (fixtures, found by name)
from tests.api.conftest import make_app  # noqa: F401
from tests.api.conftest import pool  # noqa: F401
from tests.api.conftest import request_log  # noqa: F401
