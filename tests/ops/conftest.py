"""The operator side's tests use the API tests' app, client and fake pool fixtures."""

from tests.api.conftest import app  # noqa: F401
from tests.api.conftest import client  # noqa: F401
from tests.api.conftest import config  # noqa: F401
from tests.api.conftest import isolated_env  # noqa: F401
from tests.api.conftest import make_app  # noqa: F401
from tests.api.conftest import pool  # noqa: F401
from tests.api.conftest import request_log  # noqa: F401
from tests.api.conftest import sdk  # noqa: F401
