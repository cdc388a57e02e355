"""Send a picture to Lingma: `image/upload`, then wait for the URL it announces (protocol 3.15).

Medium confidence in the wire shapes (one source), so everything about them is here: a fresh
request id per image, the reply's `result.success` (or an error), then an
`image/uploadResultNotification` carrying `result.imageUrl` (a URL in the reply itself is taken
too). What a real Lingma answers is logged; a refusal is a clear error naming the step.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import Any

from . import methods
from .errors import LingmaError
from .errors import LingmaUpstreamError

if TYPE_CHECKING:
    from .rpc import PushWaiter
    from .rpc import RpcConnection

log = logging.getLogger(__name__)


def upload_images(conn: RpcConnection, images: Iterable[str], timeout: float) -> list[str]:
    """Upload each data URI in turn and return the URLs to put into `chatContext.imageUrls`."""
    return [upload_image(conn, image, timeout) for image in images]


def upload_image(conn: RpcConnection, data_uri: str, timeout: float) -> str:
    """Upload one data URI; return its URL or raise LingmaUpstreamError naming the step."""
    upload_id = uuid.uuid4().hex
    waiter = conn.expect_push(methods.IMAGE_UPLOAD_RESULT, upload_id)
    try:
        try:
            reply = conn.request(methods.IMAGE_UPLOAD, {"imageUri": data_uri, "requestId": upload_id},
                                 timeout=timeout)
        except LingmaError as exc:
            raise LingmaUpstreamError(f"Lingma's {methods.IMAGE_UPLOAD} failed: {exc.message}") from exc
        log.info("%s %s answered %s", methods.IMAGE_UPLOAD, upload_id, _describe(reply))
        url = _url_in(reply) or _notified_url(waiter, timeout)
    finally:
        conn.forget_push(waiter)
    return url


def _object_or(value: object, default: dict[str, Any]) -> dict[str, Any]:
    """`value` when it is a JSON object, else `default`."""
    return value if isinstance(value, dict) else default


def _describe(reply: object) -> str:
    if not isinstance(reply, dict):
        return repr(reply)[:200]
    result = _object_or(reply.get("result"), reply)
    return str({k: v for k, v in result.items() if k != "imageUri"})[:300]


def _url_in(reply: object) -> str | None:
    """Return the URL when the reply carries it; raise when the reply says the upload failed."""
    if not isinstance(reply, dict):
        return None
    result = _object_or(reply.get("result"), {})
    if result.get("success") is False or reply.get("success") is False:
        message = reply.get("errorMessage") or result.get("errorMessage") or "failure"
        code = reply.get("errorCode") or result.get("errorCode") or ""
        raise LingmaUpstreamError(f"Lingma refused the image ({methods.IMAGE_UPLOAD}): {message}"
                                  + (f" ({code})" if code else ""))
    url = result.get("imageUrl") or reply.get("imageUrl")
    return url if isinstance(url, str) and url else None


def _notified_url(waiter: PushWaiter, timeout: float) -> str:
    params = waiter.wait(timeout)
    if params is None:
        raise LingmaUpstreamError(f"Lingma accepted an image ({methods.IMAGE_UPLOAD}) but sent no"
                                  f" {methods.IMAGE_UPLOAD_RESULT} within {timeout:g} s")
    result = _object_or(params.get("result"), params)
    url = result.get("imageUrl")
    if not isinstance(url, str) or not url:
        raise LingmaUpstreamError(f"Lingma's {methods.IMAGE_UPLOAD_RESULT} named no imageUrl")
    return url
