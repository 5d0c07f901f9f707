"""Does the preprocessing produce tensors the model accepts?

One answer for every place a model description is used: building a bundle,
flashing it, loading it for a run, commissioning it. A model fed tensors of the
wrong size can still answer (a classifier with dynamic height and width scores
a 45x162 crop as happily as a 48x192 one), so a mismatch is refused up front,
naming both shapes, never left to show up as a slightly worse accuracy.

Rules, for the model's first input:

- An *image model* (a 4-D input, or one laid out NCHW/NHWC) with no
  preprocessing (``resize`` "none") is refused unless the description says
  ``"raw": true``: the model then takes pixels as they come, and every image is
  checked against the model's size when it is fed.
- What the preprocessing produces (batch 1, channels from the channel order,
  height and width from ``size`` for stretch/letterbox/fit-height, or "each
  image's own size" for pad/none) must fit the input shape the description
  declares and the one the ONNX graph declares: same rank, same fixed sizes.
  A size that follows the image cannot fit a fixed model size.
- The element type must be the input's.

:func:`check_tensor` is the same check on one real tensor (the last line of
defence for raw input and dynamic models).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edgeconsole.core.errors import ModelShapeError
from edgeconsole.inference.spec import ModelSpec, PreprocessSpec

FIXED_RESIZES = ("stretch", "letterbox", "fit-height")
IMAGE_LAYOUTS = ("NCHW", "NHWC")

#: A dimension that follows the image (pad / none): unknown until an image is fed.
VARIES = -1


def channels(pre: PreprocessSpec) -> int:
    return 1 if pre.channel_order == "GRAY" else 3


def produced_shape(pre: PreprocessSpec) -> tuple[int, ...]:
    """The tensor shape preprocessing gives one image; ``VARIES`` where it follows it."""
    c = channels(pre)
    if pre.resize in FIXED_RESIZES and pre.size is not None:
        h, w = pre.size
    else:
        h = w = VARIES
    if pre.flatten or pre.layout == "NC":
        return (1, h * w * c if h > 0 else VARIES)
    return (1, c, h, w) if pre.layout == "NCHW" else (1, h, w, c)


def is_image_model(spec: ModelSpec) -> bool:
    """Whether the model takes pictures (so it needs image preprocessing)."""
    t = spec.inputs[0]
    return len(t.shape) == 4 or t.layout in IMAGE_LAYOUTS


def fmt_shape(shape: Sequence[int]) -> str:
    """``1x3x48x192``; a dimension that follows the image or is dynamic shows as ``?``."""
    return "x".join("?" if d < 0 else str(d) for d in shape)


def describe_preprocess(pre: PreprocessSpec) -> str:
    """One line a technician reads: what happens to an image before the model sees it."""
    size = f"{pre.size[0]}x{pre.size[1]}" if pre.size is not None else "?"
    limit = pre.max_side if pre.max_side is not None else (max(pre.size) if pre.size else None)
    if pre.resize == "stretch":
        resize = f"stretch to {size}"
    elif pre.resize == "letterbox":
        resize = f"letterbox into {size} (aspect kept, padded with {pre.pad_value})"
    elif pre.resize == "fit-height":
        resize = f"fit the height, pad right to {size} (with {pre.pad_value})"
    elif pre.resize == "pad":
        resize = "keep each image's size"
        if limit is not None:
            resize += f" (longer side at most {limit} px)"
        if pre.multiple_of > 1:
            resize += f", padded to multiples of {pre.multiple_of}"
    else:
        resize = "raw pixels at their own size" if pre.raw else "no resize"
    parts = [resize, pre.channel_order]
    if pre.invert:
        parts.append("inverted")
    math: list[str] = []
    if pre.scale != 1.0:
        math.append(f"x{pre.scale:.6g}")
    if any(m != 0.0 for m in pre.mean) or any(s != 1.0 for s in pre.std):
        mean = ",".join(f"{m:g}" for m in pre.mean)
        std = ",".join(f"{s:g}" for s in pre.std)
        math.append(f"-mean({mean}) /std({std})")
    if math:
        parts.append(" ".join(math))
    layout = pre.layout + (" flattened" if pre.flatten else "")
    parts.append(f"{layout} {pre.dtype}")
    return ", ".join(parts)


def _dims_problem(
    produced: Sequence[int], wanted: Sequence[int], what: str, pre: PreprocessSpec
) -> str | None:
    got = fmt_shape(produced)
    want = fmt_shape(wanted)
    if len(produced) != len(wanted):
        return (
            f"preprocessing produces a {len(produced)}-D tensor {got}, but the {what} takes "
            f"a {len(wanted)}-D input {want}"
        )
    follows = [i for i, (p, w) in enumerate(zip(produced, wanted, strict=True)) if p < 0 <= w]
    if follows and not pre.raw:  # raw: the images are said to have the size; each is checked
        how = (
            "keeps each image's own size"
            if pre.resize == "pad"
            else "feeds each image at its own size"
        )
        return (
            f"preprocessing (resize '{pre.resize}') {how}, so its tensors ({got}) take each "
            f"image's height and width, but the {what} takes {want}: use resize 'stretch', "
            "'letterbox' or 'fit-height' with the model's size"
        )
    for p, w in zip(produced, wanted, strict=True):
        if p >= 0 and w >= 0 and p != w:
            return f"preprocessing produces {got} tensors, but the {what} takes {want}"
    return None


@dataclass(frozen=True)
class InputFit:
    """What the preprocessing makes of an image, against what the model takes."""

    text: str  # describe_preprocess
    produces: str  # e.g. 1x3x48x192
    model_input: str  # what the description (and graph) declare
    problems: tuple[str, ...]

    @property
    def fits(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "produces": self.produces,
            "model_input": self.model_input,
            "fits": self.fits,
            "problems": list(self.problems),
        }


def input_fit(
    spec: ModelSpec,
    model_dims: Sequence[int] | None = None,
    *,
    crops: bool = False,
    images: bool = False,
) -> InputFit:
    """Check ``spec``'s preprocessing against its declared input and the graph's
    (``model_dims``, -1 for dynamic). ``crops``: the spec is a head's helper model fed
    crops the head warps straight to ``size`` (the orientation classifier). ``images``:
    the data will be images whatever the model's rank (a commissioning set), so a
    vector-shaped model fed pictures gets the image rules too."""
    pre = spec.preprocess
    t = spec.inputs[0]
    text = describe_preprocess(pre)
    problems: list[str] = []
    image = images or is_image_model(spec) or pre.resize != "none" or pre.size is not None
    if crops:
        if pre.size is None:
            problems.append("a helper model fed crops needs preprocess.size [height, width]")
            produced: tuple[int, ...] = (1,)
        else:
            h, w = pre.size
            c = channels(pre)
            produced = (1, c, h, w) if pre.layout == "NCHW" else (1, h, w, c)
    else:
        produced = produced_shape(pre)
    declared = f"{fmt_shape(t.shape)} ({t.name}, {t.dtype})"
    if not image:
        # Vector data (telemetry windows): shaped by its source, checked when fed.
        return InputFit(text, "(vector data)", declared, ())
    if pre.resize == "none" and not pre.raw and not crops:
        problems.append(
            f"image model with no preprocessing: images would reach the model at their own "
            f"size and pixel values, but it takes {fmt_shape(t.shape)}; describe the "
            'preprocessing (resize, size, channel order, scale, mean, std), or say "raw": true '
            "in preprocess if the model really takes raw pixels"
        )
    else:
        for what, wanted in (("model description", t.shape), ("ONNX model", model_dims)):
            if wanted is None:
                continue
            problem = _dims_problem(produced, wanted, what, pre)
            if problem is not None:
                problems.append(problem)
                break
    if pre.dtype != t.dtype:
        problems.append(f"preprocessing produces {pre.dtype}, but the model takes {t.dtype}")
    shown = fmt_shape(produced)
    if any(d < 0 for d in produced) and not crops:
        shown += " (follows each image)"
    return InputFit(text, shown, declared, tuple(problems))


def check_input_fit(
    spec: ModelSpec,
    model_dims: Sequence[int] | None = None,
    *,
    subject: str | None = None,
    images: bool = False,
) -> InputFit:
    """:func:`input_fit` for the model and its helper models; the first problem raises."""
    fit = input_fit(spec, model_dims, images=images)
    checks = [(spec, fit)]
    if spec.head.orientation is not None:
        checks.append((spec.head.orientation, input_fit(spec.head.orientation, crops=True)))
    for s, f in checks:
        if f.problems:
            raise ModelShapeError(
                f.problems[0],
                subject=subject or s.name,
                hint=f"preprocessing: {f.text}; the model takes {f.model_input}",
            )
    return fit


def check_tensor(
    spec: ModelSpec,
    shape: Sequence[int],
    model_dims: Sequence[int] | None = None,
    *,
    subject: str | None = None,
) -> None:
    """Refuse one real tensor (after preprocessing) that the model does not take."""
    t = spec.inputs[0]
    for what, wanted in (("model description", t.shape), ("ONNX model", model_dims)):
        if wanted is None:
            continue
        ok = len(wanted) == len(shape) and all(
            w < 0 or w == n for w, n in zip(wanted, shape, strict=True)
        )
        if not ok:
            raise ModelShapeError(
                f"preprocessing produced a {fmt_shape(shape)} tensor, but the {what} takes "
                f"{fmt_shape(wanted)}",
                subject=subject or spec.name,
                hint=f"preprocessing: {describe_preprocess(spec.preprocess)}",
            )
