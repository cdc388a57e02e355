"""QR codes of Lingma login links, as SVG, so a phone can open the link shown on a screen.

Only https links to aliyun.com hosts are encoded: the endpoint must not become a general
QR service that dresses up any link with the gateway's name. The host is the one a browser
would open, found by a WHATWG URL parser (ada), and Python's parser must find the same: so
a link whose readers could disagree (a backslash, userinfo, spaces or control characters, a
percent-encoded host) is refused, and the host must be aliyun.com or end in `.aliyun.com`.
"""

from __future__ import annotations

import io
import re
from urllib.parse import urlsplit

import ada_url

MAX_URL_LENGTH = 2048
LOGIN_DOMAIN = "aliyun.com"
# printable ASCII without space and backslash: what a login link is made of
PLAIN_URL = re.compile(r"[\x21-\x5b\x5d-\x7e]+")


def is_login_url(url: str) -> bool:
    """Tell whether `url` is an https link on an aliyun.com host, of a sane length."""
    if not url or len(url) > MAX_URL_LENGTH or not PLAIN_URL.fullmatch(url):
        return False
    host = browser_host(url)
    return host is not None and host == python_host(url) and on_login_domain(host)


def browser_host(url: str) -> str | None:
    """Return the host name a browser opens for `url` if it is https without userinfo."""
    try:
        parts = ada_url.parse_url(url)
    except ValueError:
        return None
    if parts["protocol"] != "https:" or parts["username"] or parts["password"]:
        return None
    if parts["host_type"] != ada_url.HostType.DEFAULT:
        return None  # an IP address
    return parts["hostname"]


def python_host(url: str) -> str | None:
    """Return the host name Python's urlsplit finds in `url` (lower case), if any."""
    try:
        return urlsplit(url).hostname
    except ValueError:  # e.g. an unbalanced [ in the host
        return None


def on_login_domain(host: str) -> bool:
    """Tell whether `host` is aliyun.com or a name under it (one trailing dot allowed)."""
    name = host[:-1] if host.endswith(".") else host
    if "" in name.split("."):
        return False
    return name == LOGIN_DOMAIN or name.endswith("." + LOGIN_DOMAIN)


def qr_svg(url: str) -> bytes:
    """Render `url` as a QR code in a standalone SVG document."""
    import segno  # here, not at the top: only the status page draws one (0.7 MB per worker)

    code = segno.make(url, error="m", micro=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="svg", scale=4, border=4, dark="#000", light="#fff",
              xmldecl=False, svgns=True)
    return buffer.getvalue()
