"""The ``per_part`` section of a model description: locate parts, crop, decide per crop.

A QC line is judged per physical part (DESIGN section 10). A description with a
``per_part`` section is run that way: a cheap classical locator finds the parts on
the whole frame, a region of interest (ROI) is cut from each part (its label, a
fixed share of it, or the whole part), and the model runs on all the crops as one
batch. Parsed strictly like the rest of the description: unknown fields are refused::

    "per_part": {
      "locate": {"method": "threshold", "polarity": "bright", "threshold": 140,
                 "min_area": 4000, "max_area": 200000, "edge_margin": 1, "downscale": 4},
      "roi": {"method": "label", "margin": 0.06, "contrast": 20,
              "if_missing": "verdict", "missing_verdict": "missing label"},
      "verdicts": {"0": "ok", "180": "rotated 180"}, "pass": ["ok"],
      "uncertain": "unreadable", "max_batch": 32
    }

``locate``: parts are blobs brighter (``polarity`` bright) or darker than
``threshold`` (gray level) on a ``downscale``-times smaller copy of the frame, with
an area of ``min_area``..``max_area`` source pixels; parts closer than
``edge_margin`` pixels to the frame edge are not ``complete``.

``roi``: ``part`` is the part's box; ``box`` is ``box`` = [x0, y0, x1, y1] as
fractions of the part's box; ``label`` finds the label (a bright paper rectangle
at least ``contrast`` gray levels brighter than the part around it, covering
``min_fraction``..``max_fraction`` of the part) inside ``box``. ``margin`` grows
the ROI by that share of its height on every side. When no clean label is found,
``if_missing`` ``part`` looks at the whole part instead; ``verdict`` decides
without a model: ``unreadable_verdict`` when the part still shows a label's
structure (print, paper edges, grime: at least ``presence_fraction`` of the part
deviates ``presence_contrast`` gray levels from its smooth body), else
``missing_verdict``. ``min_sharpness`` (mean absolute Laplacian of the ROI, gray
levels): a blurrier ROI gives ``unreadable_verdict`` without running a model.
``split`` ``lines`` (classify heads) cuts the ROI into its printed text lines (dark
ink on paper, up to ``max_lines``, widest first) and feeds each line as its own crop:
a text classifier such as PP-OCR's orientation model reads one line at a time. A
part's class probabilities are then the normalised product of its lines' (each
line is independent evidence; see ``part_judges.combine``); an ROI without a text
line gives ``unreadable_verdict``.

Classify heads map each class label to a verdict (``verdicts``, default: the label
itself); a verdict in ``pass`` passes; a top score under ``head.threshold`` gives
``uncertain``. Text-detect heads decide from the text found on the crop (see
``inference/heads/parts.py``), so those three fields do not apply to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeconsole.core.errors import ConfigError
from edgeconsole.inference.spec import _as_float, _as_int, _as_str, _refuse_unknown

LOCATE_METHODS = ("threshold",)
POLARITIES = ("bright", "dark")
ROI_METHODS = ("part", "box", "label")
SPLITS = ("none", "lines")
MAX_LINES = 16
IF_MISSING = ("part", "verdict")
#: Heads that can decide a part from its crop.
PER_PART_HEADS = ("classify", "text-detect")
MAX_BATCH = 256


def _fraction(value: Any, where: str) -> float:
    v = _as_float(value, where)
    if not 0.0 <= v <= 1.0:
        raise ConfigError(f"{where} must be between 0 and 1, got {v:g}")
    return v


def _verdict(value: Any, where: str) -> str:
    v = _as_str(value, where)
    if not v.strip() or len(v) > 64:
        raise ConfigError(f"{where} must be a verdict of 1 to 64 characters")
    return v


@dataclass(frozen=True)
class LocateSpec:
    method: str = "threshold"
    polarity: str = "bright"
    threshold: int = 140
    min_area: float = 2000.0
    max_area: float = 400000.0
    edge_margin: int = 4
    downscale: int = 4
    max_parts: int = 64

    FIELDS = frozenset(
        {
            "method",
            "polarity",
            "threshold",
            "min_area",
            "max_area",
            "edge_margin",
            "downscale",
            "max_parts",
        }
    )

    @classmethod
    def parse(cls, obj: Any, where: str) -> LocateSpec:
        if not isinstance(obj, dict):
            raise ConfigError(f"{where} must be an object")
        _refuse_unknown(obj, set(cls.FIELDS), where)
        d = cls()
        spec = cls(
            method=_as_str(obj.get("method", d.method), f"{where}.method", LOCATE_METHODS),
            polarity=_as_str(obj.get("polarity", d.polarity), f"{where}.polarity", POLARITIES),
            threshold=_as_int(obj.get("threshold", d.threshold), f"{where}.threshold", 0),
            min_area=_as_float(obj.get("min_area", d.min_area), f"{where}.min_area"),
            max_area=_as_float(obj.get("max_area", d.max_area), f"{where}.max_area"),
            edge_margin=_as_int(obj.get("edge_margin", d.edge_margin), f"{where}.edge_margin", 0),
            downscale=_as_int(obj.get("downscale", d.downscale), f"{where}.downscale", 1),
            max_parts=_as_int(obj.get("max_parts", d.max_parts), f"{where}.max_parts", 1),
        )
        if spec.threshold > 255:
            raise ConfigError(f"{where}.threshold must be a gray level 0..255")
        if spec.min_area < 1 or spec.max_area <= spec.min_area:
            raise ConfigError(
                f"{where}: min_area must be at least 1 and max_area larger than min_area"
            )
        if spec.downscale > 16:
            raise ConfigError(f"{where}.downscale must be 1..16")
        if spec.max_parts > 1024:
            raise ConfigError(f"{where}.max_parts must be 1..1024")
        return spec

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in sorted(self.FIELDS)}


@dataclass(frozen=True)
class RoiSpec:
    method: str = "part"
    box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    margin: float = 0.0
    contrast: float = 20.0
    min_fraction: float = 0.08
    max_fraction: float = 0.9
    if_missing: str = "part"
    missing_verdict: str = "missing label"
    min_sharpness: float | None = None
    unreadable_verdict: str = "unreadable"
    presence_contrast: float = 25.0
    presence_fraction: float = 0.03
    split: str = "none"
    max_lines: int = 2

    FIELDS = frozenset(
        {
            "method",
            "box",
            "margin",
            "contrast",
            "min_fraction",
            "max_fraction",
            "if_missing",
            "missing_verdict",
            "min_sharpness",
            "unreadable_verdict",
            "presence_contrast",
            "presence_fraction",
            "split",
            "max_lines",
        }
    )

    @classmethod
    def parse(cls, obj: Any, where: str) -> RoiSpec:
        if not isinstance(obj, dict):
            raise ConfigError(f"{where} must be an object")
        _refuse_unknown(obj, set(cls.FIELDS), where)
        d = cls()
        box_raw = obj.get("box", list(d.box))
        if not isinstance(box_raw, list) or len(box_raw) != 4:
            raise ConfigError(f"{where}.box must be [x0, y0, x1, y1] as fractions of the part")
        box = tuple(_fraction(v, f"{where}.box[{i}]") for i, v in enumerate(box_raw))
        if box[2] <= box[0] or box[3] <= box[1]:
            raise ConfigError(f"{where}.box must have x1 > x0 and y1 > y0")
        sharp = obj.get("min_sharpness")
        spec = cls(
            method=_as_str(obj.get("method", d.method), f"{where}.method", ROI_METHODS),
            box=(box[0], box[1], box[2], box[3]),
            margin=_fraction(obj.get("margin", d.margin), f"{where}.margin"),
            contrast=_as_float(obj.get("contrast", d.contrast), f"{where}.contrast"),
            min_fraction=_fraction(
                obj.get("min_fraction", d.min_fraction), f"{where}.min_fraction"
            ),
            max_fraction=_fraction(
                obj.get("max_fraction", d.max_fraction), f"{where}.max_fraction"
            ),
            if_missing=_as_str(
                obj.get("if_missing", d.if_missing), f"{where}.if_missing", IF_MISSING
            ),
            missing_verdict=_verdict(
                obj.get("missing_verdict", d.missing_verdict), f"{where}.missing_verdict"
            ),
            min_sharpness=None if sharp is None else _as_float(sharp, f"{where}.min_sharpness"),
            unreadable_verdict=_verdict(
                obj.get("unreadable_verdict", d.unreadable_verdict), f"{where}.unreadable_verdict"
            ),
            presence_contrast=_as_float(
                obj.get("presence_contrast", d.presence_contrast), f"{where}.presence_contrast"
            ),
            presence_fraction=_fraction(
                obj.get("presence_fraction", d.presence_fraction), f"{where}.presence_fraction"
            ),
            split=_as_str(obj.get("split", d.split), f"{where}.split", SPLITS),
            max_lines=_as_int(obj.get("max_lines", d.max_lines), f"{where}.max_lines", 1),
        )
        if spec.max_lines > MAX_LINES:
            raise ConfigError(f"{where}.max_lines must be 1..{MAX_LINES}")
        for name in ("contrast", "presence_contrast"):
            if not 0.0 < getattr(spec, name) <= 255.0:
                raise ConfigError(f"{where}.{name} must be a gray-level difference 1..255")
        if spec.max_fraction <= spec.min_fraction:
            raise ConfigError(f"{where}.max_fraction must be larger than min_fraction")
        if spec.min_sharpness is not None and spec.min_sharpness < 0:
            raise ConfigError(f"{where}.min_sharpness must not be negative")
        return spec

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in sorted(self.FIELDS)}
        out["box"] = list(self.box)
        if self.min_sharpness is None:
            del out["min_sharpness"]
        return out


@dataclass(frozen=True)
class PerPartSpec:
    locate: LocateSpec = field(default_factory=LocateSpec)
    roi: RoiSpec = field(default_factory=RoiSpec)
    verdicts: dict[str, str] = field(default_factory=dict)
    passing: tuple[str, ...] = ("ok",)
    uncertain: str = "unreadable"
    max_batch: int = 32

    FIELDS = frozenset({"locate", "roi", "verdicts", "pass", "uncertain", "max_batch"})
    #: Fields that only mean something for a classify head.
    CLASSIFY_ONLY = frozenset({"verdicts", "pass", "uncertain"})

    @classmethod
    def parse(
        cls, obj: Any, head_type: str, labels: tuple[str, ...], where: str = "per_part"
    ) -> PerPartSpec:
        if not isinstance(obj, dict):
            raise ConfigError(f"{where} must be an object")
        _refuse_unknown(obj, set(cls.FIELDS), where)
        if head_type not in PER_PART_HEADS:
            raise ConfigError(
                f"{where} needs a head that decides a crop; this head is '{head_type}'",
                hint=f"use one of: {', '.join(PER_PART_HEADS)}",
            )
        if head_type != "classify":
            roi = obj.get("roi")
            if isinstance(roi, dict) and roi.get("split", "none") != "none":
                raise ConfigError(
                    f"{where}.roi.split only applies to a classify head",
                    hint=f"a {head_type} head looks at the whole region",
                )
            extra = sorted(cls.CLASSIFY_ONLY & set(obj))
            if extra:
                raise ConfigError(
                    f"{where}: {', '.join(extra)} only apply to a classify head",
                    hint=f"a {head_type} head gives its own verdicts",
                )
        raw = obj.get("verdicts", {})
        if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
            raise ConfigError(f"{where}.verdicts must map class labels to verdicts")
        verdicts = {k: _verdict(v, f"{where}.verdicts.{k}") for k, v in raw.items()}
        unknown = sorted(set(verdicts) - set(labels))
        if unknown:
            raise ConfigError(
                f"{where}.verdicts names class(es) the head does not have: {', '.join(unknown)}",
                hint=f"head labels: {', '.join(labels)}",
            )
        passing_raw = obj.get("pass", ["ok"])
        if not isinstance(passing_raw, list) or not passing_raw:
            raise ConfigError(f"{where}.pass must be a non-empty list of verdicts")
        passing = tuple(_verdict(v, f"{where}.pass[{i}]") for i, v in enumerate(passing_raw))
        spec = cls(
            locate=LocateSpec.parse(obj.get("locate", {}), f"{where}.locate"),
            roi=RoiSpec.parse(obj.get("roi", {}), f"{where}.roi"),
            verdicts=verdicts,
            passing=passing,
            uncertain=_verdict(obj.get("uncertain", "unreadable"), f"{where}.uncertain"),
            max_batch=_as_int(obj.get("max_batch", 32), f"{where}.max_batch", 1),
        )
        if spec.max_batch > MAX_BATCH:
            raise ConfigError(f"{where}.max_batch must be 1..{MAX_BATCH}")
        if head_type == "classify":
            reachable = {spec.verdict_for(label) for label in labels}
            if not reachable & set(passing):
                raise ConfigError(
                    f"{where}.pass names no verdict any class can give: no part could pass",
                    hint=f"verdicts: {', '.join(sorted(reachable))}",
                )
        return spec

    def verdict_for(self, label: str) -> str:
        return self.verdicts.get(label, label)

    def to_json(self, head_type: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "locate": self.locate.to_json(),
            "roi": self.roi.to_json(),
            "max_batch": self.max_batch,
        }
        if head_type == "classify":
            out["verdicts"] = dict(self.verdicts)
            out["pass"] = list(self.passing)
            out["uncertain"] = self.uncertain
        return out
