"""JSON-RPC constants shared by the session and the handlers."""

ERR_INVALID_REQUEST = -32600
ERR_NOT_FOUND = -32601
ERR_INTERNAL = -32603
ERR_NOT_INITIALIZED = -32002

NO_REPLY = object()  # a handler returns this when it replied itself, or never will


class RpcError(Exception):
    """Raised by a method handler to answer with a JSON-RPC error."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
