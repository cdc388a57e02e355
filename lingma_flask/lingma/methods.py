"""The JSON-RPC method names on the wire between the gateway and Lingma, in one place.

The core sends and routes these; the simulator answers and pushes the same ones. The section of
the team's protocol notes (`shared/docs/lingma-protocol.md`) that describes each:

    INITIALIZE, INITIALIZED                    3.1, 3.2   handshake (request, then notification)
    AUTH_STATUS                                3.3        login state; also the health probe
    CONFIG_QUERY_MODELS                        3.4        the model list
    CONFIG_GET_ENDPOINT, CONFIG_UPDATE_ENDPOINT  3.5      the cloud endpoint
    LOGIN_GENERATE_URL, AUTH_LOGOUT            3.6        login and logout
    CHAT_ASK                                   3.7        start a chat
    CHAT_ANSWER                                3.8        ⇐ a piece of the answer
    CHAT_FINISH                                3.9        ⇐ the end of a chat
    CHAT_PROCESS_STEP_CALLBACK                 3.10       ⇐ step progress (acknowledged only)
    SESSION_TITLE_UPDATE                       3.11       ⇐ a session's title (acknowledged only)
    CHAT_THINK                                 3.12       ⇐ a piece of the reasoning
    CHAT_STOP                                  3.13       stop a chat
    TOOL_INVOKE, TOOL_INVOKE_RESULT            3.14       ⇐ an IDE tool call, and our refusal
    IMAGE_UPLOAD, IMAGE_UPLOAD_RESULT          3.15       a picture, then ⇐ the URL it got
    CHAT_DELETE_SESSION                        3.16       forget a finished chat's session
    PING                                       3.18       liveness (the simulator answers it)
    CONTEXT_USAGE_SYNC                         3.11       ⇐ context window use (Qoder CN builds)
    SESSION_NEW, SESSION_SET_MODEL             3.17       ACP-style: a session and its model
    SESSION_PROMPT, SESSION_CANCEL             3.17       ACP-style: start a chat, stop it
    SESSION_UPDATE                             3.17       ⇐ ACP-style: every piece of a chat

⇐ marks Lingma → client requests, which the reader acknowledges before routing (section 2.3).
"""

from __future__ import annotations

INITIALIZE = "initialize"
INITIALIZED = "initialized"
AUTH_STATUS = "auth/status"
AUTH_LOGOUT = "auth/logout"
CONFIG_QUERY_MODELS = "config/queryModels"
CONFIG_GET_ENDPOINT = "config/getEndpoint"
CONFIG_UPDATE_ENDPOINT = "config/updateEndpoint"
LOGIN_GENERATE_URL = "login/generateUrl"
PING = "ping"

CHAT_ASK = "chat/ask"
CHAT_STOP = "chat/stop"
CHAT_DELETE_SESSION = "chat/deleteSessionById"
CHAT_ANSWER = "chat/answer"
CHAT_FINISH = "chat/finish"
CHAT_THINK = "chat/think"
CHAT_PROCESS_STEP_CALLBACK = "chat/process_step_callback"
SESSION_TITLE_UPDATE = "session/title/update"

TOOL_INVOKE = "tool/invoke"
TOOL_INVOKE_RESULT = "tool/invokeResult"

IMAGE_UPLOAD = "image/upload"
IMAGE_UPLOAD_RESULT = "image/uploadResultNotification"

CONTEXT_USAGE_SYNC = "context/usage/sync"

# ACP-style API of the desktop runtimes (lingma/acp.py)
SESSION_NEW = "session/new"
SESSION_SET_MODEL = "session/set_model"
SESSION_PROMPT = "session/prompt"
SESSION_CANCEL = "session/cancel"
SESSION_UPDATE = "session/update"
