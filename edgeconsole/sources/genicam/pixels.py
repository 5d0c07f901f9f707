"""Camera pixel formats (GenICam PFNC names) to the pipeline's 8-bit images.

Monochrome cameras stay single-channel (H x W uint8): the pipeline's consumers
(model preprocessing, locate, crops, overlay, recording, the live view) take grey
frames, and widening every frame to three identical channels cost more than
everything else the source does per frame (a 1 MP Mono8 frame: a 3 MB
allocation and write on the grab path). Colour and Bayer formats become BGR.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgeconsole.core.errors import SourceError

# PFNC names the Bayer pattern by its top-left 2x2 cell; OpenCV's BayerRGGB codes
# follow the same convention (its older two-letter codes do not).
_BAYER = {
    "BayerRG": cv2.COLOR_BayerRGGB2BGR,
    "BayerGR": cv2.COLOR_BayerGRBG2BGR,
    "BayerGB": cv2.COLOR_BayerGBRG2BGR,
    "BayerBG": cv2.COLOR_BayerBGGR2BGR,
}

SUPPORTED = (
    "Mono8, Mono10/12/14/16 (unpacked), Bayer RG/GR/GB/BG 8 and 10/12/16 (unpacked), "
    "RGB8, BGR8, BGRa8/RGBa8"
)


def _normalise(name: str) -> str:
    """pylon's RGB8Packed / BGRA8Packed are PFNC's RGB8 / BGRa8 (byte-aligned); Mono12Packed
    or Mono10p are bit-packed, which the conversions below would misread: refuse them."""
    base = name.strip()
    if base.endswith("Packed") and base.startswith(("RGB", "BGR")):
        return base[: -len("Packed")]
    if base.endswith(("Packed", "p")) or "Packed" in base:
        return ""
    return base


#: pixel format -> its bit depth when it is monochrome, else 0 (asked once per frame).
_MONO_BITS: dict[str, int] = {}


def mono_bits(pixel_format: str) -> int:
    """Bits per sample of a monochrome format (Mono8: 8, Mono12: 12); 0: not mono."""
    bits = _MONO_BITS.get(pixel_format)
    if bits is None:
        fmt = _normalise(pixel_format)
        bits = _MONO_BITS[pixel_format] = _bits(fmt) if fmt.startswith("Mono") else 0
    return bits


def to_pipeline(data: np.ndarray, pixel_format: str) -> np.ndarray:
    """One camera image as the pipeline carries it: monochrome as H x W uint8 (Mono8:
    ``data`` itself, no copy), everything else as H x W x 3 BGR (``to_bgr``)."""
    bits = mono_bits(pixel_format)
    if bits and data.ndim == 2:
        return _to8(data, bits)
    return to_bgr(data, pixel_format)


def to_bgr(data: np.ndarray, pixel_format: str) -> np.ndarray:
    """Convert one camera image; raise SourceError for a format we cannot show."""
    fmt = _normalise(pixel_format)
    bits = _bits(fmt)
    if fmt.startswith("Mono") and data.ndim == 2:
        return cv2.cvtColor(_to8(data, bits), cv2.COLOR_GRAY2BGR)
    for prefix, code in _BAYER.items():
        if fmt.startswith(prefix) and data.ndim == 2:
            if data.dtype == np.uint16:
                # Demosaic at full depth, then scale: scaling first loses the low bits.
                return _to8(cv2.cvtColor(data, code), bits)
            return cv2.cvtColor(data, code)
    if data.ndim != 3:
        fmt = ""  # a colour format must come with three or four channels
    if fmt in ("RGB8", "RGB16"):
        return cv2.cvtColor(_to8(data, bits), cv2.COLOR_RGB2BGR)
    if fmt in ("BGR8", "BGR16"):
        return np.ascontiguousarray(_to8(data, bits))
    if fmt in ("BGRa8", "BGRA8"):
        return cv2.cvtColor(data, cv2.COLOR_BGRA2BGR)
    if fmt in ("RGBa8", "RGBA8"):
        return cv2.cvtColor(data, cv2.COLOR_RGBA2BGR)
    raise SourceError(
        f"pixel format {pixel_format!r} cannot be shown",
        subject="camera image",
        hint=f"set PixelFormat to one of: {SUPPORTED}",
    )


def _bits(fmt: str) -> int:
    digits = "".join(c for c in fmt if c.isdigit())
    try:
        return int(digits) if digits else 8
    except ValueError:
        return 8


def _to8(data: np.ndarray, bits: int) -> np.ndarray:
    """Scale 10/12/14/16-bit samples (in 16-bit containers) to 8 bits."""
    if data.dtype == np.uint8:
        return data
    shift = max(0, min(bits, 16) - 8)
    return (data >> shift).astype(np.uint8)
