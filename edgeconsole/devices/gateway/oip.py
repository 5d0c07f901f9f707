"""An Open Inference Protocol v2 REST client (the agent, Triton, KServe, MLServer).

Tensors go as JSON or, with ``binary=True``, with the binary tensor data
extension (a JSON header, then raw little-endian bytes), which the agent and
Triton support; servers that do not (MLServer) get JSON.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from edgeconsole.core.errors import DeviceDisconnected, DeviceError
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded
from edgeconsole.devices.gateway.http import AuthError, GatewayHTTPError, HttpBase
from edgeconsole.devices.loop import LoopThread, io_loop

DTYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
TO_OIP = {np.dtype(v): k for k, v in DTYPES.items()}


def encode_infer(
    inputs: dict[str, np.ndarray], binary: bool, outputs: list[str] | None = None
) -> tuple[bytes, dict[str, str]]:
    specs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, arr in inputs.items():
        a = np.ascontiguousarray(arr)
        dt = TO_OIP.get(a.dtype.newbyteorder("="))
        if dt is None:
            raise DeviceError(f"input '{name}' has type {a.dtype}, which OIP cannot carry")
        spec: dict[str, Any] = {"name": name, "shape": list(a.shape), "datatype": dt}
        if binary:
            raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
            spec["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            spec["data"] = a.reshape(-1).tolist()
        specs.append(spec)
    req: dict[str, Any] = {"inputs": specs}
    if outputs:
        req["outputs"] = [{"name": o, "parameters": {"binary_data": binary}} for o in outputs]
    elif binary:
        req["parameters"] = {"binary_data_output": True}
    head = json.dumps(req, separators=(",", ":")).encode()
    if not binary:
        return head, {"Content-Type": "application/json"}
    return head + b"".join(blobs), {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(head)),
    }


def decode_infer(body: bytes, header_length: str | None) -> dict[str, np.ndarray]:
    n = len(body) if header_length is None else int(header_length)
    if not 0 < n <= len(body):
        raise DeviceError("infer response header length is out of range")
    try:
        resp = loads_bounded(body[:n], max_bytes=n, what="infer response")
    except JSONRefused as exc:
        raise DeviceError(f"infer response is not JSON the console accepts: {exc.what}") from None
    outs = resp.get("outputs") if isinstance(resp, dict) else None
    if not isinstance(outs, list):
        raise DeviceError("infer response has no outputs list")
    pos = n
    result: dict[str, np.ndarray] = {}
    for o in outs:
        try:
            name, shape, dt = str(o["name"]), [int(d) for d in o["shape"]], DTYPES[o["datatype"]]
        except (KeyError, TypeError, ValueError):
            raise DeviceError("malformed output in the infer response") from None
        params = o.get("parameters") or {}
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is not None:
            if pos + int(size) > len(body):
                raise DeviceError(f"output '{name}' binary data is truncated")
            arr = np.frombuffer(
                body,
                dtype=np.dtype(dt).newbyteorder("<"),
                count=int(size) // np.dtype(dt).itemsize,
                offset=pos,
            )
            pos += int(size)
        else:
            arr = np.asarray(o.get("data"), dtype=dt)
        try:
            result[name] = arr.reshape(shape).astype(np.dtype(dt), copy=False)
        except ValueError:
            raise DeviceError(f"output '{name}' does not fit its shape {shape}") from None
    return result


#: The OIP extension name a server lists when it takes binary tensor data.
BINARY_EXTENSION = "binary_tensor_data"


class AsyncOipClient(HttpBase):
    _binary: bool | None = None  # asked of the server once (speaks_binary)

    async def server_metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = await self.get_json("/v2")
        return data

    async def is_live(self) -> bool:
        try:
            await self.request("GET", "/v2/health/live")
        except GatewayHTTPError:
            return False
        return True

    async def is_ready(self) -> bool:
        try:
            await self.request("GET", "/v2/health/ready")
        except GatewayHTTPError as exc:
            if exc.status == 401:
                raise
            return False
        return True

    async def model_metadata(self, model: str, version: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = await self.get_json(self._model_path(model, version))
        return data

    async def model_ready(self, model: str, version: str | None = None) -> bool:
        try:
            await self.request("GET", self._model_path(model, version) + "/ready")
        except GatewayHTTPError as exc:
            if exc.status == 401:
                raise
            return False
        return True

    async def infer(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        *,
        binary: bool | None = None,
        outputs: list[str] | None = None,
        version: str | None = None,
    ) -> dict[str, np.ndarray]:
        """``binary=None``: binary tensors only if the server lists the extension."""
        if binary is None:
            binary = await self.speaks_binary()
        body, headers = encode_infer(inputs, binary, outputs)
        _, rh, raw = await self.request(
            "POST", self._model_path(model, version) + "/infer", data=body, headers=headers
        )
        return decode_infer(raw, rh.get("Inference-Header-Content-Length"))

    async def speaks_binary(self) -> bool:
        """Whether the server advertises the binary tensor extension (asked once)."""
        if self._binary is None:
            meta = await self.server_metadata()
            extensions = meta.get("extensions") or []
            self._binary = isinstance(extensions, list) and BINARY_EXTENSION in extensions
        return self._binary

    async def repository_index(self, ready_only: bool = False) -> list[dict[str, Any]]:
        data = await self.post_json("/v2/repository/index", {"ready": True} if ready_only else {})
        if not isinstance(data, list):
            raise DeviceError("repository index is not a list", subject=self.base)
        return data

    async def load(self, model: str) -> None:
        await self.post_json(f"/v2/repository/models/{model}/load")

    async def unload(self, model: str) -> None:
        await self.post_json(f"/v2/repository/models/{model}/unload")

    @staticmethod
    def _model_path(model: str, version: str | None) -> str:
        return f"/v2/models/{model}" + (f"/versions/{version}" if version else "")


class _DirectInfer:
    """Infer on a kept-alive ``http.client`` connection per calling thread.

    The hot path of a frame loop: no hop to the I/O loop and back, one request on
    an open socket. A broken connection is reopened once, then reported.
    """

    def __init__(self, base: str, headers: dict[str, str], timeout_s: float) -> None:
        parts = urlsplit(base)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.https = parts.scheme == "https"
        self.headers = headers
        self.timeout_s = timeout_s
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = cls(self.host, self.port, timeout=self.timeout_s)
            self._local.conn = conn
        return conn

    def post(
        self, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str | None, bytes]:
        for attempt in (0, 1):
            conn = self._conn()
            try:
                conn.request("POST", path, body=body, headers={**self.headers, **headers})
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, resp.getheader("Inference-Header-Content-Length"), data
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._local.conn = None
                if attempt:
                    raise DeviceDisconnected(
                        f"no answer from the gateway ({exc})", subject=f"{self.host}:{self.port}"
                    ) from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class OipClient:
    """The synchronous face of :class:`AsyncOipClient` (waits on the I/O loop);
    ``infer`` goes straight over a kept-alive connection (the frame-rate path)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout_s: float = 30.0,
        loop: LoopThread | None = None,
    ) -> None:
        self._loop = loop or io_loop()
        self.aio = AsyncOipClient(base_url, token, timeout_s=timeout_s)
        self._direct = _DirectInfer(self.aio.base, self.aio.headers(), timeout_s)

    def _run(self, coro: Any) -> Any:
        return self._loop.run(coro)

    def server_metadata(self) -> dict[str, Any]:
        return dict(self._run(self.aio.server_metadata()))

    def is_live(self) -> bool:
        return bool(self._run(self.aio.is_live()))

    def is_ready(self) -> bool:
        return bool(self._run(self.aio.is_ready()))

    def model_metadata(self, model: str, version: str | None = None) -> dict[str, Any]:
        return dict(self._run(self.aio.model_metadata(model, version)))

    def model_ready(self, model: str, version: str | None = None) -> bool:
        return bool(self._run(self.aio.model_ready(model, version)))

    def infer(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        *,
        binary: bool | None = None,
        outputs: list[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """``binary=None``: binary tensors only if the server lists the extension
        (our agent and Triton do; MLServer and KServe take JSON only)."""
        if binary is None:
            binary = bool(self._run(self.aio.speaks_binary()))
        body, headers = encode_infer(inputs, binary, outputs)
        path = AsyncOipClient._model_path(model, None) + "/infer"
        status, header_len, raw = self._direct.post(path, body, headers)
        if status != 200:
            err = self.aio.error(status, raw)
            if isinstance(err, AuthError):
                raise err
            raise GatewayHTTPError(
                f"infer on model '{model}' failed (HTTP {status}): {err.what}",
                status=status,
                body=err.body,
                subject=err.subject,
                hint=err.hint,
            )
        return decode_infer(raw, header_len)

    def repository_index(self, ready_only: bool = False) -> list[dict[str, Any]]:
        return list(self._run(self.aio.repository_index(ready_only)))

    def load(self, model: str) -> None:
        self._run(self.aio.load(model))

    def unload(self, model: str) -> None:
        self._run(self.aio.unload(model))

    def close(self) -> None:
        self._direct.close()
        self._run(self.aio.aclose())
