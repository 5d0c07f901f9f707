"""The model description: what a model takes, how to feed it and how to read it.

This is the ``inputs / outputs / preprocess / head`` part of a bundle manifest
(DESIGN section 5). It is parsed strictly: unknown fields are refused, so a typo
in a description never silently changes what the model is fed.

A description is a JSON object (``model.json`` beside the ONNX files, or the
manifest inside a bundle)::

    {
      "spec": "edgeconsole.model/1",
      "name": "label-inspector", "version": 1,
      "model": "det.onnx",
      "inputs":  [{"name": "x", "dtype": "float32", "shape": [1, 3, -1, -1], "layout": "NCHW"}],
      "outputs": [{"name": "sigmoid_0.tmp_0", "dtype": "float32", "shape": [1, 1, -1, -1]}],
      "preprocess": {"resize": "letterbox", "size": [640, 640], ...},
      "head": {"type": "text-detect", ...},
      "latency_budget_ms": 80
    }
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconsole.core.errors import ConfigError
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded

if TYPE_CHECKING:
    from edgeconsole.inference.partspec import PerPartSpec

SPEC_ID = "edgeconsole.model/1"
MAX_DESCRIPTION_BYTES = 1 << 20

DTYPES = ("float32", "float16", "uint8", "int8", "int64", "int32")
RESIZE_MODES = ("stretch", "letterbox", "pad", "fit-height", "none")
CHANNEL_ORDERS = ("RGB", "BGR", "GRAY")
LAYOUTS = ("NCHW", "NHWC", "NC")
HEAD_TYPES = ("classify", "detect", "text-detect", "anomaly")
HEAD_FIELDS: dict[str, frozenset[str]] = {
    "classify": frozenset({"labels", "top_k", "threshold", "output", "softmax"}),
    "detect": frozenset({"labels", "threshold", "iou_threshold", "format", "output"}),
    "text-detect": frozenset(
        {
            "threshold",
            "box_threshold",
            "min_size",
            "unclip_ratio",
            "max_candidates",
            "orientation",
            "parts",
            "output",
        }
    ),
    "anomaly": frozenset({"threshold", "output", "score", "labels"}),
}


def _refuse_unknown(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown field(s) {', '.join(unknown)} in {where}",
            hint=f"allowed: {', '.join(sorted(allowed))}",
        )


def _require(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise ConfigError(f"missing field '{key}' in {where}")
    return obj[key]


def _as_float_list(value: Any, n: int | None, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int | float) for v in value):
        raise ConfigError(f"{where} must be a list of numbers")
    if n is not None and len(value) != n:
        raise ConfigError(f"{where} must have {n} values, has {len(value)}")
    return tuple(float(v) for v in value)


def _as_int(value: Any, where: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where} must be an integer")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where} must be at least {minimum}")
    return value


def _as_float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number")
    return float(value)


def _as_str(value: Any, where: str, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string")
    if choices is not None and value not in choices:
        raise ConfigError(f"{where} is '{value}'", hint=f"one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str
    shape: tuple[int, ...]  # -1 marks a dynamic dimension
    layout: str | None = None

    @classmethod
    def parse(cls, obj: Any, where: str) -> TensorSpec:
        if not isinstance(obj, dict):
            raise ConfigError(f"{where} must be an object")
        _refuse_unknown(obj, {"name", "dtype", "shape", "layout"}, where)
        shape = _require(obj, "shape", where)
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in shape
        ):
            raise ConfigError(f"{where}.shape must be a list of integers (-1 for dynamic)")
        layout = obj.get("layout")
        return cls(
            name=_as_str(_require(obj, "name", where), f"{where}.name"),
            dtype=_as_str(_require(obj, "dtype", where), f"{where}.dtype", DTYPES),
            shape=tuple(shape),
            layout=None if layout is None else _as_str(layout, f"{where}.layout", LAYOUTS),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}
        if self.layout is not None:
            out["layout"] = self.layout
        return out


@dataclass(frozen=True)
class PreprocessSpec:
    """How an image (or a vector) becomes the model's input tensor.

    ``resize``: ``stretch`` to ``size``; ``letterbox`` keeps aspect and pads
    (``pad_value``); ``pad`` keeps the scale when it fits and rounds each side up
    to a multiple of ``multiple_of`` (the PP-OCR detector wants multiples of 32);
    ``fit-height`` scales to ``size``'s height keeping the aspect, squeezes the
    width to ``size``'s width when wider, and pads on the right with ``pad_value``
    (what PP-OCR's text classifier and recogniser are trained on: 48 x 192);
    ``none`` feeds the input unchanged (vectors such as telemetry windows).
    Pixel math: ``x * scale``, then ``(x - mean) / std`` per channel.

    ``raw``: the model takes an image's pixels at their own size, on purpose. An
    image model with no resize is refused without it (inference/input_check.py):
    a description that forgot its preprocessing must not look like one that
    needs none.
    """

    resize: str = "none"
    size: tuple[int, int] | None = None  # height, width
    channel_order: str = "RGB"
    layout: str = "NCHW"
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    dtype: str = "float32"
    pad_value: int = 0
    multiple_of: int = 1
    max_side: int | None = None
    flatten: bool = False
    invert: bool = False
    raw: bool = False

    FIELDS = frozenset(
        {
            "raw",
            "resize",
            "size",
            "channel_order",
            "layout",
            "scale",
            "mean",
            "std",
            "dtype",
            "pad_value",
            "multiple_of",
            "max_side",
            "flatten",
            "invert",
        }
    )

    @classmethod
    def parse(cls, obj: Any, where: str = "preprocess") -> PreprocessSpec:
        if not isinstance(obj, dict):
            raise ConfigError(f"{where} must be an object")
        _refuse_unknown(obj, set(cls.FIELDS), where)
        channel_order = _as_str(
            obj.get("channel_order", "RGB"), f"{where}.channel_order", CHANNEL_ORDERS
        )
        channels = 1 if channel_order == "GRAY" else 3
        size = obj.get("size")
        parsed_size: tuple[int, int] | None = None
        if size is not None:
            if (
                not isinstance(size, list)
                or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
            ):
                raise ConfigError(f"{where}.size must be [height, width] of positive integers")
            parsed_size = (size[0], size[1])
        resize = _as_str(obj.get("resize", "none"), f"{where}.resize", RESIZE_MODES)
        if resize in ("stretch", "letterbox", "fit-height") and parsed_size is None:
            raise ConfigError(f"{where}.size is required for resize '{resize}'")
        mean = _as_float_list(obj.get("mean", [0.0] * channels), channels, f"{where}.mean")
        std = _as_float_list(obj.get("std", [1.0] * channels), channels, f"{where}.std")
        if any(s == 0 for s in std):
            raise ConfigError(f"{where}.std must not contain zero")
        max_side = obj.get("max_side")
        flatten = obj.get("flatten", False)
        invert = obj.get("invert", False)
        raw = obj.get("raw", False)
        if not all(isinstance(v, bool) for v in (flatten, invert, raw)):
            raise ConfigError(
                f"{where}.flatten, {where}.invert and {where}.raw must be true or false"
            )
        if raw and resize != "none":
            raise ConfigError(
                f"{where}.raw says the model takes images at their own size, but resize is "
                f"'{resize}'",
                hint="drop raw, or set resize to none",
            )
        return cls(
            resize=resize,
            size=parsed_size,
            channel_order=channel_order,
            layout=_as_str(obj.get("layout", "NCHW"), f"{where}.layout", LAYOUTS),
            scale=_as_float(obj.get("scale", 1.0 / 255.0), f"{where}.scale"),
            mean=mean,
            std=std,
            dtype=_as_str(obj.get("dtype", "float32"), f"{where}.dtype", DTYPES),
            pad_value=_as_int(obj.get("pad_value", 0), f"{where}.pad_value", 0),
            multiple_of=_as_int(obj.get("multiple_of", 1), f"{where}.multiple_of", 1),
            max_side=None if max_side is None else _as_int(max_side, f"{where}.max_side", 1),
            flatten=flatten,
            invert=invert,
            raw=raw,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "resize": self.resize,
            "channel_order": self.channel_order,
            "layout": self.layout,
            "scale": self.scale,
            "mean": list(self.mean),
            "std": list(self.std),
            "dtype": self.dtype,
            "pad_value": self.pad_value,
            "multiple_of": self.multiple_of,
            "flatten": self.flatten,
            "invert": self.invert,
        }
        if self.size is not None:
            out["size"] = list(self.size)
        if self.max_side is not None:
            out["max_side"] = self.max_side
        if self.raw:
            out["raw"] = True
        return out


@dataclass(frozen=True)
class HeadSpec:
    """How to read the outputs. ``params`` holds the head's own settings.

    classify:    labels, top_k, threshold, output (name; default first), softmax (bool)
    detect:      labels, threshold, iou_threshold, format ("xyxy_score_class"), output
    text-detect: threshold (pixel prob), box_threshold (mean prob), min_size, unclip_ratio,
                 max_candidates, orientation (a nested ModelSpec object, optional),
                 parts (object, optional: min_area, max_area, belt_threshold, edge_margin,
                 weak_score, min_text_height, max_text_fraction, label_contrast,
                 min_label_fraction; see inference/heads/parts.py)
    anomaly:     threshold, output, score ("value" | "mse"), labels
    """

    type: str
    labels: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    orientation: ModelSpec | None = None

    @classmethod
    def parse(cls, obj: Any, base_dir: Path | None, where: str = "head") -> HeadSpec:
        if not isinstance(obj, dict):
            raise ConfigError(f"{where} must be an object")
        kind = _as_str(_require(obj, "type", where), f"{where}.type", HEAD_TYPES)
        params = {k: v for k, v in obj.items() if k != "type"}
        _refuse_unknown(params, set(HEAD_FIELDS[kind]), f"{where} ({kind})")
        labels_raw = params.pop("labels", [])
        if not isinstance(labels_raw, list) or not all(isinstance(x, str) for x in labels_raw):
            raise ConfigError(f"{where}.labels must be a list of strings")
        if len({x.casefold() for x in labels_raw}) != len(labels_raw):
            raise ConfigError(f"{where}.labels has duplicates")
        for key in ("threshold", "box_threshold", "iou_threshold", "unclip_ratio"):
            if key in params:
                params[key] = _as_float(params[key], f"{where}.{key}")
        for key in ("top_k", "min_size", "max_candidates"):
            if key in params:
                params[key] = _as_int(params[key], f"{where}.{key}", 0)
        orientation = None
        if "orientation" in params:
            orientation = ModelSpec.parse(
                params.pop("orientation"), base_dir, where=f"{where}.orientation"
            )
            if orientation.head.type != "classify":
                raise ConfigError(f"{where}.orientation must have a classify head")
        if kind == "classify" and not labels_raw:
            raise ConfigError(f"{where}.labels is required for a classify head")
        if "parts" in params:
            # Checked here too (not only when the head is built) so that a bundle's
            # schema check refuses a bad parts stage before anything is installed.
            from edgeconsole.inference.heads.parts import PartsConfig

            PartsConfig.parse(params["parts"], f"{where}.parts")
        return cls(type=kind, labels=tuple(labels_raw), params=params, orientation=orientation)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, **self.params}
        if self.labels:
            out["labels"] = list(self.labels)
        if self.orientation is not None:
            out["orientation"] = self.orientation.to_json()
        return out


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: int
    model: str  # ONNX file name, relative to base_dir
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    preprocess: PreprocessSpec
    head: HeadSpec
    latency_budget_ms: float | None = None
    golden: dict[str, Any] | None = None
    description: str = ""
    base_dir: Path | None = field(default=None, compare=False)
    #: Locate parts, crop each one's region of interest, decide per crop (partspec.py).
    per_part: PerPartSpec | None = None

    FIELDS = frozenset(
        {
            "spec",
            "name",
            "version",
            "model",
            "inputs",
            "outputs",
            "preprocess",
            "head",
            "latency_budget_ms",
            "golden",
            "description",
            "per_part",
        }
    )

    @property
    def model_path(self) -> Path:
        base = self.base_dir if self.base_dir is not None else Path()
        return base / self.model

    @classmethod
    def parse(cls, obj: Any, base_dir: Path | None, where: str = "model description") -> ModelSpec:
        if not isinstance(obj, dict):
            raise ConfigError(f"{where} must be a JSON object")
        _refuse_unknown(obj, set(cls.FIELDS), where)
        spec = obj.get("spec", SPEC_ID)
        if spec != SPEC_ID:
            raise ConfigError(f"{where}: unsupported spec '{spec}'", hint=f"expected {SPEC_ID}")
        model = _as_str(_require(obj, "model", where), f"{where}.model")
        if "/" in model or "\\" in model or model in ("", ".", "..") or model.startswith("."):
            raise ConfigError(f"{where}.model must be a plain file name, got '{model}'")
        inputs = _require(obj, "inputs", where)
        outputs = _require(obj, "outputs", where)
        if not isinstance(inputs, list) or not inputs:
            raise ConfigError(f"{where}.inputs must be a non-empty list")
        if not isinstance(outputs, list) or not outputs:
            raise ConfigError(f"{where}.outputs must be a non-empty list")
        budget = obj.get("latency_budget_ms")
        golden = obj.get("golden")
        if golden is not None and not isinstance(golden, dict):
            raise ConfigError(f"{where}.golden must be an object")
        head = HeadSpec.parse(_require(obj, "head", where), base_dir, f"{where}.head")
        per_part = None
        if "per_part" in obj:
            # Imported here: partspec builds on this module's field helpers.
            from edgeconsole.inference.partspec import PerPartSpec

            per_part = PerPartSpec.parse(
                obj["per_part"], head.type, head.labels, f"{where}.per_part"
            )
        return cls(
            name=_as_str(_require(obj, "name", where), f"{where}.name"),
            version=_as_int(obj.get("version", 1), f"{where}.version", 0),
            model=model,
            inputs=tuple(TensorSpec.parse(t, f"{where}.inputs[{i}]") for i, t in enumerate(inputs)),
            outputs=tuple(
                TensorSpec.parse(t, f"{where}.outputs[{i}]") for i, t in enumerate(outputs)
            ),
            preprocess=PreprocessSpec.parse(obj.get("preprocess", {}), f"{where}.preprocess"),
            head=head,
            latency_budget_ms=None
            if budget is None
            else _as_float(budget, f"{where}.latency_budget_ms"),
            golden=golden,
            description=_as_str(obj.get("description", ""), f"{where}.description"),
            base_dir=base_dir,
            per_part=per_part,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "spec": SPEC_ID,
            "name": self.name,
            "version": self.version,
            "model": self.model,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "preprocess": self.preprocess.to_json(),
            "head": self.head.to_json(),
        }
        if self.latency_budget_ms is not None:
            out["latency_budget_ms"] = self.latency_budget_ms
        if self.golden is not None:
            out["golden"] = self.golden
        if self.description:
            out["description"] = self.description
        if self.per_part is not None:
            out["per_part"] = self.per_part.to_json(self.head.type)
        return out


def load_model_spec(path: str | Path) -> ModelSpec:
    """Read a ``model.json`` (or a directory holding one) with a size cap and strict parsing."""
    p = Path(path)
    if p.is_dir():
        p = p / "model.json"
    if not p.exists():
        raise ConfigError(
            "model description not found",
            subject=str(p),
            hint="give a model.json, a folder holding one, or an .onnx file",
        )
    if p.stat().st_size > MAX_DESCRIPTION_BYTES:
        raise ConfigError("model description is larger than 1 MiB", subject=str(p))
    try:
        obj = loads_bounded(
            p.read_bytes(), max_bytes=MAX_DESCRIPTION_BYTES, what="model description"
        )
    except JSONRefused as exc:
        raise ConfigError(exc.what, subject=str(p), hint=exc.hint) from exc
    try:
        return ModelSpec.parse(obj, p.parent)
    except ConfigError as exc:
        raise ConfigError(exc.what, subject=str(p), hint=exc.hint) from exc
