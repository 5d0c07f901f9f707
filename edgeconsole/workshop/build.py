"""Build a signed bundle from an ONNX model (the wizard and ``bundle build``), with an
optional FP32-vs-INT8 comparison measured in the same run.

The golden pair is chosen here once for both (:func:`golden_input`,
:func:`golden_tolerance`): the description's own golden input and tolerance when the
model comes with one, so the window's wizard and the CLI sign the same check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from edgeconsole.bundles.builder import BundleRecipe, build_bundle, io_from_model
from edgeconsole.bundles.errors import TrustStoreError
from edgeconsole.bundles.manifest import BUNDLE_ID_RE
from edgeconsole.bundles.modelinfo import model_info
from edgeconsole.bundles.onnx_check import parse_model_proto
from edgeconsole.bundles.reader import read_bundle
from edgeconsole.bundles.signing import key_id, load_private_key
from edgeconsole.bundles.trust import TrustStore
from edgeconsole.core.errors import ConfigError
from edgeconsole.core.jobs import CancelFn, ProgressFn, check_cancel, never, no_progress
from edgeconsole.inference.spec import ModelSpec, load_model_spec
from edgeconsole.workshop.access import BUNDLE_SUFFIX, describe_manifest
from edgeconsole.workshop.trust_keys import load_trust


@dataclass
class BuildRequest:
    model: Path
    name: str
    version: int
    preprocess: dict[str, Any]
    head: dict[str, Any]  # {"type": ..., "labels": [...], ...}
    hardware_ids: list[str]
    key_file: Path
    out: Path
    #: More signing keys (one signature each), read with the same passphrase.
    extra_key_files: tuple[Path, ...] = ()
    passphrase: bytes | None = None
    budget_ms: float | None = None
    int8: str | None = None  # None, "static" or "dynamic"
    calib_dir: Path | None = None
    calib_limit: int = 64
    compare_runs: int = 100
    overwrite: bool = False
    expires: datetime | None = None
    created: datetime | None = None  # None: now; a fixed time gives a reproducible build
    min_agent_version: str | None = None
    #: A whole model description (model.json) whose other fields (input layouts, ...)
    #: the bundle keeps; ``preprocess``, ``head`` and ``budget_ms`` above override it.
    description: dict[str, Any] | None = None
    #: The description's golden block ({"input": "golden_input.npy", "tolerance": ...});
    #: its input file, and a nested orientation model, are looked up in ``golden_dir``
    #: (the description's folder; default: the model's folder).
    golden: dict[str, Any] = field(default_factory=dict)
    golden_dir: Path | None = None
    #: A golden input chosen by hand (.npy, or an image run through the preprocessing).
    golden_input: Path | None = None

    @property
    def key_files(self) -> list[Path]:
        return [self.key_file, *self.extra_key_files]

    @property
    def base_dir(self) -> Path:
        return self.golden_dir or self.model.parent


@dataclass
class Int8Comparison:
    report: Any  # inference.quantize.QuantReport
    variants: dict[str, Any]  # name -> QuantizedModel
    calib: list[np.ndarray] | None


@dataclass
class BuildOutcome:
    out: Path
    size: int
    name: str
    version: int
    files: dict[str, int]
    quantization: dict[str, Any]
    key_id: str
    app_trusts_signer: bool
    report: Any = None
    notes: list[str] = field(default_factory=list)


def suggest_description(model: Path) -> dict[str, Any] | None:
    """The preprocess/head/budget of a ``model.json`` beside ``model`` that names it,
    so the wizard starts from what the model's author wrote."""
    desc = model.parent / "model.json"
    if not desc.is_file():
        return None
    try:
        spec = load_model_spec(desc)
    except ConfigError:
        return None
    if spec.model != model.name:
        return None
    out = spec.to_json()
    keys = ("preprocess", "head", "latency_budget_ms", "name", "golden")
    return {k: out[k] for k in keys if k in out}


#: The golden tolerance when the description gives none (FP32 on any CPU).
FP32_TOLERANCE = 1e-4
#: INT8 kernels differ between CPUs more than FP32 ones do.
INT8_TOLERANCE = 1e-2


def golden_tolerance(golden: Mapping[str, Any], quant: Mapping[str, Any]) -> float:
    """How far a target's output on the golden input may be from the signed one: the
    description's tolerance (at least ``FP32_TOLERANCE``), at least ``INT8_TOLERANCE``
    for a quantized model."""
    tol = FP32_TOLERANCE
    given = golden.get("tolerance")
    if isinstance(given, int | float) and not isinstance(given, bool):
        tol = max(tol, float(given))
    return tol if quant.get("mode", "none") == "none" else max(tol, INT8_TOLERANCE)


def golden_input(
    spec: ModelSpec,
    golden: Mapping[str, Any],
    golden_dir: Path | None,
    calib: list[np.ndarray] | None,
    model_bytes: bytes,
    *,
    explicit: Path | None = None,
    model_name: str = "model.onnx",
) -> np.ndarray:
    """The input the golden pair is made from: one given by hand, else the description's
    own golden input, else the first calibration sample, else a synthetic one."""
    from edgeconsole.inference.bench import synthetic_feeds
    from edgeconsole.inference.preprocess import preprocess_image
    from edgeconsole.inference.providers import make_ort_session

    if explicit is not None:
        if explicit.suffix.lower() == ".npy":
            loaded: np.ndarray = np.load(explicit, allow_pickle=False)
            return loaded
        import cv2

        img = cv2.imread(str(explicit), cv2.IMREAD_COLOR)
        if img is None:
            raise ConfigError("golden input image cannot be decoded", subject=str(explicit))
        return preprocess_image(img, spec.preprocess)[0]
    name = golden.get("input")
    if golden_dir is not None and isinstance(name, str):
        candidate = golden_dir / name
        if candidate.is_file():
            described: np.ndarray = np.load(candidate, allow_pickle=False)
            return described
    if calib:
        return calib[0]
    sess = make_ort_session(model_bytes, threads=1, name=model_name)
    return next(iter(synthetic_feeds(sess, spec).values()))


def model_io(model: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Inputs and outputs of an ONNX file (names, dtypes, shapes), for the wizard."""
    data = _read_model(model)
    info = model_info(parse_model_proto(data, model.name, model.name))
    return info.inputs, info.outputs


def _read_model(model: Path) -> bytes:
    if not model.is_file():
        raise ConfigError("model file not found", subject=str(model), hint="pick an .onnx file")
    if model.suffix.lower() != ".onnx":
        raise ConfigError("the model must be an .onnx file", subject=str(model))
    return model.read_bytes()


def load_description(path: Path) -> tuple[dict[str, Any], Path | None]:
    """A model description (model.json or its folder), strictly parsed, as the JSON a
    :class:`BuildRequest` takes, with the folder its files are found in."""
    spec = load_model_spec(path)  # strict parse, size cap
    return spec.to_json(), spec.base_dir


def _description(req: BuildRequest, fp32: bytes) -> tuple[dict[str, Any], ModelSpec]:
    layout = req.preprocess.get("layout")
    first_input = model_info(parse_model_proto(fp32, req.model.name, req.model.name)).inputs
    desc: dict[str, Any] = {
        **(req.description or {}),
        "model": req.model.name,
        "preprocess": dict(req.preprocess),
        "head": dict(req.head),
    }
    added_inputs = bool(layout and first_input and "inputs" not in desc)
    if added_inputs:
        desc["inputs"] = [{"name": first_input[0]["name"], "layout": layout}]
    if req.budget_ms is not None:
        desc["latency_budget_ms"] = req.budget_ms
    inputs, outputs = io_from_model(fp32, desc, req.model.name)
    if added_inputs:
        desc.pop("inputs")
    probe = {**desc, "name": req.name, "version": req.version, "inputs": inputs, "outputs": outputs}
    probe.pop("spec", None)
    probe.pop("golden", None)
    try:
        spec = ModelSpec.parse(probe, req.golden_dir, where="bundle description")
    except ConfigError as exc:
        raise ConfigError(exc.what, subject=req.model.name, hint=exc.hint) from exc
    from edgeconsole.inference.input_check import check_input_fit

    check_input_fit(spec, inputs[0]["shape"], subject=req.model.name)
    return desc, spec


def _files(req: BuildRequest, shipped: bytes) -> dict[str, Path | bytes]:
    """The model as shipped, and a nested orientation model from the description's folder."""
    files: dict[str, Path | bytes] = {req.model.name: shipped}
    orientation = req.head.get("orientation")
    if isinstance(orientation, dict) and isinstance(orientation.get("model"), str):
        files[orientation["model"]] = req.base_dir / orientation["model"]
    return files


def check_request(req: BuildRequest) -> ModelSpec:
    """Refuse a bad request before any heavy work, in plain words."""
    if not BUNDLE_ID_RE.fullmatch(req.name):
        raise ConfigError(
            "bundle name must be letters, digits, '.', '-' or '_' (at most 64), "
            "starting with a letter or digit"
        )
    if req.version < 1:
        raise ConfigError("version must be a whole number of 1 or more")
    if not req.hardware_ids:
        raise ConfigError("give at least one compatible hardware id (e.g. laptop)")
    if req.int8 not in (None, "static", "dynamic"):
        raise ConfigError(f"unknown INT8 mode {req.int8!r}")
    if req.int8 == "static" and req.calib_dir is None:
        raise ConfigError(
            "static INT8 needs a calibration folder", hint="pick one, or choose dynamic INT8"
        )
    return _description(req, _read_model(req.model))[1]


def compare_int8(
    req: BuildRequest, progress: ProgressFn = no_progress, cancel: CancelFn = never
) -> Int8Comparison:
    """Make the INT8 variants and measure them against FP32 in this one run."""
    from edgeconsole.core.errors import ModelError
    from edgeconsole.inference.bench import synthetic_feeds
    from edgeconsole.inference.providers import make_ort_session
    from edgeconsole.inference.quantize import (
        compare_variants,
        load_calibration,
        quantize_dynamic_int8,
        quantize_static_qdq,
    )

    fp32 = _read_model(req.model)
    spec = check_request(req)
    src_hash = hashlib.sha256(fp32).hexdigest()
    calib = None
    if req.calib_dir is not None:
        progress(0.05, "reading calibration data")
        calib = load_calibration(req.calib_dir, spec, req.calib_limit)
    makers: dict[str, Callable[[], Any]] = {}
    if calib:
        makers["int8-static"] = lambda: quantize_static_qdq(fp32, calib, source_sha256=src_hash)
    makers["int8-dynamic"] = lambda: quantize_dynamic_int8(fp32, source_sha256=src_hash)
    variants: dict[str, Any] = {}
    shown: dict[str, bytes | str] = {}
    for i, (name, make) in enumerate(makers.items()):
        check_cancel(cancel, "INT8 comparison")
        progress(0.1 + 0.4 * i / len(makers), f"quantizing ({name})")
        try:
            variants[name] = make()
            shown[name] = variants[name].data
        except ModelError as exc:
            shown[name] = exc.what  # a failed variant is a row in the table, not fatal
    check_cancel(cancel, "INT8 comparison")
    progress(0.5, "measuring FP32 and INT8 side by side")
    eval_inputs = calib or []
    if not eval_inputs:
        sess = make_ort_session(fp32, threads=1, name=req.model.name)
        eval_inputs = [next(iter(synthetic_feeds(sess, spec, seed=s).values())) for s in range(8)]
    report = compare_variants(fp32, shown, spec, eval_inputs, runs=req.compare_runs)
    progress(1.0, "comparison done")
    return Int8Comparison(report, variants, calib)


def build(
    req: BuildRequest,
    progress: ProgressFn = no_progress,
    cancel: CancelFn = never,
    *,
    comparison: Int8Comparison | None = None,
    app_trust_dir: Path | None = None,
) -> BuildOutcome:
    """Build, sign and write the bundle, then read it back through the verifier."""
    from edgeconsole.inference.quantize import manifest_quantization

    progress(0.0, "checking the description")
    fp32 = _read_model(req.model)
    spec = check_request(req)
    desc, _ = _description(req, fp32)
    if req.out.suffix.lower() != BUNDLE_SUFFIX:
        raise ConfigError("the output file must end in .ecb", subject=str(req.out))
    if req.out.exists() and not req.overwrite:
        raise ConfigError(
            "output file already exists", subject=str(req.out), hint="choose another name"
        )
    if not req.out.parent.is_dir():
        raise ConfigError("output folder does not exist", subject=str(req.out.parent))
    progress(0.05, "reading the signing key")
    keys = [load_private_key(k, req.passphrase) for k in req.key_files]
    shipped, quant = fp32, {"mode": "none"}
    report = comparison.report if comparison is not None else None
    calib = comparison.calib if comparison is not None else None
    if req.int8 is not None:
        wanted = f"int8-{req.int8}"
        if comparison is None or wanted not in comparison.variants:

            def sub(f: float, t: str) -> None:
                progress(0.1 + 0.6 * f, t)

            comparison = compare_int8(req, sub, cancel)
            report, calib = comparison.report, comparison.calib
        if wanted not in comparison.variants:
            failed = next(
                (v.error for v in comparison.report.variants if v.name == wanted), "failed"
            )
            raise ConfigError(
                f"{req.int8} INT8 could not be made: {failed}",
                hint="try the other INT8 mode, or ship FP32",
            )
        chosen = comparison.variants[wanted]
        shipped, quant = chosen.data, manifest_quantization(chosen)
    check_cancel(cancel, "build")
    if calib is None and req.calib_dir is not None:
        # Without INT8 the calibration data still gives the golden pair a real input.
        from edgeconsole.inference.quantize import load_calibration

        progress(0.7, "reading calibration data")
        calib = load_calibration(req.calib_dir, spec, req.calib_limit)
    progress(0.75, "running the model for the golden pair")
    golden = golden_input(
        spec,
        req.golden,
        req.golden_dir or req.model.parent,
        calib,
        fp32,
        explicit=req.golden_input,
        model_name=req.model.name,
    )
    recipe = BundleRecipe(
        name=req.name,
        version=req.version,
        description=desc,
        files=_files(req, shipped),
        hardware_ids=list(req.hardware_ids),
        expires=req.expires,
        min_agent_version=req.min_agent_version,
        quantization=quant,
        golden_input=golden,
        golden_tolerance=golden_tolerance(req.golden, quant),
    )
    check_cancel(cancel, "build")
    progress(0.85, "signing and writing")
    if req.created is not None:
        recipe.created = req.created
    manifest = build_bundle(recipe, keys, req.out, describe=describe_manifest)
    progress(0.93, "reading it back through the verifier")
    kid = key_id(keys[0].public_key())
    publics = [k.public_key() for k in keys]
    read_bundle(
        req.out,
        TrustStore.from_keys(publics, len({key_id(k) for k in publics})),
        describe=describe_manifest,
    )
    trusted = False
    if app_trust_dir is not None:
        try:
            store = load_trust(app_trust_dir)
        except TrustStoreError:
            store = None
        trusted = store is not None and kid in store.keys
    notes = []
    if not trusted:
        notes.append(
            "this app's trust store does not hold the signing key's public half: "
            "import its .pub in Trust store to run the bundle here"
        )
    progress(1.0, "done")
    return BuildOutcome(
        out=req.out,
        size=req.out.stat().st_size,
        name=manifest.name,
        version=manifest.version,
        files={n: e.length for n, e in manifest.files.items()},
        quantization=quant,
        key_id=kid,
        app_trusts_signer=trusted,
        report=report,
        notes=notes,
    )
