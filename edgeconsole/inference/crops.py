"""Many crops of one frame into one input batch, each with the Geometry to map back.

Every crop goes through the model's own resize (``resize_image``), so a crop is fed
exactly as a whole image would be. Crops of different sizes (resize ``pad``) are
padded on the right and bottom to the largest, which leaves every Geometry valid.
The batch is normalised in one call (the batch axis folded into the height), not
once per crop.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from edgeconsole.core.errors import ModelShapeError
from edgeconsole.inference.preprocess import Geometry, convert_channels, resize_image, to_tensor
from edgeconsole.inference.spec import PreprocessSpec

PixelBox = tuple[int, int, int, int]


@dataclasses.dataclass(frozen=True, slots=True)
class CropGeometry:
    """Where a crop came from (frame pixels) and how it sits in the model input."""

    box: PixelBox
    geometry: Geometry

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) model-input (x, y) coordinates of this crop to frame pixels."""
        out = self.geometry.to_source(points)
        out[..., 0] += self.box[0]
        out[..., 1] += self.box[1]
        return out


def batch_pixels(pixels: list[np.ndarray], pad_value: int) -> np.ndarray:
    """H x W x C uint8 images as one N x H x W x C array, padded right/bottom to fit."""
    h = max(p.shape[0] for p in pixels)
    w = max(p.shape[1] for p in pixels)
    c = pixels[0].shape[2]
    if all(p.shape == (h, w, c) for p in pixels):
        return np.stack(pixels)
    out = np.full((len(pixels), h, w, c), pad_value, dtype=pixels[0].dtype)
    for i, p in enumerate(pixels):
        out[i, : p.shape[0], : p.shape[1]] = p
    return out


def batch_tensor(batch: np.ndarray, pre: PreprocessSpec) -> np.ndarray:
    """N x H x W x C pixels (already resized, in channel order) to the model's tensor."""
    n, h, w, c = batch.shape
    flat = dataclasses.replace(pre, flatten=False)
    # to_tensor takes one image: fold the batch into the height and unfold afterwards.
    t = to_tensor(batch.reshape(n * h, w, c), flat)
    if pre.layout == "NCHW":
        t = t.reshape(c, n, h, w).transpose(1, 0, 2, 3)
    elif pre.layout == "NHWC":
        t = t.reshape(n, h, w, c)
    if pre.layout == "NC" or pre.flatten:
        t = np.ascontiguousarray(t).reshape(n, -1)
    return np.ascontiguousarray(t)


def crop_batch(
    image: np.ndarray, boxes: list[PixelBox], pre: PreprocessSpec
) -> tuple[np.ndarray, list[CropGeometry]]:
    """The input tensor for ``boxes`` (frame pixels, non-empty, inside the frame)."""
    if not boxes:
        raise ModelShapeError("no crops to batch")
    pixels: list[np.ndarray] = []
    geos: list[CropGeometry] = []
    for box in boxes:
        x0, y0, x1, y1 = box
        resized, geo = resize_image(image[y0:y1, x0:x1], pre)
        pixels.append(convert_channels(resized, pre.channel_order))
        geos.append(CropGeometry(box, geo))
    return batch_tensor(batch_pixels(pixels, pre.pad_value), pre), geos
