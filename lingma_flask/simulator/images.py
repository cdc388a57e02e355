"""`image/upload`: check a `data:image/...;base64,` URI and name the uploaded image.

A good upload is answered `{requestId, result:{success:true}}` and then announced with an
`image/uploadResultNotification` carrying `https://sim.invalid/img/<sha1 prefix>.png`; a bad one
gets `result.success:false` with `errorCode`/`errorMessage` and no notification.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import re
import time

_DATA_URI = re.compile(r"data:(image/[A-Za-z0-9.+-]+);base64,(.*)", re.S)


@dataclasses.dataclass
class Upload:
    """The outcome of one upload."""

    success: bool
    url: str = ""
    size: int = 0
    mime: str = ""
    error_code: str = ""
    error_message: str = ""

    def reply(self, request_id: str) -> dict:
        """The `image/upload` result."""
        result = {"requestId": request_id, "result": {"success": self.success}}
        if not self.success:
            result.update(errorCode=self.error_code, errorMessage=self.error_message)
        return result

    def record(self, request_id: str, connection: int) -> dict:
        """The `/sim/state` record of this upload."""
        return {"requestId": request_id, "success": self.success, "imageUrl": self.url,
                "bytes": self.size, "mime": self.mime, "errorCode": self.error_code,
                "connection": connection, "receivedAt": time.time()}


def upload(uri, *, mode: str, max_bytes: int, logged_in: bool) -> Upload:
    """Check one `imageUri` (mode `fail` fails every upload)."""
    if mode == "fail":
        return Upload(False, error_code="UPLOAD_FAILED", error_message="simulated upload failure")
    if not logged_in:
        return Upload(False, error_code="NOT_LOGGED_IN", error_message="user not logged in")
    match = _DATA_URI.fullmatch(uri) if isinstance(uri, str) else None
    if match is None:
        return _invalid("imageUri must be a data:image/<type>;base64,<data> URI")
    payload = match.group(2).strip()
    if len(payload) // 4 * 3 > max_bytes + 2:
        return _too_large(max_bytes)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return _invalid("the image data is not valid base64")
    if not data:
        return _invalid("the image is empty")
    if len(data) > max_bytes:
        return _too_large(max_bytes)
    url = "https://sim.invalid/img/%s.png" % hashlib.sha1(data).hexdigest()[:16]
    return Upload(True, url=url, size=len(data), mime=match.group(1))


def _invalid(message: str) -> Upload:
    return Upload(False, error_code="INVALID_IMAGE", error_message=message)


def _too_large(max_bytes: int) -> Upload:
    return Upload(False, error_code="IMAGE_TOO_LARGE",
                  error_message="the image is larger than %d bytes" % max_bytes)
