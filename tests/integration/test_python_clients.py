"""litellm, smolagents and aider against the real gateway, each from its own cached venv.

`install_clients.sh` installs litellm + smolagents into one venv and aider (which pins its whole
tree) into another, so requirements-dev.txt does not grow and the pins never meet ours.
litellm_check.py and smolagents_check.py run inside that venv and print one JSON line per
check; aider runs headless and must apply the edit the (simulated) model answers with.
docs/clients.md describes the same settings.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from tests.integration.gateway import API_KEY
from tests.integration.more_clients import aider_binary
from tests.integration.more_clients import answer_marker
from tests.integration.more_clients import checks_by_name
from tests.integration.more_clients import python_clients
from tests.integration.more_clients import run_client
from tests.integration.more_clients import wait_requests
from tests.integration.more_clients import workspace

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent
WORD = "SECRET-" + secrets.token_hex(4)
# litellm fetches its price list from the internet at import without this
OFFLINE = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def run_check(python, gateway, tmp, script: str):
    """Run a check script in the clients' venv; return its run."""
    home, work = workspace(tmp, WORD)
    done = run_client([str(python), str(HERE / script)], home, work,
                      {**OFFLINE, "GW_BASE_URL": gateway.url, "GW_API_KEY": API_KEY,
                       "GW_SECRET": WORD})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def python():
    return python_clients()


# -- litellm -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def litellm(python, gateway, tmp_path_factory):
    """litellm_check.py once, keyed by (face, check)."""
    return checks_by_name(run_check(python, gateway, tmp_path_factory.mktemp("litellm"),
                                    "litellm_check.py"), "face", "check")


@pytest.mark.parametrize("face", ["openai", "anthropic"])
def test_litellm_completion_and_stream(litellm, face):
    generated, streamed = litellm[(face, "generate")], litellm[(face, "stream")]
    assert generated["ok"], generated
    assert generated["text"] == "Hello from litellm" and generated["finish"] == "stop"
    assert generated["completion_tokens"] > 0
    assert streamed["ok"], streamed
    assert streamed["text"] == "Hello from litellm" and streamed["chunks"] > 1


@pytest.mark.parametrize("face", ["openai", "anthropic"])
def test_litellm_tool_round_trip(litellm, face):
    line = litellm[(face, "tools")]
    assert line["ok"], line
    assert line["finish"] == "tool_calls" and [c["name"] for c in line["calls"]] == ["get_weather"]
    assert set(json.loads(line["calls"][0]["arguments"])) == {"city"}
    assert line["text"].startswith("Tool result:") and WORD in line["text"]


@pytest.mark.parametrize("face", ["openai", "anthropic"])
def test_litellm_response_format(litellm, face):
    line = litellm[(face, "structured")]
    assert line["ok"], line
    assert set(line["object"]) == {"city", "summary"}


@pytest.mark.parametrize("face", ["openai", "anthropic"])
def test_litellm_reasoning(litellm, face):
    line = litellm[(face, "reasoning")]
    assert line["ok"], line
    assert line["text"] == "You said: Think" and line["reasoning"] == "Thinking about: Think"


def test_litellm_responses_api(litellm):
    line = litellm[("openai", "responses")]
    assert line["ok"], line
    assert line["text"] == "Hello from litellm" and line["status"] == "completed"


# -- smolagents ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smolagents(python, gateway, tmp_path_factory):
    """smolagents_check.py once, keyed by check."""
    return checks_by_name(run_check(python, gateway, tmp_path_factory.mktemp("smolagents"),
                                    "smolagents_check.py"), "check")


def test_smolagents_tool_calling_agent(smolagents):
    line = smolagents[("tool_calling",)]
    assert line["ok"], line
    # the tool ran once, and the final answer was steered by its observation (see the script)
    assert len(line["calls"]) == 1 and line["output"] == f"{line['calls'][0]}: {WORD}"


def test_smolagents_code_agent(smolagents):
    line = smolagents[("code_agent",)]
    assert line["ok"], line
    assert line["calls"] == ["Paris"] and line["output"] == f"Paris: {WORD}"


# -- aider ---------------------------------------------------------------------------------

AIDER_EDIT = """I will change the greeting.

hello.py
```python
<<<<<<< SEARCH
    return "hello"
=======
    return "hello from Lingma"
>>>>>>> REPLACE
```
"""
# Without metadata for the model aider fetches litellm's price list from the internet.
AIDER_METADATA = {name: {"max_input_tokens": 131072, "max_output_tokens": 8192,
                         "input_cost_per_token": 0, "output_cost_per_token": 0,
                         "litellm_provider": name.split("/")[0], "mode": "chat"}
                  for name in ("openai/auto", "anthropic/auto")}
AIDER_FLAGS = ["--no-git", "--yes-always", "--no-check-update", "--analytics-disable",
               "--no-show-model-warnings", "--no-pretty", "--no-fancy-input", "--map-tokens", "0"]


@pytest.fixture(scope="module")
def aider():
    return aider_binary()


@pytest.mark.parametrize("model,route", [("openai/auto", "/v1/chat/completions"),
                                         ("anthropic/auto", "/v1/messages")])
def test_aider_applies_an_edit(aider, gateway, tmp_path, model, route):
    home, work = workspace(tmp_path, WORD)
    (work / "hello.py").write_text('def greet():\n    return "hello"\n')
    (work / ".aider.model.metadata.json").write_text(json.dumps(AIDER_METADATA))
    env = {**OFFLINE, "OPENAI_API_BASE": gateway.url + "/v1", "OPENAI_API_KEY": API_KEY,
           "ANTHROPIC_API_BASE": gateway.url, "ANTHROPIC_API_KEY": API_KEY}
    mark = len(gateway.lines)
    done = run_client([str(aider), "--model", model, "--edit-format", "diff", *AIDER_FLAGS,
                       "--message", "Make greet say hello from Lingma " + answer_marker(AIDER_EDIT),
                       "hello.py"], home, work, env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Applied edit to hello.py" in done.stdout
    assert (work / "hello.py").read_text() == 'def greet():\n    return "hello from Lingma"\n'
    (entry,) = wait_requests(gateway, mark, 1)
    assert (entry["route"], entry["status"], entry["stream"]) == (route, 200, True)
