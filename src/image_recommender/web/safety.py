"""Request safety for the local web app: which host names it answers (DNS rebinding), which
requests may change anything (same origin only), and messages in the API's own words.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import socket
from collections.abc import Mapping
from typing import Any

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


ALL_INTERFACES = ("0.0.0.0", "::", "")


def allowed_hosts(served_host: str, extra: str = "") -> frozenset[str]:
    """Host names a request may carry: loopback names, the address served on, and configured extras.

    Serving on every interface (0.0.0.0) also admits this machine's own name and addresses.
    """
    names = {*LOOPBACK_NAMES, served_host.lower()}
    names |= {name.strip().lower() for name in extra.split(",") if name.strip()}
    if served_host in ALL_INTERFACES:
        machine = socket.gethostname().lower()
        names |= {machine, socket.getfqdn().lower()}
        with contextlib.suppress(OSError):
            names |= set(socket.gethostbyname_ex(machine)[2])
    return frozenset(names - {""})


def host_of(header: str) -> str:
    """The host part of a Host header: ``[::1]:8765`` -> ``::1``, ``Example:80`` -> ``example``."""
    header = header.strip().lower()
    name, port = header, ""
    if header.startswith("["):
        name = header[1 : header.find("]")] if "]" in header else ""
    elif header.count(":") == 1:
        name, _, port = header.partition(":")
        if not port.isdigit():
            return ""
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(name))
    return name


# The CLI's flags that are parameters of the API under another spelling (--taken-on is taken_on):
# the library's messages name the flag, the API's say the parameter the request used.
API_PARAMETERS = frozenset(
    {
        "after",
        "before",
        "taken_on",
        "camera",
        "place",
        "kind",
        "near",
        "radius",
        "sort",
        "min_score",
        "under",
        "threshold",
        "k",
        "crop",
        "words",
    }
)


_FLAG = re.compile(r"--([a-z][a-z-]*)")


def api_words(message: str) -> str:
    """``message`` with each CLI flag that is an API parameter named as that parameter."""

    def parameter(match: re.Match[str]) -> str:
        name = match.group(1).replace("-", "_")
        return name if name in API_PARAMETERS else match.group(0)

    return _FLAG.sub(parameter, message)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(headers: Mapping[str, str]) -> bool:
    """True unless the browser says the request comes from a page of another origin."""
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    scheme, _, authority = origin.partition("://")
    return scheme == "http" and authority.lower() == headers.get("host", "").strip().lower()


class BodyLimit:
    """ASGI middleware that refuses a request body over ``limit`` bytes before it is spooled.

    A declared ``Content-Length`` over the limit is answered 413 at once, nothing read; a
    chunked body is read until it passes the limit, then the app is told the client left (so
    it stops reading) and the answer is 413. Without it, a 419 MB upload was spooled into a
    temporary file before the upload route could see its size.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.strip().isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen, over, started = 0, False, False

        async def counted() -> dict[str, Any]:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = True
                    return {"type": "http.disconnect"}
            return dict(message)

        async def watched(message: dict[str, Any]) -> None:
            nonlocal started
            if over and not started:
                return  # the app's answer to a body it could not finish: 413 is sent instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps({"detail": f"request body larger than {self.limit // 2**20} MB"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
