"""The validation run: every sample through the target (and the local shadow), then figures.

``ValidationJob.prepare()`` does everything that can refuse the run before the
first inference: the dataset is read, the bundle verified, the dataset's classes
checked against what the model can output, the target and the shadow opened.
``run()`` then goes sample by sample. An unreadable image is counted and listed,
never fatal. If the target fails mid-run (gateway gone, link dropped, model
error), the run stops there and the result is marked PARTIAL with the reason:
the figures cover only what was measured, and the report says so on top.

Thread use: ``start()`` runs ``run()`` on a worker thread; ``snapshot()`` may be
called from any thread (the window polls it); ``cancel()`` stops after the
current sample.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgeconsole import __version__
from edgeconsole.commission import metrics as mx
from edgeconsole.commission.background import ValidationRun
from edgeconsole.commission.classes import ClassMapper, mapper_for
from edgeconsole.commission.dataset import Dataset, Sample, load_dataset
from edgeconsole.commission.model_ref import ModelRef, open_model_ref
from edgeconsole.commission.runners import SampleRunner, open_runner, target_kind
from edgeconsole.core.errors import ConfigError, EdgeConsoleError, ModelShapeError
from edgeconsole.core.frames import InferenceResult, LatencySample
from edgeconsole.inference.input_check import InputFit, check_input_fit

#: Stages a runner may stamp beyond core.frames.STAGES: ``transfer`` is the link
#: time of a device that reports its own inference time (round trip minus it).
EXTRA_STAGES: tuple[str, ...] = ("transfer",)
MAX_IMAGE_BYTES = 32 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
#: Default fewest samples of a class whose recall may pass: with 10, one miss is 90 %
#: (the default recall limit); with 4, one class once passed on luck.
MIN_SAMPLES_PER_CLASS = 10


@dataclass
class ValidationRequest:
    target: str
    model: str | Path
    dataset: str | Path
    trust_dir: str | Path | None = None
    budget_ms: float | None = None  # None: the bundle's latency_budget_ms
    line_rate: float | None = None  # parts per minute
    min_accuracy: float = 0.95
    min_recall: float = 0.90
    min_agreement: float = 0.99
    #: A class's recall can pass only over at least this many samples of it.
    min_samples: int = MIN_SAMPLES_PER_CLASS
    shadow: bool | None = None  # None: shadow unless the target is itself local://
    shadow_model: str | Path | None = None  # reference model for the shadow (default: same)
    threads: int | None = None
    token_file: str | Path | None = None
    worst: int = 6

    def check(self) -> None:
        for name, v in (("budget-ms", self.budget_ms), ("line-rate", self.line_rate)):
            if v is not None and not (v > 0 and np.isfinite(v)):
                raise ConfigError(f"--{name} must be a positive number, got {v}")
        for name, v in (
            ("min-accuracy", self.min_accuracy),
            ("min-recall", self.min_recall),
            ("min-agreement", self.min_agreement),
        ):
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"--{name} must be between 0 and 1, got {v}")
        if isinstance(self.min_samples, bool) or not isinstance(self.min_samples, int):
            raise ConfigError("--min-samples-per-class must be a whole number")
        if not 1 <= self.min_samples <= 100_000:
            raise ConfigError(f"--min-samples-per-class must be 1 or more, got {self.min_samples}")


@dataclass
class ValidationResult:
    """Everything the report shows; ``to_json()`` is what gets signed."""

    request: ValidationRequest
    dataset: Dataset
    model: ModelRef
    target_identity: dict[str, Any]
    shadow_identity: dict[str, Any] | None
    classes: list[str]
    records: list[mx.SampleRecord]
    results: dict[int, InferenceResult]
    started: datetime
    finished: datetime
    wall_s: float
    partial: bool
    partial_reason: str
    budget_ms: float | None
    #: What the preprocessing makes of an image, against what the model takes.
    preprocessing: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.data.get("verdict") == "PASS")


def decode_image(path: Path) -> np.ndarray:
    """BGR image or a ConfigError saying why not (counted as unreadable by the run)."""
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise ConfigError(f"image file is {size} bytes (limit {MAX_IMAGE_BYTES})")
        raw = np.fromfile(str(path), dtype=np.uint8)
    except FileNotFoundError:
        raise ConfigError("file not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}") from exc
    if raw.size == 0:
        raise ConfigError("empty file")
    img = cv2.imdecode(raw, cv2.IMREAD_COLOR)
    if img is None:
        raise ConfigError("not a decodable image (truncated or not an image)")
    if img.shape[0] * img.shape[1] > MAX_IMAGE_PIXELS:
        raise ConfigError(f"image is {img.shape[1]}x{img.shape[0]} pixels (too large)")
    return img


class ValidationJob(ValidationRun):
    def __init__(
        self,
        request: ValidationRequest,
        on_sample: Callable[[mx.SampleRecord, int, int], None] | None = None,
    ) -> None:
        """``on_sample(record, done, total)`` is called on the run's thread after each
        sample (CLI progress; tests use it to pull a target's plug at a known point)."""
        super().__init__(request)
        self.req: ValidationRequest = request
        self._on_sample = on_sample
        self.dataset: Dataset | None = None
        self.mapper: ClassMapper | None = None
        self.runner: SampleRunner | None = None
        self.shadow: SampleRunner | None = None
        self.records: list[mx.SampleRecord] = []
        self.results: dict[int, InferenceResult] = {}
        self.result: ValidationResult | None = None
        self._identity: dict[str, Any] = {}
        self._shadow_identity: dict[str, Any] | None = None
        self._fit: InputFit | None = None

    # ---------------------------------------------------------------- set-up
    def prepare(self) -> None:
        """Everything that can refuse the run, before the first sample."""
        if self._prepared:
            return
        self.state = "preparing"
        req = self.req
        kind = target_kind(req.target)
        self.dataset = load_dataset(req.dataset)
        self.model = open_model_ref(req.model, req.trust_dir)
        # Refused before the first sample: preprocessing that does not produce what the
        # model takes, or an image model without preprocessing (unless declared raw).
        self._fit = check_input_fit(
            self.model.spec, self.model.graph_input_dims(), subject=str(req.model), images=True
        )
        self.mapper = mapper_for(self.model.spec, self.dataset.verdict_map)
        self.mapper.check_labels(self.dataset.classes, str(self.dataset.root))
        self.runner = open_runner(
            req.target, self.model, threads=req.threads, token_file=req.token_file
        )
        try:
            want_shadow = req.shadow if req.shadow is not None else kind != "local"
            if req.shadow_model is not None:
                want_shadow = True
            if want_shadow:
                ref = (
                    open_model_ref(req.shadow_model, req.trust_dir)
                    if req.shadow_model is not None
                    else self.model
                )
                self.shadow = open_runner("local://", ref, threads=req.threads)
            # Asked now: after a mid-run failure the target may no longer answer.
            self._identity = self.runner.identity()
            self._shadow_identity = self.shadow.identity() if self.shadow is not None else None
        except BaseException:
            self.runner.close()
            if self.shadow is not None:
                self.shadow.close()
            raise
        self._prepared = True

    # ---------------------------------------------------------------- running
    def run(self) -> ValidationResult:
        self.prepare()
        assert self.dataset is not None and self.model is not None
        assert self.mapper is not None and self.runner is not None
        self.state = "running"
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        partial_reason = ""
        first_done = False
        try:
            for i, sample in enumerate(self.dataset.samples):
                if self._cancel.is_set():
                    partial_reason = "cancelled by the person"
                    break
                rec = mx.SampleRecord(i, sample.rel, sample.label)
                try:
                    image = decode_image(sample.path)
                except ConfigError as exc:
                    rec.error = exc.what
                    self._add(rec)
                    continue
                try:
                    result, stamps = self.runner.run(image, i)
                except ModelShapeError as exc:
                    # This image cannot be fed (raw input of another size): counted and
                    # shown like an unreadable one, and the run cannot pass.
                    rec.error = exc.what
                    self._add(rec)
                    continue
                except EdgeConsoleError as exc:
                    partial_reason = f"target failed at sample {i + 1} ({sample.rel}): {exc}"
                    break
                except OSError as exc:
                    partial_reason = f"target failed at sample {i + 1} ({sample.rel}): {exc}"
                    break
                self._fill(rec, result, stamps, first=not first_done)
                first_done = True
                if self.shadow is not None:
                    self._run_shadow(rec, image, i, sample)
                self._add(rec, result)
        finally:
            self.runner.close()
            if self.shadow is not None:
                self.shadow.close()
        wall = time.perf_counter() - t0
        done = len(self.records)
        partial = bool(partial_reason) or done < len(self.dataset.samples)
        if partial and not partial_reason:
            partial_reason = f"only {done} of {len(self.dataset.samples)} samples ran"
        res = ValidationResult(
            request=self.req,
            dataset=self.dataset,
            model=self.model,
            target_identity=self._identity,
            shadow_identity=self._shadow_identity,
            classes=list(self.mapper.classes),
            records=list(self.records),
            results=dict(self.results),
            started=started,
            finished=datetime.now(UTC),
            wall_s=wall,
            partial=partial,
            partial_reason=partial_reason,
            budget_ms=self.budget_ms,
            preprocessing=self._fit.to_json() if self._fit is not None else {},
        )
        res.data = summarize(res)
        self.result = res
        self.state = "done"
        return res

    def _fill(
        self,
        rec: mx.SampleRecord,
        result: InferenceResult,
        stamps: dict[str, int],
        *,
        first: bool,
    ) -> None:
        assert self.mapper is not None
        rec.predicted, rec.score = self.mapper.predict(result)
        st = dict(stamps)
        st["captured"] = st.get("preprocess_start", 0)
        sample = LatencySample.from_stamps(rec.index, st, first=first)
        rec.e2e_ms = sample.e2e_ms
        rec.stages_ms = {k: v for k, v in sample.stages.items() if k != "capture"}
        for name in EXTRA_STAGES:
            a, b = st.get(f"{name}_start"), st.get(f"{name}_end")
            if a is not None and b is not None:
                rec.stages_ms[name] = (b - a) / 1e6
        rec.first = first

    def _run_shadow(self, rec: mx.SampleRecord, image: np.ndarray, i: int, sample: Sample) -> None:
        assert self.shadow is not None and self.mapper is not None
        try:
            sresult, _ = self.shadow.run(image, i)
        except EdgeConsoleError as exc:
            rec.shadow = f"(error: {exc.what})"
            return
        rec.shadow, rec.shadow_score = self.mapper.predict(sresult)

    def _add(self, rec: mx.SampleRecord, result: InferenceResult | None = None) -> None:
        with self._lock:
            self.records.append(rec)
            if result is not None:
                self.results[rec.index] = result
            done = len(self.records)
        if self._on_sample is not None:
            total = len(self.dataset.samples) if self.dataset is not None else done
            self._on_sample(rec, done, total)

    # ---------------------------------------------------------------- live view
    def snapshot(self) -> dict[str, Any]:
        """Progress, running confusion matrix and latency histogram (any thread)."""
        with self._lock:
            records = list(self.records)
        total = len(self.dataset.samples) if self.dataset is not None else 0
        classes = list(self.mapper.classes) if self.mapper is not None else []
        rows, cols, m = mx.confusion(records, classes)
        edges, counts = mx.histogram(records, self.budget_ms)
        scored = [r for r in records if r.predicted is not None]
        return {
            "state": self.state,
            "error": self.error,
            "done": len(records),
            "total": total,
            "unreadable": sum(1 for r in records if r.predicted is None),
            "correct": sum(1 for r in scored if r.correct),
            "scored": len(scored),
            "confusion": {"rows": rows, "cols": cols, "matrix": m},
            "histogram": {"edges": edges, "counts": counts},
            "budget_ms": self.budget_ms,
            "line_rate": self.req.line_rate,
        }


def _extra_stage_latency(lat: dict[str, Any], records: list[mx.SampleRecord]) -> None:
    """Add EXTRA_STAGES to ``lat["stages"]`` (same percentiles), ``transfer`` before ``infer``."""
    from dataclasses import replace

    stages = lat.get("stages")
    if not stages:
        return
    for name in EXTRA_STAGES:
        proxy = [replace(r, e2e_ms=r.stages_ms[name]) for r in records if name in r.stages_ms]
        series = mx.latency(proxy).get("e2e") if proxy else None
        if series is None:
            continue
        ordered: dict[str, Any] = {}
        for k, v in stages.items():
            if k == "infer":
                ordered[name] = series
            ordered[k] = v
        ordered.setdefault(name, series)
        stages = ordered
    lat["stages"] = stages


def summarize(res: ValidationResult) -> dict[str, Any]:
    """All figures, criteria and verdict of a run (the JSON the report signs)."""
    req = res.request
    records = res.records
    scored = [r for r in records if r.predicted is not None]
    unreadable = [r for r in records if r.predicted is None]
    rows, cols, m = mx.confusion(scored, res.classes)
    pc = mx.per_class(rows, cols, m)
    accuracy = sum(1 for r in scored if r.correct) / len(scored) if scored else None
    lat = mx.latency(scored)
    _extra_stage_latency(lat, scored)
    budget = res.budget_ms
    criteria: list[mx.Criterion] = []
    if accuracy is None:
        criteria.append(
            mx.Criterion("accuracy", False, "no scored samples", f">= {req.min_accuracy:.1%}", "-")
        )
    else:
        criteria.append(
            mx.Criterion(
                "accuracy",
                accuracy >= req.min_accuracy,
                f"{accuracy:.1%} ({sum(1 for r in scored if r.correct)}/{len(scored)})",
                f">= {req.min_accuracy:.1%}",
                f"{(accuracy - req.min_accuracy) * 100:+.1f} pts",
            )
        )
    present = {c: v for c, v in pc.items() if v["support"]}
    recalls = {c: float(v["recall"] or 0.0) for c, v in present.items()}
    short = mx.judge_classes(pc, req.min_recall, req.min_samples)
    if recalls:
        worst_c = min(recalls, key=lambda c: recalls[c])
        note = ""
        if short:
            note = "not enough samples: " + ", ".join(
                f"{c} ({pc[c]['support']} of {req.min_samples} needed)" for c in short
            )
        criteria.append(
            mx.Criterion(
                "recall, every class",
                recalls[worst_c] >= req.min_recall and not short,
                f"lowest {recalls[worst_c]:.1%} ({worst_c})",
                f">= {req.min_recall:.1%}, each over >= {req.min_samples} samples",
                f"{(recalls[worst_c] - req.min_recall) * 100:+.1f} pts",
                note=note,
            )
        )
    e2e = lat.get("e2e")
    if budget is not None:
        if e2e is None:
            criteria.append(
                mx.Criterion("latency p99", False, "no timed samples", f"<= {budget:g} ms", "-")
            )
        else:
            criteria.append(
                mx.Criterion(
                    "latency p99 vs budget",
                    e2e["p99"] <= budget,
                    f"{e2e['p99']:.1f} ms",
                    f"<= {budget:g} ms",
                    f"{budget - e2e['p99']:+.1f} ms",
                    note=f"max {e2e['max']:.1f} ms"
                    + ("" if e2e["max"] <= budget else " (over budget)"),
                )
            )
    line_text = ""
    if req.line_rate is not None:
        crit, line_text = mx.line_rate_check(lat, req.line_rate, budget)
        criteria.append(crit)
    shadow: dict[str, Any] | None = None
    if res.shadow_identity is not None:
        compared = [r for r in scored if r.shadow is not None]
        agree = [r for r in compared if r.shadow == r.predicted]
        rate = len(agree) / len(compared) if compared else None
        shadow = {
            "compared": len(compared),
            "agreed": len(agree),
            "agreement": rate,
            "disagreements": [
                {
                    "index": r.index,
                    "file": r.rel,
                    "truth": r.truth,
                    "target": r.predicted,
                    "target_score": round(r.score, 4),
                    "shadow": r.shadow,
                    "shadow_score": None if r.shadow_score is None else round(r.shadow_score, 4),
                }
                for r in compared
                if r.shadow != r.predicted
            ],
        }
        criteria.append(
            mx.Criterion(
                "shadow agreement (target vs local://)",
                rate is not None and rate >= req.min_agreement,
                "-" if rate is None else f"{rate:.1%} ({len(agree)}/{len(compared)})",
                f">= {req.min_agreement:.1%}",
                "-" if rate is None else f"{(rate - req.min_agreement) * 100:+.1f} pts",
            )
        )
    total = len(res.dataset.samples)
    notes = [res.partial_reason] if res.partial_reason else []
    if unreadable:
        # A sample that could not be judged is a hole in the evidence: the run cannot pass.
        notes.append(
            f"{len(unreadable)} sample(s) not scored: "
            + "; ".join(f"{r.rel} ({r.error})" for r in unreadable[:3])
            + (f"; and {len(unreadable) - 3} more" if len(unreadable) > 3 else "")
        )
    margins = []
    if len(records) < total:
        margins.append(f"{total - len(records)} not run")
    if unreadable:
        margins.append(f"{len(unreadable)} not scored")
    criteria.append(
        mx.Criterion(
            "run complete",
            not res.partial and not unreadable,
            f"{len(scored)}/{total} samples scored"
            + (f" ({len(unreadable)} unreadable)" if unreadable else ""),
            "every sample run and scored",
            ", ".join(margins) or "-",
            note="; ".join(notes),
        )
    )
    if res.partial:
        verdict = "PARTIAL"
    else:
        verdict = "PASS" if all(c.passed for c in criteria) else "FAIL"
    edges, counts = mx.histogram(scored, budget)
    dom = mx.dominant_stage(lat)
    return {
        "format": "edgeconsole-commissioning-report",
        "format_version": 1,
        "console_version": __version__,
        "verdict": verdict,
        "partial": res.partial,
        "partial_reason": res.partial_reason,
        "started": res.started.isoformat(timespec="seconds"),
        "finished": res.finished.isoformat(timespec="seconds"),
        "wall_s": round(res.wall_s, 3),
        "target": res.target_identity,
        "shadow_target": res.shadow_identity,
        "bundle": res.model.identity,
        "dataset": {**res.dataset.to_json(), "sha256": res.dataset.fingerprint()},
        "thresholds": {
            "budget_ms": budget,
            "line_rate_per_min": req.line_rate,
            "min_accuracy": req.min_accuracy,
            "min_recall": req.min_recall,
            "min_agreement": req.min_agreement,
            "min_samples_per_class": req.min_samples,
        },
        "preprocessing": res.preprocessing,
        "samples": {
            "total": len(res.dataset.samples),
            "run": len(records),
            "scored": len(scored),
            "unreadable": [{"file": r.rel, "truth": r.truth, "error": r.error} for r in unreadable],
        },
        "accuracy": accuracy,
        "per_class": pc,
        "confusion": {"rows": rows, "cols": cols, "matrix": m},
        "latency": lat,
        "dominant_stage": None if dom is None else {"stage": dom[0], "share": dom[1]},
        "histogram": {"edges": edges, "counts": counts},
        "line_rate": line_text,
        "shadow": shadow,
        "criteria": [c.to_json() for c in criteria],
        "records": [r.to_json() for r in records],
    }
