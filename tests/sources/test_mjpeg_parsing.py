from __future__ import annotations

import struct

import cv2
import numpy as np

from edgeconsole.sources.mjpeg_http import jpeg_size, multipart_boundary, redact


def test_jpeg_size_reads_sof() -> None:
    jpg = cv2.imencode(".jpg", np.zeros((33, 71, 3), np.uint8))[1].tobytes()
    assert jpeg_size(jpg) == (71, 33)
    assert jpeg_size(b"") is None
    assert jpeg_size(b"GIF89a....") is None
    assert jpeg_size(jpg[:20]) is None  # cut before the frame header
    # A tiny forged header claiming a 65535x65535 image (decompression bomb).
    bomb = b"\xff\xd8" + b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 65535, 65535, 3) + b"\0" * 9
    assert jpeg_size(bomb) == (65535, 65535)
    assert jpeg_size(b"\xff\xd8\xff\xe0\x00\x01") is None  # segment length < 2


def test_multipart_boundary() -> None:
    assert multipart_boundary("multipart/x-mixed-replace; boundary=frame") == b"frame"
    assert multipart_boundary('multipart/x-mixed-replace;boundary="--myb"') == b"myb"
    assert multipart_boundary("multipart/x-mixed-replace") == b""
    assert multipart_boundary("video/mp4") is None
    assert multipart_boundary("multipart/x-mixed-replace; boundary=" + "x" * 200) == b""


def test_redact() -> None:
    assert redact("rtsp://u:p@h:554/x") == "rtsp://u:***@h:554/x"
    assert redact("http://h/x") == "http://h/x"
