"""Network streams: RTSP and HTTP(S) (MJPEG, or a video file behind a URL)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import cv2

from edgeconsole.core.errors import ConfigError, SourceOpenError
from edgeconsole.sources._live import FrameReader, LiveSourceBase, ReconnectPolicy
from edgeconsole.sources._opencv_reader import OpenCvReader
from edgeconsole.sources.mjpeg_http import (
    MjpegHttpReader,
    MjpegLimits,
    http_connect,
    multipart_boundary,
    redact,
)

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")


class StreamSource(LiveSourceBase):
    """A network stream that reconnects with back-off when it drops.

    HTTP(S) answers of type multipart/x-mixed-replace are read by our own
    bounded MJPEG reader (``close`` unblocks it at once); anything else (RTSP,
    a video file URL) goes to OpenCV's FFmpeg backend with open and read
    timeouts of ``timeout_s``, so ``close`` unblocks those within that time.
    """

    kind = "stream"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        policy: ReconnectPolicy | None = None,
        limits: MjpegLimits | None = None,
        name: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in STREAM_SCHEMES or not parts.hostname:
            raise ConfigError(
                f"not a stream URL: {redact(url)!r}",
                subject="stream source",
                hint="use rtsp://host/path, http://host:port/path or https://...",
            )
        if not (0 < timeout_s <= 600):
            raise ConfigError("stream timeout must be in (0, 600] s", subject=redact(url))
        super().__init__(name or redact(url), policy)
        self.url = url
        self.timeout_s = timeout_s
        self.limits = limits or MjpegLimits()
        self.protocol: str | None = None
        self._fps: float | None = None

    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    def _subject(self) -> str:
        return redact(self.url)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": redact(self.url),
            "protocol": self.protocol,
            "width": self.width or None,
            "height": self.height or None,
            "fps": self._fps,
            "frames": None,
            "state": self.state,
            "reconnects": self.reconnects,
        }

    def _connect(self) -> FrameReader:
        scheme = urlsplit(self.url).scheme.lower()
        if scheme in ("http", "https"):
            conn, resp, sock = http_connect(self.url, self.timeout_s)
            boundary = multipart_boundary(resp.getheader("Content-Type", ""))
            if boundary:
                self.protocol = "mjpeg-http"
                return MjpegHttpReader(self.url, conn, resp, boundary, self.limits, sock)
            conn.close()
        return self._connect_opencv()

    def _connect_opencv(self) -> FrameReader:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.timeout_s * 1000),
        ]
        cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            raise SourceOpenError(
                "cannot open the stream",
                subject=self._subject(),
                hint="check the URL, credentials and that the stream is running",
            )
        reader = OpenCvReader(cap, "stream")
        if not reader.prime():
            reader.close()
            raise SourceOpenError(
                "stream opened but sent no decodable frame",
                subject=self._subject(),
                hint="check the stream's codec and that it is live",
            )
        self.protocol = "ffmpeg"
        self._fps = reader.fps
        return reader
