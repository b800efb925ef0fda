"""The visitor cookie: set once on a browser's first response, HttpOnly and SameSite=Strict, unguessable (256
random bits), and turned into an owner id that tells nothing of it; a malformed or forged cookie is no identity."""

import asyncio

from s2s.ui import identity


def respond(headers: list[tuple[bytes, bytes]], kind: str = "http") -> list[tuple[bytes, bytes]]:
    """The headers of the response the middleware sends for a request with `headers`."""
    sent = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request"}

    asyncio.run(identity.VisitorCookie(app)({"type": kind, "headers": headers}, receive, send))
    return sent[0]["headers"]


def set_cookies(headers) -> list[str]:
    return [value.decode() for name, value in headers if name == b"set-cookie"]


def test_a_browser_without_the_cookie_gets_one_that_scripts_cannot_read_and_other_sites_cannot_send():
    (cookie,) = set_cookies(respond([]))
    token = cookie.split(";")[0].removeprefix(f"{identity.COOKIE}=")
    assert identity.TOKEN_PATTERN.fullmatch(token)
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= {part.strip() for part in cookie.split(";")}
    tokens = {set_cookies(respond([]))[0].split(";")[0] for _ in range(50)}
    assert len(tokens) == 50  # a fresh random token each time: nothing to guess from another's


def test_a_browser_with_its_cookie_keeps_it_and_a_forged_one_is_replaced():
    (cookie,) = set_cookies(respond([]))
    token = cookie.split(";")[0].split("=", 1)[1]
    assert set_cookies(respond([(b"cookie", f"other=1; {identity.COOKIE}={token}".encode())])) == []
    for forged in ("", "short", token + "x", "../" + token[3:], token[:-1] + "!"):
        assert len(set_cookies(respond([(b"cookie", f"{identity.COOKIE}={forged}".encode())]))) == 1
        assert identity.owner_of(forged) is None


def test_the_owner_id_is_a_digest_of_the_token():
    first, second = identity.owner_of("a" * 43), identity.owner_of("b" * 43)
    assert first == identity.owner_of("a" * 43) and first != second
    assert "a" * 8 not in first and first.startswith("visitor-") and len(first) == len("visitor-") + 32
    assert identity.owner_of(None) is None
