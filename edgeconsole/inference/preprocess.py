"""Image (or vector) to input tensor, driven by a PreprocessSpec, plus the way back.

Every resize records a :class:`Geometry`, so a head can map whatever it finds in
model-input coordinates back to source-image pixels (the overlay is drawn on the
source frame, and a technician measures parts in source pixels).

All work is vectorised (OpenCV resize, numpy broadcasting); nothing loops per pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgeconsole.core.errors import ConfigError, ModelShapeError
from edgeconsole.inference.spec import PreprocessSpec

_NP_DTYPES: dict[str, type[np.generic]] = {
    "float32": np.float32,
    "float16": np.float16,
    "uint8": np.uint8,
    "int8": np.int8,
    "int64": np.int64,
    "int32": np.int32,
}


@dataclass(frozen=True, slots=True)
class Geometry:
    """How source pixels were placed in the model input.

    ``input = source * scale + offset`` per axis. ``content`` is the part of the
    input (x0, y0, x1, y1) that holds image rather than padding.
    """

    source_size: tuple[int, int]  # height, width of the source image
    input_size: tuple[int, int]  # height, width of the tensor's image plane
    scale_x: float = 1.0
    scale_y: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0

    @property
    def content(self) -> tuple[float, float, float, float]:
        h, w = self.source_size
        return (
            self.offset_x,
            self.offset_y,
            self.offset_x + w * self.scale_x,
            self.offset_y + h * self.scale_y,
        )

    def to_source(self, points: np.ndarray, *, clip: bool = True) -> np.ndarray:
        """Map an (..., 2) array of input (x, y) coordinates to source pixels."""
        pts = np.asarray(points, dtype=np.float64)
        out = np.empty_like(pts)
        out[..., 0] = (pts[..., 0] - self.offset_x) / self.scale_x
        out[..., 1] = (pts[..., 1] - self.offset_y) / self.scale_y
        if clip:
            h, w = self.source_size
            np.clip(out[..., 0], 0, w, out=out[..., 0])
            np.clip(out[..., 1], 0, h, out=out[..., 1])
        return out

    def to_input(self, points: np.ndarray) -> np.ndarray:
        """Map an (..., 2) array of source (x, y) pixels to input coordinates."""
        pts = np.asarray(points, dtype=np.float64)
        out = np.empty_like(pts)
        out[..., 0] = pts[..., 0] * self.scale_x + self.offset_x
        out[..., 1] = pts[..., 1] * self.scale_y + self.offset_y
        return out

    def box_to_source(
        self, box: tuple[float, float, float, float]
    ) -> tuple[float, float, float, float]:
        p = self.to_source(np.array([[box[0], box[1]], [box[2], box[3]]]))
        return (float(p[0, 0]), float(p[0, 1]), float(p[1, 0]), float(p[1, 1]))


def interpolation(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> int:
    """The OpenCV interpolation every resize here uses for that size change."""
    # INTER_AREA avoids aliasing when shrinking a lot, but at a non-integer ratio it costs
    # ~10x LINEAR (9 ms vs 0.9 ms for 1280x720 -> 960x540); above half size LINEAR is fine.
    heavy_shrink = dst_hw[0] * 2 < src_hw[0] and dst_hw[1] * 2 < src_hw[1]
    return cv2.INTER_AREA if heavy_shrink else cv2.INTER_LINEAR


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    if img.shape[0] == h and img.shape[1] == w:
        return img
    return cv2.resize(img, (w, h), interpolation=interpolation(img.shape[:2], (h, w)))


def _pad_to(img: np.ndarray, h: int, w: int, top: int, left: int, value: int) -> np.ndarray:
    bottom = h - img.shape[0] - top
    right = w - img.shape[1] - left
    if top == bottom == left == right == 0:
        return img
    return cv2.copyMakeBorder(
        img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(value, value, value, value)
    )


def fit_height_width(th: int, tw: int, sh: int, sw: int) -> int:
    """``fit-height``: the width an ``sh`` x ``sw`` image gets at height ``th``. As
    PaddleOCR's cls/rec resize_norm_img: ceil(th * aspect), capped at ``tw``."""
    return min(tw, max(1, math.ceil(th * sw / sh)))


def resize_image(img: np.ndarray, spec: PreprocessSpec) -> tuple[np.ndarray, Geometry]:
    """Apply ``spec.resize`` and return the resized image and its Geometry."""
    sh, sw = img.shape[:2]
    if sh == 0 or sw == 0:
        raise ModelShapeError(f"image is empty ({sw}x{sh})")
    mode = spec.resize
    if mode == "none":
        return img, Geometry((sh, sw), (sh, sw))
    if mode == "stretch":
        assert spec.size is not None  # the spec parser requires size for stretch
        th, tw = spec.size
        return _resize(img, th, tw), Geometry((sh, sw), (th, tw), tw / sw, th / sh)
    if mode == "letterbox":
        assert spec.size is not None
        th, tw = spec.size
        s = min(th / sh, tw / sw)
        nh, nw = max(1, round(sh * s)), max(1, round(sw * s))
        top, left = (th - nh) // 2, (tw - nw) // 2
        out = _pad_to(_resize(img, nh, nw), th, tw, top, left, spec.pad_value)
        return out, Geometry((sh, sw), (th, tw), nw / sw, nh / sh, float(left), float(top))
    if mode == "fit-height":
        assert spec.size is not None
        th, tw = spec.size
        nw = fit_height_width(th, tw, sh, sw)
        out = _pad_to(_resize(img, th, nw), th, tw, 0, 0, spec.pad_value)
        return out, Geometry((sh, sw), (th, tw), nw / sw, th / sh)
    if mode == "pad":
        limit = spec.max_side
        if limit is None and spec.size is not None:
            limit = max(spec.size)
        s = 1.0 if limit is None else min(1.0, limit / max(sh, sw))
        nh, nw = max(1, round(sh * s)), max(1, round(sw * s))
        m = spec.multiple_of
        th, tw = math.ceil(nh / m) * m, math.ceil(nw / m) * m
        out = _pad_to(_resize(img, nh, nw), th, tw, 0, 0, spec.pad_value)
        return out, Geometry((sh, sw), (th, tw), nw / sw, nh / sh)
    raise ConfigError(f"unknown resize mode '{mode}'")  # the parser already refuses these


def convert_channels(img: np.ndarray, channel_order: str) -> np.ndarray:
    """BGR (or gray) image to the model's channel order; always returns H x W x C."""
    if img.ndim == 2:
        img = img[:, :, None]
    c = img.shape[2]
    if channel_order == "GRAY":
        if c == 3:
            return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]
        if c == 1:
            return img
    elif c == 1:
        return np.repeat(img, 3, axis=2)
    elif c == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if channel_order == "RGB" else img
    elif c == 4:
        code = cv2.COLOR_BGRA2RGB if channel_order == "RGB" else cv2.COLOR_BGRA2BGR
        return cv2.cvtColor(img, code)
    raise ModelShapeError(f"cannot convert a {c}-channel image to {channel_order}")


def normalise(pixels: np.ndarray, spec: PreprocessSpec, channel_axis: int = -1) -> np.ndarray:
    """``invert``, ``x * scale``, ``(x - mean) / std`` per channel; float32 out.

    Folded into one multiply-add per channel: ``x * (scale/std) - mean/std``. With
    ``channel_axis=0`` (planar data) each plane is converted straight into its slot
    of the output, about 8x faster than converting and broadcasting the whole array.
    """
    x = pixels
    if spec.invert:
        # Inversion is defined on 8-bit pixels: dark ink on white paper becomes bright.
        x = 255 - x if x.dtype == np.uint8 else 255.0 - x.astype(np.float32)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    channels = x.shape[channel_axis] if x.ndim >= 1 else 1
    if mean.size not in (1, channels):
        raise ModelShapeError(
            f"preprocess has {mean.size} mean values for data with {channels} channels"
        )
    a = np.float32(spec.scale) / std
    b = -mean / std
    if channel_axis == 0 and x.ndim >= 2:
        out = np.empty(x.shape, dtype=np.float32)
        for c in range(channels):  # a handful of planes, each fully vectorised
            k = c if a.size > 1 else 0
            np.multiply(x[c], a[k], out=out[c], dtype=np.float32)
            out[c] += b[k]
        return out
    out = x.astype(np.float32)
    out *= a
    out += b
    return out


def _is_identity(spec: PreprocessSpec) -> bool:
    return (
        spec.scale == 1.0
        and all(m == 0.0 for m in spec.mean)
        and all(s == 1.0 for s in spec.std)
        and not spec.invert
    )


def cast(x: np.ndarray, dtype: str) -> np.ndarray:
    target = _NP_DTYPES[dtype]
    if x.dtype == target:
        return x
    if np.issubdtype(target, np.integer):
        info = np.iinfo(np.dtype(target))
        clipped: np.ndarray = np.clip(np.rint(x), info.min, info.max)
        return clipped.astype(target)
    return x.astype(target)


def arrange(hwc: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """H x W x C to the model's layout with a batch axis of 1."""
    if spec.layout == "NCHW":
        t = np.ascontiguousarray(hwc.transpose(2, 0, 1))[None]
    elif spec.layout == "NHWC":
        t = hwc[None]
    else:  # NC: one vector per image, in H, W, C order
        t = hwc.reshape(1, -1)
    if spec.flatten:
        t = t.reshape(1, -1)
    return np.ascontiguousarray(t)


def to_tensor(hwc: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Pixels already resized and in channel order → normalised, arranged, typed tensor."""
    if _is_identity(spec) and np.issubdtype(_NP_DTYPES[spec.dtype], np.integer):
        return cast(arrange(hwc, spec), spec.dtype)
    if spec.layout == "NCHW":
        t = normalise(hwc.transpose(2, 0, 1), spec, channel_axis=0)[None]
        return cast(t.reshape(1, -1) if spec.flatten else t, spec.dtype)
    return cast(arrange(normalise(hwc, spec), spec), spec.dtype)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Any 8-bit gray, BGR or BGRA image as 3-channel BGR (no copy when it already is)."""
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[0], image.shape[1]), cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    raise ModelShapeError(f"cannot use an image of shape {image.shape} as BGR")


def preprocess_image(image: np.ndarray, spec: PreprocessSpec) -> tuple[np.ndarray, Geometry]:
    """A BGR (or gray) image to the input tensor and the Geometry to map results back."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise ModelShapeError("an image must be an H x W or H x W x C array")
    resized, geometry = resize_image(image, spec)
    pixels = convert_channels(resized, spec.channel_order)
    return to_tensor(pixels, spec), geometry


def preprocess_array(data: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Non-image data (e.g. a telemetry window): scale/mean/std, flatten, add a batch axis.

    Mean and std apply along the last axis (one value per channel) or as one value.
    """
    x = np.asarray(data)
    if x.size == 0:
        raise ModelShapeError("input data is empty")
    if not np.issubdtype(x.dtype, np.number):
        raise ModelShapeError(f"input data must be numeric, got {x.dtype}")
    if not _is_identity(spec):
        x = normalise(x, spec)
    if spec.flatten:
        x = x.reshape(1, -1)
    elif spec.layout == "NC" and x.ndim == 1:
        x = x[None]
    return np.ascontiguousarray(cast(x, spec.dtype))
