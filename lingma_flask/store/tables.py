"""The store's tables, as SQLAlchemy Core sees them; the migrations create exactly these.

Times are naive UTC (`datetime.now(UTC)` without its tzinfo), the same on SQLite and
PostgreSQL; `usage.day` is the UTC date of `at`, kept as a column so that grouping by day is
one portable GROUP BY.
"""

from __future__ import annotations

from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import Date
from sqlalchemy import DateTime
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text

# one naming rule, so a later migration can name what an earlier one made, on every backend
METADATA = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
})
# SQLite's autoincrement needs INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity
ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

# Column widths: values are capped before they are written (usage.py), so no backend refuses one.
KEY_CHARS = 64
ROUTE_CHARS = 200
MODEL_CHARS = 200
HOST_CHARS = 255
CODE_CHARS = 64
REQUEST_ID_CHARS = 128

usage = Table(
    "usage", METADATA,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("at", DateTime(), nullable=False),            # when the request arrived (UTC)
    Column("day", Date(), nullable=False),               # at's UTC date
    Column("host", String(HOST_CHARS), nullable=False),  # the gateway host that answered
    Column("pid", Integer(), nullable=False),            # its worker's pid
    Column("key", String(KEY_CHARS), nullable=False),    # the API key's name; "local" when keyless
    Column("route", String(ROUTE_CHARS), nullable=False),  # the matched URL rule
    Column("model", String(MODEL_CHARS)),
    Column("status", Integer(), nullable=False),
    Column("stream", Boolean(), nullable=False),
    Column("finish_reason", String(CODE_CHARS)),
    Column("first_token_ms", Integer()),
    Column("total_ms", Integer(), nullable=False),
    Column("prompt_tokens", Integer(), nullable=False),      # estimated (pipeline/tokens.py)
    Column("completion_tokens", Integer(), nullable=False),  # estimated
    Column("tool_calls", Integer()),
    Column("error", String(CODE_CHARS)),                 # the error code, as the request log's
    Column("request_id", String(REQUEST_ID_CHARS), nullable=False),
    Column("prompt", Text()),                            # only with LINGMA_LOG_PROMPTS
    Index(None, "at"),
    Index(None, "key", "day"),
)

# State every worker and host must see (stored responses, message threads...): one value per
# (scope, name), owned by a key, forgotten after `expires_at`. Written through the batch writer.
shared_state = Table(
    "shared_state", METADATA,
    Column("scope", String(CODE_CHARS), primary_key=True),   # what kind of state
    Column("name", String(REQUEST_ID_CHARS), primary_key=True),  # its id within the scope
    Column("owner", String(KEY_CHARS), nullable=False),      # the key name that may read it
    Column("value", LargeBinary(), nullable=False),
    Column("size", Integer(), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("expires_at", DateTime(), nullable=False),
    Index(None, "expires_at"),
)

WORKER_CHARS = 32   # a worker's random id (a pid is reused: after a restart, in containers)
PERIOD_CHARS = 8

# The counts behind the per-key limits (web/ledger.py): each worker adds what it admitted
# (requests) and counted (estimated tokens) to its own row per key and window, and reads the
# sum of the other workers' rows for the current minute (rpm) and UTC day (daily tokens). A row
# per worker, not per key and window: no two workers ever update one row (no lock waits on
# PostgreSQL), and a worker's own counts are never read back as another's.
key_counts = Table(
    "key_counts", METADATA,
    Column("key", String(KEY_CHARS), primary_key=True),         # the API key's name
    Column("period", String(PERIOD_CHARS), primary_key=True),   # "minute" or "day"
    Column("start", DateTime(), primary_key=True),              # the window's first moment (UTC)
    Column("worker", String(WORKER_CHARS), primary_key=True),   # the counting worker's id
    Column("requests", BigInteger(), nullable=False),
    Column("tokens", BigInteger(), nullable=False),
    Index(None, "start"),
)

# One row per worker of every host, rewritten through the writer while it runs (its heartbeat):
# what the status page lists as every host's and worker's instances.
workers = Table(
    "workers", METADATA,
    Column("worker", String(WORKER_CHARS), primary_key=True),   # the worker's random id
    Column("host", String(HOST_CHARS), nullable=False),
    Column("pid", Integer(), nullable=False),
    Column("worker_index", Integer()),                          # its index on its host (w<k>)
    Column("started_at", DateTime(), nullable=False),
    Column("seen_at", DateTime(), nullable=False),              # its last heartbeat
    Column("ready", Boolean(), nullable=False),
    Column("state", Text(), nullable=False),                    # JSON: simulator, instances
    Index(None, "seen_at"),
)

# The Lingma login shared across hosts (LINGMA_SHARE_LOGIN=db): one row per host that published
# a login (or a logout: `login` NULL), the newest row wins. `login` is a Fernet token of the
# login files, encrypted with a key derived from LINGMA_SECRET_KEY.
lingma_logins = Table(
    "lingma_logins", METADATA,
    Column("host", String(HOST_CHARS), primary_key=True),
    Column("at", DateTime(), nullable=False),                   # when the login (or logout) was made
    Column("login", LargeBinary()),
)
