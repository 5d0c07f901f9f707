"""Bearer-token check for every endpoint except liveness.

The comparison is constant-time over the bytes; the token never reaches a log,
the journal or an error message.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from edgeconsole.core.errors import ConfigError

OPEN_PATHS = frozenset({"/v2/health/live"})
MIN_TOKEN_CHARS = 16
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_ok(header: str | None, token: bytes) -> bool:
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode("utf-8", "replace"), token)


def make_auth_middleware(
    token: str,
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    expected = token.encode()

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS and request.method in ("GET", "HEAD"):
            return await handler(request)
        if not token_ok(request.headers.get("Authorization"), expected):
            return web.json_response(
                {
                    "error": "missing or wrong bearer token",
                    "hint": "send 'Authorization: Bearer TOKEN' with the agent's token",
                },
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="edgeconsole"'},
            )
        return await handler(request)

    return auth


def read_token_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read token file: {exc}", subject=str(path)) from exc
    if len(text) < MIN_TOKEN_CHARS or any(c.isspace() for c in text):
        raise ConfigError(
            f"the token must be at least {MIN_TOKEN_CHARS} characters without spaces",
            subject=str(path),
        )
    return text


def provision_token(data_dir: Path) -> tuple[str, Path]:
    """The token in ``<data>/token`` (created 0600 with a random token on first start)."""
    path = data_dir / "token"
    if path.exists():
        return read_token_file(path), path
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token, path
