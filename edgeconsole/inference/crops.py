"""Many crops of one frame into one input batch, each with the Geometry to map back.

Every crop goes through the model's own resize (``resize_image``), so a crop is fed
exactly as a whole image would be. Crops of different sizes (resize ``pad``) are
padded on the right and bottom to the largest, which leaves every Geometry valid.
The batch is normalised in one call (the batch axis folded into the height), not
once per crop.

The per-part decision path (a few 48x192 crops within a 5 ms budget, issue 12) takes
a fused path when the description allows it (``fused_fits``): each crop is resized
straight into its slot of one padded 8-bit batch and every channel plane is scaled
into the float tensor in one pass, without the generic path's border copy, stack,
transposes and final copy. Same operations on the same values: the tensors are
bit-identical (``tests/inference/test_crops.py`` holds the two paths to that).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from edgeconsole.core.errors import ModelShapeError
from edgeconsole.inference.preprocess import (
    Geometry,
    convert_channels,
    fit_height_width,
    interpolation,
    resize_image,
    to_tensor,
)
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


def fused_fits(pre: PreprocessSpec, image: np.ndarray) -> bool:
    """Whether ``crop_batch`` may take the fused path for this description and frame:
    a fixed input size (``fit-height`` or ``stretch``), float32 NCHW, BGR or RGB, no
    inversion or flattening, from a 3-channel 8-bit frame."""
    return (
        pre.resize in ("fit-height", "stretch")
        and pre.size is not None
        and pre.layout == "NCHW"
        and pre.dtype == "float32"
        and pre.channel_order in ("BGR", "RGB")
        and not pre.invert
        and not pre.flatten
        and 0 <= pre.pad_value <= 255
        and len(pre.mean) in (1, 3)
        and len(pre.std) == len(pre.mean)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
    )


def _crop_batch_fused(
    image: np.ndarray, boxes: list[PixelBox], pre: PreprocessSpec
) -> tuple[np.ndarray, list[CropGeometry]]:
    assert pre.size is not None  # fused_fits
    th, tw = pre.size
    staging = np.full((len(boxes), th, tw, 3), pre.pad_value, dtype=np.uint8)
    geos: list[CropGeometry] = []
    for i, box in enumerate(boxes):
        x0, y0, x1, y1 = box
        crop = image[y0:y1, x0:x1]
        sh, sw = crop.shape[:2]
        if sh == 0 or sw == 0:
            raise ModelShapeError(f"image is empty ({sw}x{sh})")
        nw = fit_height_width(th, tw, sh, sw) if pre.resize == "fit-height" else tw
        if (sh, sw) == (th, nw):
            staging[i, :, :nw] = crop
        else:
            staging[i, :, :nw] = cv2.resize(
                crop, (nw, th), interpolation=interpolation((sh, sw), (th, nw))
            )
        geos.append(CropGeometry(box, Geometry((sh, sw), (th, tw), nw / sw, th / sh)))
    # As preprocess.normalise: x * (scale/std) - mean/std per channel, in float32.
    mean = np.asarray(pre.mean, dtype=np.float32)
    std = np.asarray(pre.std, dtype=np.float32)
    a = np.float32(pre.scale) / std
    b = -mean / std
    order = (2, 1, 0) if pre.channel_order == "RGB" else (0, 1, 2)
    out = np.empty((len(boxes), 3, th, tw), dtype=np.float32)
    for c in range(3):
        k = c if a.size > 1 else 0
        np.multiply(staging[..., order[c]], a[k], out=out[:, c], dtype=np.float32)
        out[:, c] += b[k]
    return out, geos


def crop_batch(
    image: np.ndarray, boxes: list[PixelBox], pre: PreprocessSpec, *, fused: bool = True
) -> tuple[np.ndarray, list[CropGeometry]]:
    """The input tensor for ``boxes`` (frame pixels, non-empty, inside the frame).

    ``fused``: take the fused path where it fits (``fused_fits``); False always takes
    the generic one (the reference the fused path is checked against)."""
    if not boxes:
        raise ModelShapeError("no crops to batch")
    if fused and fused_fits(pre, image):
        return _crop_batch_fused(image, boxes, pre)
    pixels: list[np.ndarray] = []
    geos: list[CropGeometry] = []
    for box in boxes:
        x0, y0, x1, y1 = box
        resized, geo = resize_image(image[y0:y1, x0:x1], pre)
        pixels.append(convert_channels(resized, pre.channel_order))
        geos.append(CropGeometry(box, geo))
    return batch_tensor(batch_pixels(pixels, pre.pad_value), pre), geos
