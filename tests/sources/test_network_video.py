"""StreamSource against a real MJPEG-over-HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeconsole.core.errors import ConfigError, SourceDisconnected, SourceError, SourceOpenError
from edgeconsole.core.frames import Frame
from edgeconsole.sources._live import ReconnectPolicy
from edgeconsole.sources.mjpeg_http import MjpegLimits, StreamProtocolError
from edgeconsole.sources.network_video import StreamSource
from tests.fixtures.sources import MjpegTestServer, wait_for

FAST = ReconnectPolicy(initial_s=0.05, max_delay_s=0.2)


class Collector:
    """Reads a source on a thread, keeping frames and the error that ended it."""

    def __init__(self, src: StreamSource) -> None:
        self.src = src
        self.frames: list[Frame] = []
        self.error: BaseException | None = None
        self.ended = threading.Event()
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while (f := self.src.read()) is not None:
                with self.cond:
                    self.frames.append(f)
                    self.cond.notify_all()
        except BaseException as exc:  # recorded for the test to check
            self.error = exc
        finally:
            self.ended.set()
            with self.cond:
                self.cond.notify_all()

    def wait_frames(self, n: int, timeout: float = 5.0) -> bool:
        with self.cond:
            return (
                self.cond.wait_for(lambda: len(self.frames) >= n or self.ended.is_set(), timeout)
                and len(self.frames) >= n
            )


def test_reads_mjpeg_frames(mjpeg_server: MjpegTestServer) -> None:
    src = StreamSource(mjpeg_server.url, policy=FAST)
    src.open()
    frames = [src.read() for _ in range(5)]
    assert all(f is not None for f in frames)
    assert [f.index for f in frames if f] == [0, 1, 2, 3, 4]
    f0 = frames[0]
    assert f0 is not None and f0.image.shape == (96, 128, 3) and f0.image.dtype == np.uint8
    assert f0.capture_started_ns is not None and f0.capture_started_ns <= f0.captured_ns
    d = src.describe()
    assert d["kind"] == "stream" and d["protocol"] == "mjpeg-http" and d["width"] == 128
    src.close()
    assert src.state == "closed" and src.read() is None


def test_parts_without_content_length(make_mjpeg_server: Any) -> None:
    server = make_mjpeg_server("no_length")
    with StreamSource(server.url) as src:
        for _ in range(4):
            f = src.read()
            assert f is not None and f.image.shape == (96, 128, 3)


def test_drop_then_reconnect_on_same_port(mjpeg_server: MjpegTestServer) -> None:
    src = StreamSource(mjpeg_server.url, policy=FAST)
    src.open()
    reader = Collector(src)
    try:
        assert reader.wait_frames(5)
        mjpeg_server.stop()
        assert wait_for(lambda: src.state == "reconnecting", 5)
        before = len(reader.frames)
        mjpeg_server.start()  # same port
        assert reader.wait_frames(before + 5, timeout=10)
        assert src.reconnects >= 1 and src.state == "open"
        indices = [f.index for f in reader.frames]
        assert indices == list(range(len(indices)))
    finally:
        src.close()
        reader.thread.join(5)
    assert not reader.thread.is_alive() and reader.error is None


def test_gives_up_after_max_attempts(mjpeg_server: MjpegTestServer) -> None:
    src = StreamSource(
        mjpeg_server.url, policy=ReconnectPolicy(initial_s=0.02, max_delay_s=0.05, max_attempts=3)
    )
    src.open()
    assert src.read() is not None
    mjpeg_server.stop()
    with pytest.raises(SourceDisconnected) as e:
        while src.read() is not None:
            pass
    assert "3 reconnect attempts" in str(e.value) and "127.0.0.1" in str(e.value)
    assert src.state == "ended"


def test_close_unblocks_pending_read_on_silent_stream(make_mjpeg_server: Any) -> None:
    server = make_mjpeg_server("stall")
    src = StreamSource(server.url, timeout_s=60)
    src.open()
    reader = Collector(src)
    # The reader is blocked in recv: the server sends nothing after the headers.
    assert not reader.ended.wait(0.2)
    t0 = time.monotonic()
    src.close()
    assert reader.ended.wait(5)
    assert time.monotonic() - t0 < 5 and reader.frames == [] and reader.error is None


def test_close_during_reconnect_backoff(mjpeg_server: MjpegTestServer) -> None:
    src = StreamSource(mjpeg_server.url, policy=ReconnectPolicy(initial_s=30, max_delay_s=30))
    src.open()
    reader = Collector(src)
    assert reader.wait_frames(1)
    mjpeg_server.stop()
    assert wait_for(lambda: src.state == "reconnecting", 5)
    src.close()
    assert reader.ended.wait(5) and reader.error is None


def test_refused_connection_is_open_error() -> None:
    server = MjpegTestServer()
    server.start()
    url = server.url
    server.stop()
    with pytest.raises(SourceOpenError) as e:
        StreamSource(url, timeout_s=2).open()
    assert "127.0.0.1" in str(e.value) and e.value.hint


def test_http_404(make_mjpeg_server: Any) -> None:
    with pytest.raises(SourceOpenError) as e:
        StreamSource(make_mjpeg_server("404").url, timeout_s=2).open()
    assert "404" in str(e.value)


def test_html_page_is_not_a_stream(make_mjpeg_server: Any) -> None:
    with pytest.raises(SourceOpenError):
        StreamSource(make_mjpeg_server("html").url, timeout_s=2).open()


def test_huge_content_length(make_mjpeg_server: Any) -> None:
    src = StreamSource(make_mjpeg_server("huge_length").url)
    src.open()
    with pytest.raises(StreamProtocolError) as e:
        src.read()
    assert "99999999999" in str(e.value) and src.state == "ended"


def test_garbage_instead_of_jpeg(make_mjpeg_server: Any) -> None:
    src = StreamSource(make_mjpeg_server("garbage", fps=500).url)
    src.open()
    with pytest.raises(StreamProtocolError) as e:
        src.read()
    assert "not decodable JPEG" in str(e.value)


def test_boundary_that_never_comes(make_mjpeg_server: Any) -> None:
    src = StreamSource(
        make_mjpeg_server("no_boundary").url, limits=MjpegLimits(max_frame_bytes=1 << 20)
    )
    src.open()
    with pytest.raises(StreamProtocolError) as e:
        src.read()
    assert "boundary" in str(e.value)
    assert isinstance(e.value, SourceError)


def test_video_file_over_http_ends_cleanly(conveyor_video: Path) -> None:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(Quiet, directory=str(conveyor_video.parent))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{conveyor_video.name}"
        with StreamSource(url, timeout_s=5) as src:
            n = 0
            while src.read() is not None:
                n += 1
            assert src.describe()["protocol"] == "ffmpeg"
        assert n == 60 and src.reconnects == 0
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("url", ["ftp://host/x", "http://", "rtsp:/nohost", "file:///tmp/x"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        StreamSource(url)


def test_password_is_redacted() -> None:
    src = StreamSource("rtsp://admin:secret@10.0.0.9:554/live")
    assert "secret" not in src.name and "secret" not in str(src.describe())
