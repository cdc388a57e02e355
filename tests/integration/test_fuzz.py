"""Fuzz the real gateway (gunicorn + gevent + the simulator) against its own /openapi.json.

schemathesis generates requests from the live spec, valid ones (positive) and ones that break
it (negative), for every operation; each answer must:

* never be a 5xx (`not_a_server_error`);
* have a documented status, content type and headers (`status_code_conformance`,
  `content_type_conformance`, `response_headers_conformance`: `x-request-id` is sane even when
  the fuzzer sends a hostile one);
* match the documented schema (`response_schema_conformance`): every error in its envelope,
  every event of a stream;
* for a request that breaks the schema, be a 4xx (`negative_data_rejection`): the spec is
  no stricter than the code, so its strict types are the code's.

Each operation gets schemathesis' explicit phases (its coverage cases: boundaries, missing
and wrong-typed fields) and a bounded number of generated cases, derandomized: the same
cases every run, since a fuzz run in CI must not be flaky (set derandomize=False locally to
explore). An unprefixed alias (`POST /chat/completions`) is its /v1 twin's view with the twin's
request and answers, so the twin's cases are not sent to it again: it gets a few generated
ones. The simulator's answers are short, so `stream: true` answers are read whole. The
admin operations that change state (restart, logout, start a login, change the endpoint)
get a separate short run at the end. Findings and their fixes: docs/reliability.md.
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.specs.openapi.checks import negative_data_rejection
from schemathesis.specs.openapi.checks import response_headers_conformance
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {API_KEY}"}
EXAMPLES = 25             # generated cases per operation, besides its coverage cases
FUZZ_ONLY_EXAMPLES = 100  # generated cases per operation fuzzed without coverage cases
STATEFUL_EXAMPLES = 5     # per state-changing admin operation
ALIAS_EXAMPLES = 5        # per alias of a /v1 operation (ALIASES below)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]
# a request that breaks the spec must get one of these (the body limit's 413 included)
CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {
    "expected-statuses": ["400", "401", "403", "404", "405", "408", "413", "422"]}}})
# schemathesis' coverage phase builds its boundary cases of these (20,000 messages of 2,000
# blocks) as bodies of about 1 GB: they are fuzzed with generated cases only; their strict
# types are pinned by tests/integration/test_bad_input.py's table instead
NO_COVERAGE = {("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens")}
CHANGES_STATE = {("POST", "/admin/api/instances/{name}/restart"), ("POST", "/admin/api/logout"),
                 ("POST", "/admin/api/login"), ("POST", "/admin/api/endpoint")}
# served by their /v1 twin's view and documented with its request and answers (pinned by
# tests/api/test_openapi.py): the twin's cases, hundreds each, would be the same requests to
# the same code again, so these get a few generated cases, enough to see the route answer
ALIASES = {("POST", "/chat/completions"), ("POST", "/completions"), ("POST", "/responses"),
           ("POST", "/responses/input_tokens")}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """A gateway whose API, admin and metrics keys are the one key the fuzzer sends.

    Its body limit is above what the count limits allow (20,000 messages), so those limits
    answer, not the size.
    """
    gw = Gateway(tmp_path_factory.mktemp("fuzz") / "work", LINGMA_ADMIN_KEY=API_KEY,
                 LINGMA_METRICS_KEY=API_KEY, LINGMA_MAX_BODY_BYTES=str(4 * 1024 * 1024),
                 LINGMA_BODY_TIMEOUT="5", LINGMA_FIRST_TOKEN_TIMEOUT="5").start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def live_schema(gateway):
    """The spec as the gateway serves it."""
    return schemathesis.openapi.from_url(gateway.url + "/openapi.json", config=CONFIG)


@pytest.fixture(scope="module")
def session():
    """One HTTP session (kept-alive connections) for the whole run."""
    with requests.Session() as s:
        yield s


def fuzz_settings(examples: int, phases=tuple(Phase)):
    """Hypothesis settings of a bounded, repeatable run."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True, phases=phases)


def key(ctx) -> tuple[str, str]:
    """(METHOD, path) of a schemathesis operation."""
    return ctx.operation.method.upper(), ctx.operation.path


schema = schemathesis.pytest.from_fixture("live_schema")
stateless = schema.exclude(lambda ctx: key(ctx) in CHANGES_STATE | NO_COVERAGE | ALIASES)
fuzzed_only = schema.include(lambda ctx: key(ctx) in NO_COVERAGE)
aliases = schema.include(lambda ctx: key(ctx) in ALIASES)
stateful = schema.include(lambda ctx: key(ctx) in CHANGES_STATE)


@stateless.parametrize()
@fuzz_settings(EXAMPLES)
def test_every_operation_keeps_its_contract(case, session):
    case.call_and_validate(session=session, headers=AUTH, checks=CHECKS, timeout=30)


@fuzzed_only.parametrize()
@fuzz_settings(FUZZ_ONLY_EXAMPLES, phases=(Phase.generate,))
def test_the_anthropic_operations_keep_their_contract(case, session):
    case.call_and_validate(session=session, headers=AUTH, checks=CHECKS, timeout=30)


@aliases.parametrize()
@fuzz_settings(ALIAS_EXAMPLES, phases=tuple(phase for phase in Phase if phase != Phase.explicit))
def test_the_aliases_keep_their_contract(case, session):
    case.call_and_validate(session=session, headers=AUTH, checks=CHECKS, timeout=30)


@stateful.parametrize()
@fuzz_settings(STATEFUL_EXAMPLES)
def test_state_changing_admin_operations_keep_their_contract(case, session):
    case.call_and_validate(session=session, headers=AUTH, checks=CHECKS, timeout=30)


def test_the_gateway_still_serves_after_the_fuzzing(gateway):
    status, body = gateway.get("/health")
    assert status == 200 and body["status"] == "ok"
    log = "".join(gateway.lines)
    assert "Traceback" not in log and "unhandled error" not in log, log[log.find("unhandled"):][:4000]
