"""QR codes of Lingma login links, as SVG, so a phone can open the link shown on a screen.

Only https links to aliyun.com hosts are encoded: the endpoint must not become a general
QR service that dresses up any link with the gateway's name.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import segno

MAX_URL_LENGTH = 2048
LOGIN_DOMAIN = "aliyun.com"


def is_login_url(url: str) -> bool:
    """Tell whether `url` is an https link on an aliyun.com host, of a sane length."""
    if not url or len(url) > MAX_URL_LENGTH:
        return False
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:  # e.g. an unbalanced [ in the host
        return False
    if parts.scheme != "https" or parts.username is not None or parts.password is not None:
        return False
    return host == LOGIN_DOMAIN or host.endswith("." + LOGIN_DOMAIN)


def qr_svg(url: str) -> bytes:
    """Render `url` as a QR code in a standalone SVG document."""
    code = segno.make(url, error="m", micro=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="svg", scale=4, border=4, dark="#000", light="#fff",
              xmldecl=False, svgns=True)
    return buffer.getvalue()
