"""The shared HTTP plumbing: one aiohttp session per server, errors mapped to the tree."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from edgeconsole.core.errors import DeviceDisconnected, DeviceError
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded

#: The largest JSON answer read from a gateway (slot tables, journals, model indexes
#: are a few KiB; an infer answer goes through ``oip.decode_infer``).
MAX_ANSWER_JSON = 32 * 1024 * 1024


class GatewayHTTPError(DeviceError):
    """The server answered with an error status; ``status`` and ``body`` say which."""

    def __init__(
        self,
        what: str,
        *,
        status: int,
        body: dict[str, Any] | None = None,
        subject: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(what, subject=subject, hint=hint)
        self.status = status
        self.body = body or {}


class AuthError(GatewayHTTPError):
    """401: missing or wrong token."""


def normalise_base(url: str) -> str:
    base = url.rstrip("/")
    if base.startswith("gateway://"):
        base = "http://" + base[len("gateway://") :]
    if not base.startswith(("http://", "https://")):
        base = "http://" + base
    return base


class HttpBase:
    """Async requests against one server. Create and use on the I/O loop."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout_s: float = 30.0) -> None:
        self.base = normalise_base(base_url)
        self.token = token
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.timeout_s, sock_read=self.timeout_s
                ),
                connector=aiohttp.TCPConnector(limit=8, keepalive_timeout=30),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        timeout_s: float | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        s = await self.session()
        h = {**self.headers(), **(headers or {})}
        kw: dict[str, Any] = {"headers": h}
        if json_body is not None:
            kw["data"] = json.dumps(json_body).encode()
            h["Content-Type"] = "application/json"
        elif data is not None:
            kw["data"] = data
        if timeout_s is not None:
            kw["timeout"] = aiohttp.ClientTimeout(
                total=None, sock_connect=self.timeout_s, sock_read=timeout_s
            )
        try:
            async with s.request(method, self.base + path, **kw) as resp:
                body = await resp.read()
                status, rh = resp.status, dict(resp.headers)
        except (
            aiohttp.ClientConnectionError,
            aiohttp.ClientPayloadError,
            TimeoutError,
            ConnectionError,
        ) as exc:
            raise DeviceDisconnected(
                f"no answer from the gateway ({str(exc) or type(exc).__name__})",
                subject=self.base,
                hint="check the address, the network and that the agent runs",
            ) from exc
        if status not in ok:
            raise self.error(status, body)
        return status, rh, body

    def error(self, status: int, body: bytes) -> GatewayHTTPError:
        try:
            data = loads_bounded(body, max_bytes=MAX_ANSWER_JSON, what="the gateway's answer")
        except JSONRefused:
            data = {"error": body[:200].decode("utf-8", "replace")}
        if not isinstance(data, dict):
            data = {"error": str(data)[:200]}
        msg = str(data.get("error") or f"HTTP {status}")
        if status == 401:
            return AuthError(
                f"the gateway refused the token: {msg}",
                status=status,
                body=data,
                subject=self.base,
                hint="pass --token-file with the agent's token",
            )
        return GatewayHTTPError(
            msg,
            status=status,
            body=data,
            subject=self.base,
            hint=data.get("hint") if isinstance(data.get("hint"), str) else None,
        )

    async def get_json(self, path: str, **kw: Any) -> Any:
        _, _, body = await self.request("GET", path, **kw)
        return _loads(body, self.base)

    async def post_json(self, path: str, body: Any = None, **kw: Any) -> Any:
        _, _, raw = await self.request(
            "POST", path, json_body=body if body is not None else {}, **kw
        )
        return _loads(raw, self.base) if raw.strip() else {}


def loads_gateway_json(body: bytes, subject: str) -> Any:
    """A JSON answer of a gateway (outside input: size and depth bounded)."""
    try:
        return loads_bounded(body, max_bytes=MAX_ANSWER_JSON, what="the gateway's answer")
    except JSONRefused as exc:
        raise DeviceError(
            f"the gateway answered with something that is not JSON we accept: {exc.what}",
            subject=subject,
        ) from None


_loads = loads_gateway_json
