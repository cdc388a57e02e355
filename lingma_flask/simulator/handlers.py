"""The JSON-RPC request/notification handlers: `HANDLERS[method](session, params, id)`.

A handler returns the result to send (ignored for notifications), `NO_REPLY`, or raises
`RpcError`. `chat/ask` decides its scenario and plan here and hands the run to the scheduler.
"""

from __future__ import annotations

import time
import uuid

from ..lingma import methods as wire
from . import images
from . import methods
from . import plan
from . import scenario
from .protocol import ERR_INTERNAL
from .protocol import NO_REPLY
from .protocol import RpcError
from .scheduler import AskRun


def _initialize(session, params, msg_id):
    mode = session.sim.init_mode
    if mode == "silent":
        session.sim.log.warning("initialize ignored (LINGMA_SIM_INIT=silent)")
        return NO_REPLY
    if mode == "error":
        raise RpcError(ERR_INTERNAL, "simulated initialize failure")
    session.initialized = True
    return methods.initialize_result()


def _initialized(session, params, msg_id):
    session.sim.log.info("unknown method: initialized")
    return None


def _auth_status(session, params, msg_id):
    return methods.auth_status(session.sim.workdir, expired=session.sim.config.auth_expired)


def _query_models(session, params, msg_id):
    return methods.query_models(session.sim.logged_in())


def _get_endpoint(session, params, msg_id):
    return {"endpoint": session.sim.state.endpoint}


def _update_endpoint(session, params, msg_id):
    session.sim.state.endpoint = str(params.get("endpoint") or "")
    return {"success": True}


def _generate_url(session, params, msg_id):
    return session.sim.logins.generate_url(session.sim.http_port)


def _logout(session, params, msg_id):
    session.sim.logout()
    return {"success": True}


def _image_upload(session, params, msg_id):
    sim = session.sim
    request_id = str(params.get("requestId") or "")
    result = images.upload(params.get("imageUri"), mode=sim.config.image_upload,
                           max_bytes=sim.config.image_max_bytes, logged_in=sim.logged_in())
    sim.state.record_upload(result.record(request_id, session.id))
    if msg_id is not None:
        session.reply(msg_id, result.reply(request_id))
    if result.success:
        session.scheduler.send_now(wire.IMAGE_UPLOAD_RESULT,
                                   {"result": {"requestId": request_id, "imageUrl": result.url}})
    return NO_REPLY


def _delete_session(session, params, msg_id):
    session.sim.state.delete_session(params.get("sessionId") or params.get("id"))
    return None


def _ping(session, params, msg_id):
    return {"success": True}


def _chat_stop(session, params, msg_id):
    request_id = params.get("requestId")
    session.sim.state.record_stop(request_id)
    session.scheduler.stop(request_id)
    return {}


def _tool_result(session, params, msg_id):
    tool_call_id = params.get("toolCallId")
    found = session.scheduler.tool_result(tool_call_id)
    record = {"requestId": found[0] if found else None, "toolCallId": tool_call_id,
              "received": True, "waitedMs": int(found[1] * 1000) if found else None,
              "success": params.get("success"), "errorMessage": params.get("errorMessage")}
    session.sim.state.record_tool(record)
    return {}


# chat/ask ---------------------------------------------------------------------
def _ask_record(session, params: dict, request_id: str, session_id: str, kind: str) -> dict:
    extra = params.get("extra")
    extra = extra if isinstance(extra, dict) else {}
    model_config = extra.get("modelConfig")
    model_config = model_config if isinstance(model_config, dict) else {}
    return {"requestId": request_id, "sessionId": session_id, "model": model_config.get("key"),
            "mode": params.get("mode"), "sessionType": params.get("sessionType"),
            "chatTask": params.get("chatTask"), "questionText": params.get("questionText"),
            "pluginPayloadConfig": params.get("pluginPayloadConfig"),
            "customModel": params.get("customModel"), "imageUrls": _image_urls(params), "as": kind,
            "connection": session.id, "receivedAt": time.time()}


def _image_urls(params: dict) -> list:
    context = params.get("chatContext")
    context = context if isinstance(context, dict) else {}
    urls = context.get("imageUrls")
    return list(urls) if isinstance(urls, list) else []


def _refusal(session, record: dict):
    """(statusCode, reason) when the ask is refused before streaming, else None."""
    sim = session.sim
    if not sim.logged_in():
        return scenario.reject(401)
    model = record["model"]
    if model and model not in methods.MODEL_KEYS and sim.config.unknown_model == "reject":
        return scenario.reject(40505, "model not available: %s" % model)
    if record["imageUrls"] and model not in methods.VL_MODEL_KEYS:
        return scenario.reject(400, "model does not support images")
    if sim.config.max_asks and sim.state.active_asks() >= sim.config.max_asks:
        return scenario.reject(429, "too many concurrent requests")
    return None


def _chat_ask(session, params, msg_id):
    return start_ask(session, params, msg_id)


def start_ask(session, params, msg_id, dialect=None):
    """Run one ask from `chat/ask`-shaped params: record, scenario, plan, scheduler.

    An ACP `session/prompt` comes here too (simulator/acp.py), with the `dialect` that
    translates its pushes, so both protocols share every answer and fault.
    """
    sim = session.sim
    request_id = str(params.get("requestId") or uuid.uuid4().hex)
    session_id = str(params.get("sessionId") or "") or uuid.uuid4().hex
    record = _ask_record(session, params, request_id, session_id,
                         "notification" if msg_id is None else "request")
    record["protocol"] = "classic" if dialect is None else "acp"
    sim.state.record_ask(record)
    chosen = scenario.build(str(params.get("questionText") or ""), sim.config,
                            model=str(record["model"] or ""), images=len(record["imageUrls"]))
    if chosen.reply == "error":
        raise RpcError(ERR_INTERNAL, "simulated chat/ask error")
    if chosen.reply == "fail":
        return {"requestId": request_id, "isSuccess": False, "errorCode": "500",
                "errorMessage": "simulated ask failure"}
    info = plan.AskInfo(request_id, session_id, str(params.get("sessionType") or "chat"),
                        new_session=sim.state.touch_session(session_id, request_id, chosen.question),
                        agent=params.get("mode") == "agent" or params.get("sessionType") == "developer",
                        dialect=dialect.bind(chosen, msg_id) if dialect is not None else None)
    refusal = _refusal(session, record)
    steps = plan.rejected(info, *refusal) if refusal else plan.build(info, chosen)
    if msg_id is not None and chosen.reply == "success" and dialect is None:
        session.reply(msg_id, {"requestId": request_id, "isSuccess": True, "errorCode": "",
                               "errorMessage": ""})
    session.scheduler.add(AskRun(info, chosen, steps, time.monotonic()))
    return NO_REPLY


HANDLERS = {
    wire.INITIALIZE: _initialize,
    wire.INITIALIZED: _initialized,
    wire.AUTH_STATUS: _auth_status,
    wire.CONFIG_QUERY_MODELS: _query_models,
    wire.CONFIG_GET_ENDPOINT: _get_endpoint,
    wire.CONFIG_UPDATE_ENDPOINT: _update_endpoint,
    wire.LOGIN_GENERATE_URL: _generate_url,
    wire.AUTH_LOGOUT: _logout,
    wire.IMAGE_UPLOAD: _image_upload,
    wire.CHAT_DELETE_SESSION: _delete_session,
    wire.CHAT_ASK: _chat_ask,
    wire.CHAT_STOP: _chat_stop,
    wire.TOOL_INVOKE_RESULT: _tool_result,
    wire.PING: _ping,
}
