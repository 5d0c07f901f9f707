"""numpy BGR images -> QImage without copying the pixels.

``QImage`` can wrap an existing buffer (Format_BGR888 matches OpenCV's layout),
so the only copy of a frame is the one the painter makes while scaling it onto
the screen. The wrapper must not outlive the array, so ``FrameImage`` keeps both
together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtGui import QImage


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
