"""Who a visitor is, across reloads and tabs of one browser: a random token in an HttpOnly cookie that the server
sets on the first page load (`VisitorCookie`, an ASGI middleware that app.py puts in front of Streamlit).

The token is 256 random bits (it cannot be guessed), HttpOnly (no script on the page can read it) and
SameSite=Strict (another site cannot send it along); it never appears in a page, a link or a log. The service
knows a visitor by a digest of it (`owner_of`), so nothing the service keeps or shows can be turned back into a
cookie that borrows someone's runs and models."""

from __future__ import annotations

import hashlib
import re
import secrets

COOKIE = "s2s_visitor"
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
MAX_AGE_SECONDS = 30 * 24 * 3600


def owner_of(token: str | None) -> str | None:
    """The service's id for the visitor holding `token`, or None for a missing or malformed one."""
    if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
        return None
    return "visitor-" + hashlib.sha256(token.encode()).hexdigest()[:32]


def _cookie_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, token = part.strip().partition("=")
                if key == COOKIE and TOKEN_PATTERN.fullmatch(token):
                    return token
    return None


class VisitorCookie:
    """ASGI middleware: an HTTP response to a browser without a valid visitor cookie sets one."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or _cookie_token(scope.get("headers", [])) is not None:
            await self.app(scope, receive, send)
            return
        cookie = (f"{COOKIE}={secrets.token_urlsafe(32)}; Path=/; Max-Age={MAX_AGE_SECONDS}; HttpOnly; "
                  "SameSite=Strict").encode("latin-1")

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
