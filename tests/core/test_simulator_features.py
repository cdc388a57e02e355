"""The simulator's newer surfaces over the wire: tool-call and JSON answers, reasoning, images,
process faults (`LINGMA_SIM_INIT`), and the env knobs of the answer (echo, image upload)."""

from __future__ import annotations

import base64
import json

import pytest

from tests.core.simclient import Sim
from tests.core.simclient import answer_text
from tests.core.simclient import finish_of
from tests.core.simclient import poll
from tests.core.simclient import rid
from tests.core.simprompts import WEATHER
from tests.core.simprompts import conversation_prompt
from tests.core.simprompts import tool_response

THINKING = "dashscope_qwen_plus_20250428_thinking"
VISION = "dashscope_qwen_vl_max"
PNG_URI = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nsim-image").decode()


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    instance = Sim(tmp_path_factory.mktemp("simf"))
    try:
        yield instance.wait_ready()
    finally:
        instance.stop()


def model(key: str) -> dict:
    return {"extra": {"modelConfig": {"key": key}}}


def pushes_of(client, prompt: str, **params) -> list:
    return client.collect(client.ask(prompt, **params))


# tool calls and structured output -------------------------------------------------------------
def test_tool_call_then_tool_result_over_the_wire(client):
    pushes = pushes_of(client, conversation_prompt(("User", "read the readme [[sim:tool]]")))
    chunks = [m["params"]["text"] for m in pushes if m["method"] == "chat/answer"]
    text = answer_text(pushes)
    assert text == finish_of(pushes)["fullAnswer"]
    assert text.startswith("Let me use read_file.\n<tool_call>\n") and text.endswith("\n</tool_call>")
    assert not any("<tool_call>" in c or "</tool_call>" in c for c in chunks)
    follow_up = conversation_prompt(("User", "read the readme [[sim:tool]]"), ("Assistant", text),
                                    ("User", tool_response("# README\nhello")))
    assert answer_text(pushes_of(client, follow_up)) == "Tool result: # README\nhello"


def test_structured_output_over_the_wire(client):
    prompt = conversation_prompt(("User", "weather [[sim:json_invalid]]"), tools=(), schema=WEATHER)
    broken = json.loads(answer_text(pushes_of(client, prompt)))
    assert "city" not in broken and broken["unit"] == "C"


# reasoning ----------------------------------------------------------------------------------------
def test_thinking_model_streams_reasoning_pushes_before_the_answer(client):
    pushes = pushes_of(client, "why is the sky blue", **model(THINKING))
    methods = [m["method"] for m in pushes]
    thinks = [m["params"] for m in pushes if m["method"] == "chat/think"]
    assert [t["step"] for t in thinks] == ["start", "start", "start", "done"]
    assert "".join(t["text"] for t in thinks) == "Thinking about: why is the sky blue"
    assert all(t["timestamp"] for t in thinks)
    assert methods.index("chat/answer") > max(i for i, m in enumerate(methods) if m == "chat/think")
    assert answer_text(pushes) == "You said: why is the sky blue"
    off = pushes_of(client, "quiet [[sim:think=off]]", **model(THINKING))
    assert "chat/think" not in [m["method"] for m in off]


def test_think_fence_inside_the_answer_text(client):
    pushes = pushes_of(client, "fenced [[sim:think=fence]]", **model(THINKING))
    assert "chat/think" not in [m["method"] for m in pushes]
    assert answer_text(pushes) == "\n```think::{THINK_TIME}\nThinking about: fenced\n```\nYou said: fenced"


# images ------------------------------------------------------------------------------------------
def test_image_upload_notifies_the_url_and_a_vision_ask_counts_images(sim, client):
    before = sim.state()["acks"]["acked"]
    reply = client.request("image/upload", {"imageUri": PNG_URI, "requestId": "up-1"})
    assert reply["result"] == {"requestId": "up-1", "result": {"success": True}}
    note = client.next(lambda m: m.get("method") == "image/uploadResultNotification")
    assert isinstance(note["id"], int) and note["params"]["result"]["requestId"] == "up-1"
    url = note["params"]["result"]["imageUrl"]
    assert url.startswith("https://sim.invalid/img/") and url.endswith(".png")
    poll(lambda: sim.state()["acks"]["acked"] > before, what="notification acked")
    upload = next(u for u in sim.state()["uploads"] if u["requestId"] == "up-1")
    assert upload["success"] is True and upload["imageUrl"] == url and upload["mime"] == "image/png"
    request_id = client.ask("what is this", chatContext={"imageUrls": [url, url]}, **model(VISION))
    assert answer_text(client.collect(request_id)) == "You said: what is this [2 image(s)]"
    record = next(a for a in sim.state()["asks"] if a["requestId"] == request_id)
    assert record["imageUrls"] == [url, url]


def test_images_refused_for_other_models_and_bad_uploads_fail(client):
    finish = finish_of(pushes_of(client, "look", chatContext={"imageUrls": ["https://x"]}))
    assert (finish["statusCode"], finish["reason"]) == (400, "model does not support images")
    assert answer_text(pushes_of(client, "no pictures", chatContext={"imageUrls": []})) == \
        "You said: no pictures"
    reply = client.request("image/upload", {"imageUri": "data:image/png;base64,***", "requestId": "up-2"})
    assert reply["result"]["result"] == {"success": False}
    assert reply["result"]["errorCode"] == "INVALID_IMAGE" and reply["result"]["errorMessage"]
    assert not any(m.get("method") == "image/uploadResultNotification" for m in client.quiet(0.2))


def test_vision_model_is_listed(client):
    chat = client.request("config/queryModels")["result"]["chat"]
    vision = next(m for m in chat if m["key"] == VISION)
    assert vision["displayName"] == "Qwen-VL-Max" and vision["isVl"] is True
    assert [m["key"] for m in chat if m["isVl"]] == [VISION]


# faults and env knobs -------------------------------------------------------------------------------
def test_partial_fault_sends_chunks_then_the_error_finish(client):
    pushes = pushes_of(client, "[[sim:finish=500,partial=2,chunk=3,empty=0]] abcdef")
    finish = finish_of(pushes)
    assert answer_text(pushes) == finish["fullAnswer"] == "You sa"
    assert (finish["statusCode"], finish["reason"]) == (500, "internal error")


@pytest.mark.parametrize("mode", ["silent", "error"])
def test_init_fault(start_sim, mode):
    sim = start_sim({"LINGMA_SIM_INIT": mode})
    peer = sim.client(initialize=False)
    try:
        peer.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
        got = peer.quiet(0.5)
        if mode == "silent":
            assert got == []
            assert "initialize ignored" in sim.log()
        else:
            assert [m["error"]["code"] for m in got] == [-32603]
        assert peer.request("auth/status")["error"]["code"] == -32002
    finally:
        peer.close()
    assert sim.http("/sim/init?mode=ok") == {"init": "ok"}   # the fault ends at run time
    healed = sim.client()
    try:
        assert healed.request("auth/status")["result"]["status"] == 2
    finally:
        healed.close()
    assert sim.get("/sim/init?mode=hung")[0] == 400


def test_env_echo_full_upload_fail_and_unknown_model_accept(start_sim):
    sim = start_sim({"LINGMA_SIM_ECHO": "full", "LINGMA_SIM_IMAGE_UPLOAD": "fail",
                     "LINGMA_SIM_UNKNOWN_MODEL": "accept"})
    peer = sim.client()
    try:
        prompt = conversation_prompt(("User", "first"), ("Assistant", "ok"), ("User", "second"))
        pushes = peer.collect(peer.ask(prompt, **model("no-such-model")))
        assert answer_text(pushes) == "You said: " + prompt
        short = conversation_prompt(("User", "second [[sim:echo=short]]"))
        assert answer_text(peer.collect(peer.ask(short))) == "You said: second"
        reply = peer.request("image/upload", {"imageUri": PNG_URI, "requestId": "up-3"})["result"]
        assert reply["result"] == {"success": False} and reply["errorCode"] == "UPLOAD_FAILED"
        assert sim.state()["uploads"][-1]["success"] is False
    finally:
        peer.close()


def test_default_answer_of_a_long_conversation_is_short_and_fast(client):
    history = [("User", "x" * 20000), ("Assistant", "y" * 20000)]
    prompt = conversation_prompt(*history, ("User", "the real question"))
    pushes = pushes_of(client, prompt)
    real = [m for m in pushes if m["method"] == "chat/answer" and m["params"]["text"]]
    assert answer_text(pushes) == "You said: the real question" and len(real) == 5
    assert all(rid(m) == finish_of(pushes)["requestId"] for m in pushes)


def test_env_stamp_text_empty_every_chunks_frame_log_and_state_limit(start_sim):
    sim = start_sim({"LINGMA_SIM_STAMP_TEXT": "1", "LINGMA_SIM_EMPTY_EVERY": "0",
                     "LINGMA_SIM_FRAME_LOG": "0", "LINGMA_SIM_STATE_LIMIT": "2",
                     "LINGMA_SIM_CHUNKS": "2"})
    peer = sim.client()
    try:
        for i in range(3):
            pushes = peer.collect(peer.ask(f"ask {i}"))
        texts = [m["params"]["text"] for m in pushes if m["method"] == "chat/answer"]
        assert len(texts) == 2 and all(t.startswith("|") for t in texts), "stamped, no empty chunk"
        assert "".join(t.split("|", 2)[2] for t in texts) == "You said: ask 2"
        state = sim.state()
        assert len(state["asks"]) == 2 and state["asks_total"] == 3
        assert not (sim.work / "logs" / "frames.log").exists()
    finally:
        peer.close()
