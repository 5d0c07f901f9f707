"""numpy BGR images -> QImage without copying the pixels.

``QImage`` can wrap an existing buffer (Format_BGR888 matches OpenCV's layout),
so the only copy of a frame is the one the painter makes while scaling it onto
the screen. The wrapper must not outlive the array, so ``FrameImage`` keeps both
together.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtGui import QImage

if TYPE_CHECKING:  # imported with the first frame, not before the window's first paint
    import numpy as np


@dataclass
class FrameImage:
    array: np.ndarray  # kept alive for as long as ``image`` wraps its memory
    image: QImage

    @property
    def width(self) -> int:
        return int(self.array.shape[1])

    @property
    def height(self) -> int:
        return int(self.array.shape[0])


def to_qimage(image: np.ndarray) -> FrameImage:
    """Wrap an H x W x 3 uint8 BGR (or H x W grey) array as a QImage.

    Copies only when the memory is not laid out the way QImage needs
    (non-contiguous views such as crops, wrong dtype, 4 channels).
    """
    import numpy as np

    if image.ndim == 2:
        arr = image if image.dtype == np.uint8 else np.clip(image, 0, 255).astype(np.uint8)
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        fmt = QImage.Format.Format_Grayscale8
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        arr = image if image.dtype == np.uint8 else np.clip(image, 0, 255).astype(np.uint8)
        if image.shape[2] == 4:
            arr = arr[:, :, :3]
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        fmt = QImage.Format.Format_BGR888
    else:
        raise ValueError(f"cannot show an image of shape {image.shape}")
    h, w = arr.shape[:2]
    qimg = QImage(arr.data, w, h, int(arr.strides[0]), fmt)
    return FrameImage(arr, qimg)


def display_qimage(pixels: np.ndarray, device_pixel_ratio: float = 1.0) -> FrameImage:
    """Wrap a frame the session prepared for the screen (H x W x 4 uint8 B, G, R, 255:
    session/display.py) as an RGB32 QImage, without copying: painted 1:1 it is one
    copy onto the screen, with no conversion or scaling on the window's thread."""
    import numpy as np

    if pixels.ndim != 3 or pixels.shape[2] != 4 or pixels.dtype != np.uint8:
        raise ValueError(f"display pixels must be H x W x 4 uint8, not {pixels.shape}")
    arr = pixels if pixels.flags.c_contiguous else np.ascontiguousarray(pixels)
    h, w = arr.shape[:2]
    # RGB32 is 0xffRRGGBB per pixel: B, G, R, 255 in memory on a little-endian machine.
    fmt = QImage.Format.Format_RGB32
    if sys.byteorder != "little":  # a big-endian machine reads those bytes backwards
        arr = np.ascontiguousarray(arr[:, :, 2::-1])
        fmt = QImage.Format.Format_RGB888
    qimg = QImage(arr.data, w, h, int(arr.strides[0]), fmt)
    qimg.setDevicePixelRatio(device_pixel_ratio)
    return FrameImage(arr, qimg)
