"""A bounded reader for MJPEG over HTTP (multipart/x-mixed-replace JPEG parts).

Written out rather than left to FFmpeg so that ``close`` unblocks a pending read
at once (the socket is shut down), every size is bounded, and a hostile or
broken server gets a clear error instead of unbounded memory or a hang.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import struct
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import cv2
import numpy as np

from edgeconsole.core.errors import SourceError, SourceOpenError
from edgeconsole.sources._live import Dropped

MAX_LINE = 8192
MAX_HEADERS = 64


class StreamProtocolError(SourceError):
    """The server sent something that is not a valid MJPEG stream."""


@dataclass(frozen=True, slots=True)
class MjpegLimits:
    max_frame_bytes: int = 16 * 1024 * 1024
    max_pixels: int = 40_000_000
    #: Consecutive undecodable parts tolerated before giving up on the stream.
    max_bad_frames: int = 5


def redact(url: str) -> str:
    """The URL without a password, for names, logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else "***@"
    return parts._replace(netloc=user + host).geturl()


def http_connect(
    url: str, timeout: float
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse, socket.socket | None]:
    """GET ``url``: the connection, the response and its socket, or SourceOpenError.

    The socket is taken before ``getresponse``, which drops ``conn.sock`` for
    responses that run until the connection closes (every MJPEG stream).
    """
    parts = urlsplit(url)
    subject = redact(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceOpenError("not an http(s) URL with a host", subject=subject)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = {"User-Agent": "EdgeConsole", "Accept": "*/*"}
    if parts.username is not None:
        import base64

        token = f"{parts.username}:{parts.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
    try:
        conn.request("GET", path, headers=headers)
        sock = conn.sock
        resp = conn.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise SourceOpenError(
            f"cannot connect: {exc}",
            subject=subject,
            hint="check the URL and that the camera or streamer is running and reachable",
        ) from exc
    if resp.status != 200:
        conn.close()
        raise SourceOpenError(
            f"server answered HTTP {resp.status} {resp.reason}",
            subject=subject,
            hint="check the stream path and credentials",
        )
    return conn, resp, sock


def multipart_boundary(content_type: str) -> bytes | None:
    """The boundary of a multipart/x-mixed-replace content type, else None."""
    main, _, params = content_type.partition(";")
    if main.strip().lower() != "multipart/x-mixed-replace":
        return None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary":
            value = value.strip().strip('"')
            # Some servers put the leading dashes in the parameter; tolerate it.
            if value.startswith("--"):
                value = value[2:]
            if 0 < len(value) <= 70:
                return value.encode("latin-1", "replace")
    return b""


def jpeg_size(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    """(width, height) from a JPEG's SOF marker without decoding, else None."""
    mv = memoryview(data)
    if len(mv) < 4 or mv[0] != 0xFF or mv[1] != 0xD8:
        return None
    i = 2
    n = len(mv)
    while i + 4 <= n:
        if mv[i] != 0xFF:
            return None
        marker = mv[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (seg_len,) = struct.unpack(">H", mv[i + 2 : i + 4])
        if seg_len < 2:
            return None
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if i + 9 > n:
                return None
            h, w = struct.unpack(">HH", mv[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + seg_len
    return None


class MjpegHttpReader:
    """Parses JPEG parts off an open multipart HTTP response."""

    def __init__(
        self,
        url: str,
        conn: http.client.HTTPConnection,
        resp: http.client.HTTPResponse,
        boundary: bytes,
        limits: MjpegLimits | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        self.subject = redact(url)
        self.limits = limits or MjpegLimits()
        self.bad_frames = 0
        self._conn = conn
        self._resp = resp
        self._delim = b"--" + boundary
        self._buf = bytearray()
        self._closed = threading.Event()
        self._sock = sock
        # Held while a read runs; close() from another thread only shuts the
        # socket down then, and the reading thread closes the response.
        self._reading = threading.Lock()

    @classmethod
    def connect(
        cls, url: str, timeout: float, limits: MjpegLimits | None = None
    ) -> MjpegHttpReader:
        conn, resp, sock = http_connect(url, timeout)
        boundary = multipart_boundary(resp.getheader("Content-Type", ""))
        if not boundary:
            conn.close()
            raise StreamProtocolError(
                "not an MJPEG stream (no multipart/x-mixed-replace boundary)",
                subject=redact(url),
                hint="point the URL at the camera's MJPEG stream",
            )
        return cls(url, conn, resp, boundary, limits, sock)

    # -- FrameReader -----------------------------------------------------
    def read(self) -> np.ndarray | None:
        with self._reading:
            try:
                return self._read_image()
            finally:
                if self._closed.is_set():
                    self._release()

    def _read_image(self) -> np.ndarray:
        consecutive_bad = 0
        while True:
            body = self._next_part()
            image = self._decode(body)
            if image is not None:
                return image
            self.bad_frames += 1
            consecutive_bad += 1
            if consecutive_bad >= self.limits.max_bad_frames:
                raise StreamProtocolError(
                    f"{consecutive_bad} parts in a row are not decodable JPEG images",
                    subject=self.subject,
                    hint="the URL does not serve an MJPEG camera stream, or the camera is faulty",
                )

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        sock = self._sock
        if sock is not None:
            # shutdown (not just close) wakes a thread blocked in recv().
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._reading.acquire(blocking=False):
            try:
                self._release()
            finally:
                self._reading.release()

    def _release(self) -> None:
        try:
            self._resp.close()
            self._conn.close()
        except (OSError, ValueError):
            pass

    # -- parsing ------------------------------------------------------------
    def _fill(self) -> None:
        if self._closed.is_set():
            raise Dropped("closed")
        try:
            chunk = self._resp.read1(65536)
        except (OSError, http.client.HTTPException, ValueError, AttributeError) as exc:
            # ValueError/AttributeError: the response was closed under us.
            raise Dropped(f"connection lost: {exc or type(exc).__name__}") from exc
        if not chunk:
            raise Dropped("server closed the connection")
        self._buf += chunk

    def _protocol(self, what: str) -> StreamProtocolError:
        return StreamProtocolError(
            what,
            subject=self.subject,
            hint="the server does not speak MJPEG over HTTP correctly; check the URL",
        )

    def _line(self) -> bytes:
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                if nl > MAX_LINE:
                    raise self._protocol(f"header line longer than {MAX_LINE} bytes")
                line = bytes(self._buf[:nl]).rstrip(b"\r")
                del self._buf[: nl + 1]
                return line
            if len(self._buf) > MAX_LINE:
                raise self._protocol(f"header line longer than {MAX_LINE} bytes")
            self._fill()

    def _skip_to_boundary(self) -> None:
        limit = self.limits.max_frame_bytes
        scanned = 0
        keep = len(self._delim)
        while True:
            i = self._buf.find(self._delim)
            if i >= 0:
                del self._buf[: i + len(self._delim)]
                return
            if len(self._buf) > keep:
                scanned += len(self._buf) - keep
                del self._buf[: len(self._buf) - keep]
            if scanned > limit:
                raise self._protocol(f"no part boundary within {limit} bytes")
            self._fill()

    def _next_part(self) -> bytes:
        self._skip_to_boundary()
        rest = self._line()  # the remainder of the boundary line
        if rest.startswith(b"--"):
            raise Dropped("server ended the multipart stream")
        length: int | None = None
        for _ in range(MAX_HEADERS):
            line = self._line()
            if not line:
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                text = value.strip()
                if not text.isdigit() or len(text) > 12:
                    raise self._protocol(f"bad Content-Length {text[:32]!r}")
                length = int(text)
                if length > self.limits.max_frame_bytes:
                    raise self._protocol(
                        f"part of {length} bytes exceeds the {self.limits.max_frame_bytes}"
                        "-byte limit"
                    )
        else:
            raise self._protocol(f"more than {MAX_HEADERS} part headers")
        if length is not None:
            while len(self._buf) < length:
                self._fill()
            body = bytes(self._buf[:length])
            del self._buf[:length]
            return body
        # No Content-Length (common on cheap cameras): the part runs to the
        # next boundary, which is left in the buffer for the next call.
        start = 0
        while True:
            i = self._buf.find(self._delim, start)
            if i >= 0:
                body = bytes(self._buf[:i]).rstrip(b"\r\n")
                del self._buf[:i]
                return body
            if len(self._buf) > self.limits.max_frame_bytes:
                raise self._protocol(
                    f"part longer than {self.limits.max_frame_bytes} bytes without a boundary"
                )
            start = max(0, len(self._buf) - len(self._delim))
            self._fill()

    def _decode(self, body: bytes) -> np.ndarray | None:
        size = jpeg_size(body)
        if size is None:
            return None
        w, h = size
        if w * h > self.limits.max_pixels:
            raise self._protocol(
                f"JPEG of {w}x{h} pixels exceeds the {self.limits.max_pixels}-pixel limit"
            )
        image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        if image is None or image.size == 0:
            return None
        return image
