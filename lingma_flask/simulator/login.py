"""The browser login: `login/generateUrl` states and the `/auth/callback` that completes them."""

from __future__ import annotations

import collections
import secrets
import threading
import uuid
from urllib.parse import quote

MAX_PENDING = 100


class LoginStates:
    """Outstanding login states (the newest `MAX_PENDING`); each completes at most once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: collections.OrderedDict[str, bool] = collections.OrderedDict()

    def generate_url(self, http_port: int) -> dict:
        """`login/generateUrl`: the dict form, a devops.aliyun.com URL with port and callback."""
        state = uuid.uuid4().hex
        with self._lock:
            self._pending[state] = True
            while len(self._pending) > MAX_PENDING:
                self._pending.popitem(last=False)
        nonce = secrets.token_hex(8)
        redirect = quote(f"http://127.0.0.1:{http_port}/auth/callback", safe="")
        url = (f"https://devops.aliyun.com/lingma/login?port={http_port}&state={state}"
               f"&redirect_uri={redirect}&nonce={nonce}&challenge_method=S256")
        return {"success": True, "loginUrl": url, "nonce": nonce, "verifier": secrets.token_hex(16),
                "challenge": secrets.token_hex(16), "challengeMethod": "S256",
                "errorCode": "", "errorMsg": ""}

    def complete(self, state: str) -> bool:
        """Forget `state`; True when it was outstanding."""
        with self._lock:
            return self._pending.pop(state, False)

    def pending(self) -> int:
        """How many logins are outstanding."""
        with self._lock:
            return len(self._pending)
