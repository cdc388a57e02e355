"""The fault matrix: every simulator fault × the four API faces × streamed and whole.

For each cell the documented status or error event arrives within the configured timeout,
nothing hangs, and the next ordinary request on that face succeeds; after each fault no slot,
no registered stream and no ownerless simulator process is left, and none outlives its
gateway. Per-ask faults (prompt markers) share one gateway, their cells run together unless
the fault ends Lingma's connection; each process-level fault gets a gateway of its own.
With LINGMA_WRITE_RELIABILITY=1 a complete run writes its table into docs/reliability.md.

The same faults run again against a simulator speaking the desktop's ACP-style API
(LINGMA_SIM_PROTOCOL=acp, detected by the gateway): a representative part, `ACP_PER_ASK` and
`ACP_PROCESS` (faultcases.py says which and why). Their cells are checked the same way; the
table holds the classic run only.
"""

import os
import time
import urllib.request

import pytest

from lingma_flask.lingma.instance import wait_until
from tests.integration import reliability_doc
from tests.integration.faultcases import ACP
from tests.integration.faultcases import ACP_PER_ASK
from tests.integration.faultcases import ACP_PROCESS
from tests.integration.faultcases import PER_ASK
from tests.integration.faultcases import PROCESS
from tests.integration.faultcases import SETTINGS
from tests.integration.faultfaces import FACES
from tests.integration.faultrun import cells_of
from tests.integration.faultrun import in_parallel
from tests.integration.faultrun import recover
from tests.integration.faultrun import rest_problems
from tests.integration.faultrun import run
from tests.integration.faultrun import run_and_recover
from tests.integration.faultrun import stopped_problems
from tests.integration.gateway import Gateway

pytestmark = pytest.mark.integration
LIFTS = {"login": "/sim/login", "init": "/sim/init?mode=ok"}


@pytest.fixture(scope="module")
def matrix():
    """Every cell this module ran; a complete matrix is written out when asked."""
    cells, began = [], time.monotonic()
    yield cells
    complete = len(cells) == (len(PER_ASK) + len(PROCESS)) * len(FACES) * 2
    if os.environ.get(reliability_doc.WRITE_ENV) == "1" and complete:
        order = {fault.name: i for i, fault in enumerate(PER_ASK + PROCESS)}
        cells.sort(key=lambda c: (order[c.fault.name], FACES.index(c.face), c.stream))
        reliability_doc.write(reliability_doc.render(cells, SETTINGS, time.monotonic() - began))


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """The gateway of the per-ask faults."""
    gw = Gateway(tmp_path_factory.mktemp("faults") / "work", **SETTINGS).start()
    yield gw
    gw.stop()


def verdict(cells, problems) -> list[str]:
    """Every problem of the cells, then the gateway's."""
    return [p for cell in cells for p in cell.problems()] + problems


@pytest.fixture(scope="module")
def shared_acp(tmp_path_factory):
    """The gateway of the per-ask faults on ACP."""
    gw = Gateway(tmp_path_factory.mktemp("faults-acp") / "work", **SETTINGS, **ACP).start()
    yield gw
    gw.stop()


def per_ask(fault, gw, prefix):
    """Run a per-ask fault's cells on `gw`; return (cells, the gateway's problems)."""
    cells = cells_of(fault, FACES, SETTINGS, f"{prefix} {PER_ASK.index(fault)}")
    problems = []
    if fault.disruptive:  # one at a time: the fault takes every open chat down with it
        for cell in cells:
            run_and_recover(cell, gw.url)
            problems += rest_problems(gw)
    else:
        in_parallel(lambda cell: run_and_recover(cell, gw.url), cells)
        problems += rest_problems(gw)
    return cells, problems


@pytest.mark.parametrize("fault", PER_ASK, ids=lambda fault: fault.name)
def test_per_ask_fault(fault, shared, matrix):
    cells, problems = per_ask(fault, shared, "cell")
    matrix.extend(cells)
    assert verdict(cells, problems) == []


def test_the_shared_gateway_leaves_no_simulator_behind(shared):
    assert stopped_problems(shared) == []


@pytest.mark.parametrize("fault", ACP_PER_ASK, ids=lambda fault: fault.name)
def test_per_ask_fault_on_acp(fault, shared_acp):
    cells, problems = per_ask(fault, shared_acp, "acp cell")
    assert shared_acp.health()[1]["instances"][0]["protocol"] == "acp"
    assert verdict(cells, problems) == []


def test_the_acp_gateway_leaves_no_simulator_behind(shared_acp):
    assert stopped_problems(shared_acp) == []


def lift(gw, kind: str) -> float:
    """End a lasting fault through the simulator's control port; return when it ended."""
    port = gw.health()[1]["instances"][0]["http_port"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{LIFTS[kind]}", timeout=5) as resp:
        assert resp.status == 200
    return time.monotonic()


def lingma_up(gw) -> bool:
    """True once the instance is connected (logged in or not)."""
    instances = gw.health()[1].get("instances") or [{}]
    return instances[0].get("state") == "ready"


def serving(gw) -> bool:
    """True once the worker answers (its pool has begun to start Lingma)."""
    try:
        return gw.get("/health")[0] == 200
    except OSError:
        return False


def process_fault(fault, work, env):
    """Run a process-level fault's cells on a gateway of its own; return (cells, problems)."""
    cells = cells_of(fault, FACES, env, f"cell p{PROCESS.index(fault)}")
    gw, problems = Gateway(work, **env), []
    try:
        gw.start_process()
        assert wait_until(lambda: serving(gw) and (fault.at_start or lingma_up(gw)), 30)
        in_parallel(lambda cell: run(cell, gw.url), cells)
        if fault.lift != "never":
            since = lift(gw, fault.lift) if fault.lift else None
            in_parallel(lambda cell: recover(cell, gw.url, since), cells)
        problems += rest_problems(gw)
    finally:
        problems += stopped_problems(gw)
    return cells, problems


@pytest.mark.parametrize("fault", PROCESS, ids=lambda fault: fault.name)
def test_process_fault(fault, tmp_path, matrix):
    cells, problems = process_fault(fault, tmp_path / "work", {**SETTINGS, **dict(fault.env)})
    matrix.extend(cells)
    assert verdict(cells, problems) == []


@pytest.mark.parametrize("fault", ACP_PROCESS, ids=lambda fault: fault.name)
def test_process_fault_on_acp(fault, tmp_path):
    cells, problems = process_fault(fault, tmp_path / "work", {**SETTINGS, **ACP, **dict(fault.env)})
    assert verdict(cells, problems) == []
