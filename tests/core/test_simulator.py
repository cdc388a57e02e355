"""The Lingma simulator, driven as a subprocess over a bare WebSocket (websocket-client).

Every test talks the wire protocol itself (framing.encode / FrameDecoder) and asserts what
came back: answer text, push shapes, ack bookkeeping in /sim/state, faults. Runs under plain
threads and under `python -m gevent.monkey --module pytest`.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import subprocess
import sys
from urllib.parse import parse_qs
from urllib.parse import quote
from urllib.parse import urlsplit

import pytest
import websocket

from lingma_flask.lingma.framing import encode
from lingma_flask.lingma.procutil import free_port
from lingma_flask.lingma.procutil import port_open
from tests.core.simclient import MODULE
from tests.core.simclient import PUSHES
from tests.core.simclient import REPO
from tests.core.simclient import Sim
from tests.core.simclient import answer_text
from tests.core.simclient import finish_of
from tests.core.simclient import poll
from tests.core.simclient import rid


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    instance = Sim(tmp_path_factory.mktemp("sim"), {"LINGMA_SIM_TOOL_TIMEOUT": "0.5"})
    try:
        yield instance.wait_ready()
    finally:
        instance.stop()


# process & discovery ---------------------------------------------------------------
def test_start_writes_info_log_and_cache_then_sigterm_cleans_up(start_sim):
    sim = start_sim()
    port, pid = sim.info_lines()
    assert (int(port), int(pid)) == (sim.port, sim.proc.pid)
    assert f"Communication servers ready - WebSocket: {sim.port}, HTTP: {sim.http_port}" in sim.log()
    assert (sim.work / "cache" / "id").is_file() and (sim.work / "cache" / "user").is_file()
    sim.proc.send_signal(signal.SIGTERM)
    assert sim.proc.wait(timeout=10) == 0
    assert not (sim.work / ".info").exists()


def test_cli_version_status_and_unknown_subcommand(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", MODULE, *args], cwd=REPO, capture_output=True,
                              text=True, timeout=30, env=dict(os.environ, PYTHONPATH=str(REPO)))

    assert run("version").stdout.strip() == "version: 2.11.1-sim"
    status = json.loads(run("status", "-o", "json", "--workDir", str(tmp_path)).stdout)
    assert status == {"logged_in": False, "version": "2.11.1-sim", "username": "", "user_type": ""}
    bad = run("frobnicate")
    assert bad.returncode != 0 and "invalid choice" in bad.stderr


def test_port_busy_exits_non_zero(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", MODULE, "start", "--workDir", str(tmp_path / "wd"),
             "--socketPort", str(port), "--httpPort", str(free_port())],
            cwd=REPO, capture_output=True, text=True, timeout=30,
            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode != 0
    assert f"port {port} is not available" in result.stderr
    assert not (tmp_path / "wd" / ".info").exists()


def test_info_early_slow_start_extra_formats_and_expired_auth(start_sim):
    sim = start_sim({"LINGMA_SIM_INFO_EARLY": "1", "LINGMA_SIM_START_DELAY": "1.0",
                     "LINGMA_SIM_INFO_THIRD_LINE": "1", "LINGMA_SIM_INFO_JSON": "1",
                     "LINGMA_SIM_AUTH_EXPIRED": "1"}, ready=False)
    lines = poll(sim.info_lines, what=".info")
    assert not port_open(sim.port), ".info must appear before the port listens"
    assert int(lines[0]) == sim.port and int(lines[1]) == sim.proc.pid and "pipe" in lines[2]
    info_json = json.loads((sim.work / ".info.json").read_text())
    assert info_json["websocketPort"] == sim.port and info_json["pid"] == sim.proc.pid
    sim.wait_ready()
    peer = sim.client()
    try:
        assert peer.request("auth/status")["result"]["status"] == 3
        assert peer.request("config/queryModels")["result"] == {}
    finally:
        peer.close()


def test_login_flow_when_started_logged_out(start_sim):
    sim = start_sim({"LINGMA_SIM_LOGGED_IN": "0"})
    assert not (sim.work / "cache" / "user").exists()
    peer = sim.client()
    try:
        assert peer.request("auth/status")["result"] == {
            "status": 1, "name": "", "id": "", "accountId": "", "token": "", "refreshToken": ""}
        assert peer.request("config/queryModels")["result"] == {}
        finish = finish_of(peer.collect(peer.ask("hi")))
        assert finish["statusCode"] == 401
        url = peer.request("login/generateUrl", {"loginDedicatedType": ""})["result"]
        query = parse_qs(urlsplit(url["loginUrl"]).query)
        assert url["success"] is True and url["loginUrl"].startswith("https://devops.aliyun.com/")
        assert query["port"] == [str(sim.http_port)] and url["nonce"] and query["nonce"]
        assert query["redirect_uri"] == [f"http://127.0.0.1:{sim.http_port}/auth/callback"]
        assert quote(query["redirect_uri"][0], safe="") in url["loginUrl"]
        state = query["state"][0]
        for bad in (f"state={state}", f"state={state}&code=", "code=abc&state=nope", "code=abc"):
            assert sim.get("/auth/callback?" + bad)[0] == 400
        assert peer.request("auth/status")["result"]["status"] == 1
        assert sim.get("/?code=abc&state=" + state)[0] == 404
        status, page = sim.get(f"/auth/callback?state={state}&code=abc")
        assert status == 200 and "Login complete" in page
        assert sim.get(f"/auth/callback?state={state}&code=abc")[0] == 400, "a state completes once"
        assert peer.request("auth/status")["result"]["status"] == 2
        assert "chat" in peer.request("config/queryModels")["result"]
        assert (sim.work / "cache" / "id").is_file() and (sim.work / "cache" / "user").is_file()
        assert peer.request("auth/logout")["result"] == {"success": True}
        assert peer.request("auth/status")["result"]["status"] == 1
        assert not (sim.work / "cache" / "user").exists()
        assert sim.http("/sim/login") == {"logged_in": True}
        assert sim.http("/sim/logout") == {"logged_in": False}
        assert peer.request("auth/status")["result"]["status"] == 1
    finally:
        peer.close()


def test_crash_fault_exits_and_leaves_stale_info(start_sim):
    sim = start_sim()
    peer = sim.client()
    try:
        request_id = peer.ask("[[sim:crash,chunks=6]] going down")
        first = peer.next(lambda m: m.get("method") == "chat/answer" and rid(m) == request_id)
        assert first["params"]["text"]
        assert sim.proc.wait(timeout=10) == 1
        assert sim.info_lines() == [str(sim.port), str(sim.proc.pid)]
    finally:
        peer.ws.close(timeout=0.2)


# framing & JSON-RPC basics ---------------------------------------------------------
def test_initialize_required_ids_echoed_and_unknown_methods(sim):
    peer = sim.client(initialize=False)
    try:
        assert peer.request("auth/status")["error"]["code"] == -32002
        init = peer.request("initialize", {}, msg_id="init-1")
        assert init["result"] == {"capabilities": {}, "experimental": {},
                                  "serverInfo": {"name": "lingma", "version": "2.11.1-sim"}}
        peer.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        peer.send({"jsonrpc": "2.0", "method": "no/such/notification", "params": {}})
        assert peer.request("no/such/method")["error"]["code"] == -32601
        assert peer.request("ping", msg_id="p-7")["id"] == "p-7"
        peer.send_raw(encode([{"jsonrpc": "2.0", "id": 5, "method": "ping"}]))
        assert peer.next(lambda m: "error" in m)["error"]["code"] == -32600
        assert peer.quiet(0.2) == []
    finally:
        peer.close()


def test_framing_bare_json_coalesced_and_split_input(sim, client):
    client.send_raw(json.dumps({"jsonrpc": "2.0", "id": 900, "method": "ping"}).encode(), binary=False)
    both = encode({"jsonrpc": "2.0", "id": 901, "method": "ping"}) + \
        encode({"jsonrpc": "2.0", "id": 902, "method": "config/getEndpoint"})
    client.send_raw(both)
    assert client.next(lambda m: m.get("id") == 901)["result"] == {"success": True}
    assert client.next(lambda m: m.get("id") == 902)["result"] == {"endpoint": ""}
    frame = encode({"jsonrpc": "2.0", "id": 903, "method": "chat/stop",
                    "params": {"requestId": "没有-такого", "sessionId": ""}})
    cut = frame.index("没".encode()) + 1  # inside a UTF-8 character
    for piece in (frame[:5], frame[5:cut], frame[cut:]):
        client.send_raw(piece)
    assert client.next(lambda m: m.get("id") == 903)["result"] == {}
    assert not any(m.get("id") == 900 for m in client.quiet(0.1))
    assert "Unknown message header" in sim.log()
    assert "没有-такого" in sim.state()["stops"]


def test_auth_models_and_endpoint(client):
    auth = client.request("auth/status")["result"]
    assert auth["status"] == 2 and auth["name"] and auth["token"] and auth["whitelist"] == 3
    models = client.request("config/queryModels")["result"]
    assert sorted(models) == ["assistant", "chat", "developer", "inline", "quest"]
    by_key = {m["key"]: m for m in models["chat"]}
    assert by_key["auto"]["isDefault"] is True and by_key["auto"]["displayName"] == "Auto"
    assert by_key["dashscope_qwen_plus_20250428_thinking"]["isReasoning"] is True
    assert {by_key[k]["displayName"] for k in ("dashscope_qwen3_coder", "dashscope_qwen_max_latest",
                                               "kmodel")} == {"Qwen3-Coder", "Qwen3-Max", "Kimi-K2.6"}
    assert all(m["url"] == m["apiKey"] == m["model"] == "" for m in models["developer"])
    assert client.request("config/updateEndpoint", {"endpoint": "https://x.test"})["result"] == {
        "success": True}
    assert client.request("config/getEndpoint")["result"] == {"endpoint": "https://x.test"}
    client.request("config/updateEndpoint", {"endpoint": ""})


def test_frames_log_records_traffic_without_tokens(sim, client):
    client.request("auth/status")
    log = sim.log("frames.log")
    assert '"method": "auth/status"' in log and '"status":2' in log
    assert "SIMULATED-TOKEN" not in log and '"token":"***"' in log


# chat/ask ------------------------------------------------------------------------------
def test_chat_ask_streams_answer_as_acked_requests(sim, client):
    before = sim.state()["acks"]
    request_id = client.ask("Hello [[sim:ttft=0.01]] 世界, how are you?",
                            pluginPayloadConfig={"isEnableAutoMemory": False})
    pushes = client.collect(request_id)
    assert answer_text(pushes) == "You said: Hello  世界, how are you?"
    title = client.next(lambda m: m.get("method") == "session/title/update")
    assert title["params"] == {"sessionId": finish_of(pushes)["sessionId"],
                               "sessionTitle": "Hello  世界, how are you?"}
    assert title["id"] == pushes[0]["id"] + 1, "title right after step_start"
    pushes.insert(1, title)
    methods = [m["method"] for m in pushes]
    assert pushes[0]["params"]["step"] == "step_start"
    assert methods[-2:] == ["chat/process_step_callback", "chat/finish"]
    assert all(isinstance(m["id"], int) for m in pushes)
    answers = [m["params"] for m in pushes if m["method"] == "chat/answer"]
    assert [a["text"] for a in answers][3] == "" and len([a for a in answers if a["text"]]) == 5
    assert all(a["overwrite"] is False and a["extra"] == {"sessionType": "chat"} and a["timestamp"]
               for a in answers)
    finish = finish_of(pushes)
    assert (finish["statusCode"], finish["reason"]) == (200, "success")
    assert finish["fullAnswer"] == answer_text(pushes) and finish["sessionId"]
    state = poll(lambda: (s := sim.state())["acks"]["acked"] - before["acked"] == len(pushes) and s,
                 what="acks counted")
    assert state["acks"]["missing"] == 0 and state["active_asks"] == 0
    record = next(a for a in state["asks"] if a["requestId"] == request_id)
    assert record["model"] == "auto" and record["mode"] == "chat" and record["sessionType"] == "chat"
    assert record["pluginPayloadConfig"] == {"isEnableAutoMemory": False}


@pytest.mark.parametrize("mode, expect", [
    ("success", {"isSuccess": True, "errorCode": "", "errorMessage": ""}),
    ("fail", {"isSuccess": False, "errorMessage": "simulated ask failure"}),
])
def test_chat_ask_reply_modes(client, mode, expect):
    request_id = client.ask(f"[[sim:reply={mode}]] hi", msg_id=f"ask-{mode}")
    reply = client.next(lambda m: m.get("id") == f"ask-{mode}" and "method" not in m)
    assert reply["result"]["requestId"] == request_id
    assert {k: reply["result"][k] for k in expect} == expect
    if mode == "success":
        assert answer_text(client.collect(request_id)) == "You said: hi"


def test_chat_ask_reply_error_and_silent_default(client):
    client.ask("[[sim:reply=error]] x", msg_id=77)
    assert client.next(lambda m: m.get("id") == 77)["error"]["code"] == -32603
    request_id = client.ask("no reply by default", msg_id=78)
    pushes = client.collect(request_id)
    assert answer_text(pushes) == "You said: no reply by default"
    assert not any(m.get("id") == 78 and "method" not in m for m in client.quiet(0.1))


def test_markers_len_chunks_and_stamp(client):
    request_id = client.ask("[[sim:len=57]] filler [[sim:chunks=5,stamp]]")
    pushes = client.collect(request_id)
    text = answer_text(pushes)
    assert len(text) == 57 and any("\u4e00" <= ch <= "\u9fff" for ch in text)
    real = [m["params"] for m in pushes if m["method"] == "chat/answer" and m["params"]["text"]]
    assert len(real) == 5
    stamps = [p["simSentNs"] for p in real]
    assert stamps == sorted(stamps) and all(isinstance(s, int) and s > 0 for s in stamps)


def test_stamp_text_prefixes_each_chunk_with_the_send_time(client):
    request_id = client.ask("[[sim:stamp=text,chunk=3]] abc def")
    pushes = client.collect(request_id)
    real = [m["params"] for m in pushes if m["method"] == "chat/answer" and m["params"]["text"]]
    for params in real:
        _, stamp, text = params["text"].split("|", 2)
        assert int(stamp) == params["simSentNs"] > 0 and text
    assert "".join(p["text"].split("|", 2)[2] for p in real) == "You said: abc def"
    assert finish_of(pushes)["fullAnswer"] == "You said: abc def"


@pytest.mark.parametrize("marker, code, reason", [
    ("finish=429", 429, "rate limited"),
    ("finish=403", 403, "quota exhausted"),
    ("finish=406", 406, "content filtered"),
    ("finish=403,reason=access_denied_by_admin", 403, "access denied by admin"),
    ("finish=40505", 40505, "model unavailable"),
])
def test_finish_code_faults(client, marker, code, reason):
    pushes = client.collect(client.ask(f"[[sim:{marker}]] q"))
    finish = finish_of(pushes)
    assert (finish["statusCode"], finish["reason"], finish["fullAnswer"]) == (code, reason, "")
    assert answer_text(pushes) == ""


def test_unknown_model_is_rejected_with_business_code(client):
    finish = finish_of(client.collect(client.ask("q", extra={"modelConfig": {"key": "nope"}})))
    assert finish["statusCode"] == 40505 and "nope" in finish["reason"]


def test_concurrent_asks_interleave_on_one_connection(client):
    ids = {client.ask(f"question {i} [[sim:chunk=2,delay=0.005]]"): i for i in range(40)}
    finished, texts, order = set(), collections.defaultdict(str), []
    while len(finished) < len(ids):
        message = client.next(lambda m: rid(m) in ids)
        order.append(rid(message))
        if message["method"] == "chat/answer":
            texts[rid(message)] += message["params"]["text"]
        if message["method"] == "chat/finish":
            finished.add(rid(message))
    assert all(texts[r] == f"You said: question {i}" for r, i in ids.items())
    switches = sum(1 for a, b in zip(order, order[1:], strict=False) if a != b)
    assert switches > len(ids) * 2, "chunks of concurrent asks must interleave"


def test_stop_sends_cancelled_finish_and_silent_mode(sim, client):
    request_id = client.ask("[[sim:stall]] wait forever")
    client.next(lambda m: rid(m) == request_id and m["params"].get("step") == "step_start")
    assert client.request("chat/stop", {"requestId": request_id, "sessionId": ""})["result"] == {}
    finish = client.next(lambda m: rid(m) == request_id and m["method"] == "chat/finish")["params"]
    assert (finish["statusCode"], finish["reason"]) == (200, "cancelled")
    silent = client.ask("[[sim:stopmode=silent,chunks=50,delay=0.05]] long")
    client.next(lambda m: rid(m) == silent and m["method"] == "chat/answer")
    client.request("chat/stop", {"requestId": silent, "sessionId": ""})
    assert not any(rid(m) == silent and m["method"] == "chat/finish" for m in client.quiet(0.3))
    assert {request_id, silent} <= set(sim.state()["stops"])


def test_stall_after_sends_k_chunks_then_nothing(client):
    request_id = client.ask("[[sim:stall_after=2,chunk=1,empty=0]] abcdef")
    pushes = [client.next(lambda m: rid(m) == request_id and m["method"] == "chat/answer")
              for _ in range(2)]
    assert answer_text(pushes) == "Yo"
    assert [m for m in client.quiet(0.3) if m["method"] in ("chat/answer", "chat/finish")] == []
    client.request("chat/stop", {"requestId": request_id, "sessionId": ""})
    finish = client.next(lambda m: rid(m) == request_id and m["method"] == "chat/finish")
    assert finish["params"]["fullAnswer"] == "Yo"


def test_wire_faults_garbage_split_coalesce(client):
    garbage = client.ask("[[sim:garbage]] still fine")
    assert answer_text(client.collect(garbage)) == "You said: still fine"
    assert client.decoder.skipped == 2
    before = client.binary_messages
    split = client.ask("[[sim:split]] 分割 text")
    assert answer_text(client.collect(split)) == "You said: 分割 text"
    assert client.binary_messages - before >= 3 * 5
    before = client.ws_messages
    coalesced = client.ask("[[sim:coalesce,chunk=2]] abcdefghijkl")
    pushes = client.collect(coalesced)
    assert answer_text(pushes) == "You said: abcdefghijkl"
    assert client.ws_messages - before <= (len(pushes) + 2) // 3 + 1


def test_empty_then_full_and_think(client):
    pushes = client.collect(client.ask("[[sim:empty_then_full]] only in finish"))
    assert answer_text(pushes) == ""
    assert finish_of(pushes)["fullAnswer"] == "You said: only in finish"
    pushes = client.collect(client.ask("[[sim:think]] ponder"))
    thinks = [m["params"] for m in pushes if m["method"] == "chat/think"]
    assert [t["step"] for t in thinks] == ["start"] * 3 + ["done"]
    assert "".join(t["text"] for t in thinks) == "Thinking about: ponder"
    assert answer_text(pushes) == "You said: ponder"


def test_tool_invoke_in_agent_mode(sim, client):
    request_id = client.ask("[[sim:toolinvoke]] use a tool", mode="agent", sessionType="developer")
    invoke = client.next(lambda m: m.get("method") == "tool/invoke")["params"]
    assert invoke["requestId"] == request_id and invoke["name"] == "read_file"
    assert invoke["async"] is False
    client.request("tool/invokeResult", {"toolCallId": invoke["toolCallId"], "name": "read_file",
                                         "success": False, "errorMessage": "tools unavailable"})
    assert answer_text(client.collect(request_id)) == "You said: use a tool"
    unanswered = client.ask("[[sim:toolinvoke]] ignore it", mode="agent")
    client.next(lambda m: m.get("method") == "tool/invoke")
    assert answer_text(client.collect(unanswered)) == "You said: ignore it"
    results = {r["requestId"]: r for r in sim.state()["tool_results"]}
    assert results[request_id]["received"] is True
    assert results[unanswered]["received"] is False and results[unanswered]["waitedMs"] >= 400


def test_sessions_keep_history_and_can_be_deleted(sim, client):
    first = client.collect(client.ask("turn one"))
    session_id = finish_of(first)["sessionId"]
    second = client.collect(client.ask("turn two", sessionId=session_id))
    assert finish_of(second)["sessionId"] == session_id
    assert not any(m["method"] == "session/title/update" for m in second)
    history = sim.http("/sim/sessions")[session_id]
    assert [t["question"] for t in history] == ["turn one", "turn two"]
    assert client.request("chat/deleteSessionById", {"sessionId": session_id})["result"] is None
    assert session_id not in sim.http("/sim/sessions")


def test_drop_closes_socket_mid_stream_process_survives(sim):
    peer = sim.client()
    try:
        request_id = peer.ask("[[sim:drop,chunks=6]] bye")
        with pytest.raises(websocket.WebSocketException):
            peer.collect(request_id)
    finally:
        peer.ws.close(timeout=0.2)
    other = sim.client()
    try:
        assert answer_text(other.collect(other.ask("again"))) == "You said: again"
    finally:
        other.close()


def test_disconnect_drops_asks_of_that_connection(sim):
    first = sim.client()
    request_id = first.ask("[[sim:ttft=0.5]] orphan")
    poll(lambda: sim.state()["active_asks"] >= 1, what="ask active")
    first.close()
    second = sim.client()
    try:
        poll(lambda: sim.state()["active_asks"] == 0, what="asks dropped on disconnect")
        assert [m for m in second.quiet(0.6) if rid(m) == request_id] == []
    finally:
        second.close()


# process-wide knobs ---------------------------------------------------------------------
def test_env_defaults_answer_fault_reply_and_stamp(start_sim):
    sim = start_sim({"LINGMA_SIM_ANSWER": "fixed answer", "LINGMA_SIM_ASK_REPLY": "success",
                     "LINGMA_SIM_STAMP": "1", "LINGMA_SIM_CHUNK_CHARS": "5",
                     "LINGMA_SIM_FAULT": "finish=429", "LINGMA_SIM_FIRST_TOKEN_DELAY": "0"})
    peer = sim.client()
    try:
        request_id = peer.ask("[[sim:finish=200]] anything", msg_id=1000)
        assert peer.next(lambda m: m.get("id") == 1000)["result"]["isSuccess"] is True
        pushes = peer.collect(request_id)
        real = [m["params"] for m in pushes if m["method"] == "chat/answer" and m["params"]["text"]]
        assert [p["text"] for p in real] == ["fixed", " answ", "er"]
        assert all("simSentNs" in p for p in real)
        assert finish_of(peer.collect(peer.ask("env fault applies")))["statusCode"] == 429
    finally:
        peer.close()


def test_strict_mode_stalls_until_acked_and_counts_late_acks(start_sim):
    sim = start_sim({"LINGMA_SIM_STRICT": "1", "LINGMA_SIM_ACK_LATE": "0.3"})
    peer = sim.client(auto_ack=False)
    try:
        peer.ask("strict")
        first = peer.next(lambda m: m.get("method") in PUSHES)
        assert peer.quiet(0.5) == [], "no further push before the ack"
        state = sim.state()
        assert state["acks"]["missing"] == 1 and state["acks"]["late"] == 1
        peer.ack(first)
        pushes = [first]
        while pushes[-1].get("method") != "chat/finish":
            pushes.append(peer.next(lambda m: m.get("method") in PUSHES))
            peer.ack(pushes[-1])
        assert answer_text(pushes) == "You said: strict"
        assert pushes[1]["method"] == "session/title/update"
        acks = poll(lambda: (a := sim.state()["acks"])["missing"] == 0 and a, what="all acked")
        assert acks["sent"] == acks["acked"] == len(pushes) and acks["late"] == 1
    finally:
        peer.close()


def test_max_asks_rejects_extra_asks_with_429(start_sim):
    sim = start_sim({"LINGMA_SIM_MAX_ASKS": "2"})
    peer = sim.client()
    try:
        held = [peer.ask("[[sim:stall]] hold") for _ in range(2)]
        poll(lambda: sim.state()["active_asks"] == 2, what="two active asks")
        finish = finish_of(peer.collect(peer.ask("third")))
        assert (finish["statusCode"], finish["reason"]) == (429, "too many concurrent requests")
        for request_id in held:
            peer.request("chat/stop", {"requestId": request_id, "sessionId": ""})
        poll(lambda: sim.state()["active_asks"] == 0, what="asks stopped")
        assert answer_text(peer.collect(peer.ask("now fine"))) == "You said: now fine"
    finally:
        peer.close()
