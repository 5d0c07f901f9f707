"""Bundle work for the window, without Qt: trust store, library scan, inspect,
bench and build, each a plain function taking ``progress`` and ``cancel`` hooks.

Bundles and inference are sibling layers that never import each other; this is
where they meet for the UI (the CLI composes them the same way in
``cli/bundle_cmd.py``). The widget runs these on a worker thread and only shows
what they return, so all of it is testable headless.

Every bundle is opened through :func:`edgeconsole.bundles.reader.read_bundle`.
The trust store is the app's own folder (``<app data>/trust``, mode 0700), the
same one ``session.bundle_access`` and ``edgeconsole agent`` default to. The
DEMO key of ``sample_models/trust`` is trusted only if a person imports it.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from edgeconsole.bundles.builder import BundleRecipe, build_bundle, io_from_model
from edgeconsole.bundles.errors import (
    BundleFormatError,
    BundleIncompatibleError,
    BundleSignatureError,
    BundleTamperedError,
    TrustStoreError,
)
from edgeconsole.bundles.manifest import MAX_MANIFEST_BYTES
from edgeconsole.bundles.modelinfo import model_info
from edgeconsole.bundles.names import MANIFEST_NAME, SIGNATURE_NAME
from edgeconsole.bundles.onnx_check import parse_model_proto
from edgeconsole.bundles.reader import (
    SignerStatus,
    VerifiedBundle,
    VerifyPolicy,
    read_bundle,
    signer_report,
)
from edgeconsole.bundles.signing import (
    MAX_SIG_BYTES,
    key_id,
    load_private_key,
    load_public_key,
    parse_signatures,
)
from edgeconsole.bundles.tarstream import TarHeaderReader
from edgeconsole.bundles.trust import TrustStore, import_key, remove_key
from edgeconsole.core.errors import BundleError, Cancelled, ConfigError, EdgeConsoleError
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded
from edgeconsole.inference.spec import ModelSpec, load_model_spec
from edgeconsole.journal.paths import ensure_dir
from edgeconsole.session import bundle_access
from edgeconsole.session.bundle_access import default_trust_dir as default_trust_dir  # the window's
from edgeconsole.session.bundle_access import describe_manifest

#: ``progress(fraction 0..1, what is happening)``; ``cancel()`` -> True to stop.
ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]

BUNDLE_SUFFIX = ".ecb"
MAX_LIBRARY_FILES = 2000


def _no_progress(_f: float, _t: str) -> None:
    return None


def _never() -> bool:
    return False


def _check(cancel: CancelFn, what: str) -> None:
    if cancel():
        raise Cancelled(f"{what} cancelled")


def sample_models_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "sample_models"


def default_library_dir() -> Path:
    return sample_models_dir() / "bundles"


# -- trust store ---------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRow:
    key_id: str
    label: str
    fingerprint: str
    path: Path
    demo: bool
    problem: str = ""  # a .pub file that cannot be read is listed, not hidden


def demo_key_ids() -> frozenset[str]:
    """Key ids of the DEMO-ONLY keys shipped in sample_models/trust (public to all)."""
    out = set()
    for p in (sample_models_dir() / "trust").glob("*.pub"):
        try:
            out.add(key_id(load_public_key(p)))
        except TrustStoreError:
            continue
    return frozenset(out)


def ensure_trust_dir(directory: Path) -> Path:
    """Create the store 0700 (who may sign is nobody else's business to change)."""
    existed = directory.is_dir()
    ensure_dir(directory, 0o700)
    if not existed:
        os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask
    return directory


def trust_keys(directory: Path) -> list[KeyRow]:
    if not directory.is_dir():
        return []
    demo = demo_key_ids()
    rows: list[KeyRow] = []
    for path in sorted(directory.glob("*.pub")):
        try:
            k = load_public_key(path)
        except TrustStoreError as exc:
            rows.append(KeyRow("", path.stem, "", path, False, problem=exc.what))
            continue
        from edgeconsole.bundles.signing import fingerprint

        kid = key_id(k)
        rows.append(KeyRow(kid, path.stem, fingerprint(k), path, kid in demo))
    return rows


def import_trust_key(directory: Path, key_file: Path, label: str | None = None) -> KeyRow:
    ensure_trust_dir(directory)
    k = import_key(directory, key_file, label)
    assert k.path is not None
    return KeyRow(k.key_id, k.label, k.fingerprint, k.path, k.key_id in demo_key_ids())


def remove_trust_key(directory: Path, kid_or_label: str) -> str:
    """Stop trusting a key; returns its label."""
    return remove_key(directory, kid_or_label).label


def load_trust(directory: Path) -> TrustStore | None:
    """The store, or None when it holds no keys yet (nothing is trusted)."""
    if not directory.is_dir() or not any(directory.glob("*.pub")):
        return None
    return TrustStore.load(directory)


# -- library ---------------------------------------------------------------------------

VERIFIED = "verified"
UNKNOWN_SIGNER = "unknown signer"
UNSIGNED = "unsigned"
TAMPERED = "tampered"
INCOMPATIBLE = "incompatible"
REFUSED = "refused"


@dataclass(frozen=True)
class BundleRow:
    path: Path
    size: int
    status: str  # one of the constants above
    reason: str  # one line: why (or who signed, when verified)
    name: str = ""
    version: int | None = None
    signer: str = ""
    hardware_ids: tuple[str, ...] = ()
    quantization: str = ""

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED


def peek_head(path: Path) -> tuple[bytes, bytes | None]:
    """The manifest and signature bytes, for display of a bundle that may not verify.

    Nothing here is trusted; the full check is ``read_bundle``."""
    with open(path, "rb") as f:
        hdr = TarHeaderReader(f, path.name)
        first = hdr.next_member()
        if first is None or first.name != MANIFEST_NAME or first.size > MAX_MANIFEST_BYTES:
            raise BundleFormatError("not a bundle: manifest.json is not first", subject=path.name)
        manifest = f.read(first.size)
        hdr.advance(first.size)
        hdr.skip_padding(first.size)
        second = hdr.next_member()
        if second is None or second.name != SIGNATURE_NAME or second.size > MAX_SIG_BYTES:
            return manifest, None
        return manifest, f.read(second.size)


def _display_fields(manifest: bytes) -> dict[str, Any]:
    try:
        obj = loads_bounded(manifest, max_bytes=MAX_MANIFEST_BYTES, what="manifest.json")
    except JSONRefused:
        return {}
    if not isinstance(obj, dict):
        return {}
    hw = obj.get("hardware_ids")
    q = obj.get("quantization")
    version = obj.get("version")
    return {
        "name": obj.get("name") if isinstance(obj.get("name"), str) else "",
        "version": version if isinstance(version, int) and not isinstance(version, bool) else None,
        "hardware_ids": tuple(h for h in hw if isinstance(h, str)) if isinstance(hw, list) else (),
        "quantization": str(q.get("mode", "")) if isinstance(q, dict) else "",
    }


def _signer_text(statuses: list[SignerStatus]) -> str:
    parts = []
    for s in statuses:
        if s.status == "verified":
            parts.append(s.label or s.key_id[:8])
        elif s.status == "duplicate":
            continue
        else:
            parts.append(f"{s.label or s.key_id[:12] + '…'} ({s.status})")
    return ", ".join(parts) or "nobody"


def _statuses(manifest: bytes, sig: bytes | None, trust: TrustStore | None) -> list[SignerStatus]:
    if trust is not None:
        return signer_report(manifest, sig, trust)[0]
    try:
        entries = [] if sig is None else parse_signatures(sig, "bundle")
    except BundleSignatureError:
        return []
    return [SignerStatus(e.key_id, "unknown key") for e in entries]


def _status_of(exc: BundleError, statuses: list[SignerStatus]) -> str:
    if isinstance(exc, BundleTamperedError):
        return TAMPERED
    if isinstance(exc, BundleIncompatibleError):
        return INCOMPATIBLE
    if isinstance(exc, BundleSignatureError):
        if not statuses:
            return UNSIGNED
        if any(s.status == "bad signature" for s in statuses):
            return TAMPERED
        return UNKNOWN_SIGNER
    return REFUSED


def _reason(exc: EdgeConsoleError) -> str:
    text = exc.what if not exc.hint else f"{exc.what} — {exc.hint}"
    return " ".join(text.split())  # one line, whatever the message held


def check_bundle(
    path: Path,
    trust: TrustStore | None,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelFn = _never,
) -> BundleRow:
    """One library row: the full verification, and why not when it fails."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return BundleRow(path, 0, REFUSED, f"cannot read the file: {exc.strerror or exc}")
    try:
        manifest, sig = peek_head(path)
    except (BundleError, OSError) as exc:
        reason = _reason(exc) if isinstance(exc, BundleError) else str(exc)
        return BundleRow(path, size, REFUSED, reason)
    shown = _display_fields(manifest)
    statuses = _statuses(manifest, sig, trust)
    row = dict(path=path, size=size, signer=_signer_text(statuses), **shown)
    try:
        vb = read_bundle(path, trust, describe=describe_manifest, progress=progress, cancel=cancel)
    except Cancelled:
        raise
    except BundleError as exc:
        status = _status_of(exc, statuses)
        if status == UNKNOWN_SIGNER:
            # Is it at least intact? Check everything but who signed it, so a
            # tampered copy from an unknown signer says "tampered".
            try:
                read_bundle(path, None, describe=describe_manifest, cancel=cancel)
            except Cancelled:
                raise
            except BundleError as inner:
                return BundleRow(status=_status_of(inner, []), reason=_reason(inner), **row)
        return BundleRow(status=status, reason=_reason(exc), **row)
    if trust is None:
        return BundleRow(
            status=UNKNOWN_SIGNER,
            reason="intact, but the trust store holds no keys: import the signer's public key",
            **row,
        )
    who = ", ".join(s.label or s.key_id[:8] for s in vb.signers if s.status == "verified")
    return BundleRow(status=VERIFIED, reason=f"all files match the manifest signed by {who}", **row)


def list_bundle_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ConfigError(
            "bundle folder not found", subject=str(folder), hint="choose another folder"
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == BUNDLE_SUFFIX and p.is_file())
    return files[:MAX_LIBRARY_FILES]


def scan_library(
    folder: Path,
    trust_dir: Path,
    progress: ProgressFn = _no_progress,
    cancel: CancelFn = _never,
) -> list[BundleRow]:
    """Verify every ``*.ecb`` in ``folder`` against the store in ``trust_dir``."""
    files = list_bundle_files(folder)
    try:
        trust = load_trust(trust_dir)
        trust_problem = ""
    except TrustStoreError as exc:
        trust, trust_problem = None, _reason(exc)
    sizes = [max(p.stat().st_size, 1) for p in files]
    total, done = sum(sizes) or 1, 0
    rows: list[BundleRow] = []
    for p, size in zip(files, sizes, strict=True):
        _check(cancel, "scan")
        progress(done / total, f"checking {p.name}")

        def per_file(n: int, _t: int, base: int = done, name: str = p.name) -> None:
            progress(min(1.0, (base + n) / total), f"checking {name}")

        try:
            row = check_bundle(p, trust, progress=per_file, cancel=cancel)
        except Cancelled:
            raise
        except (EdgeConsoleError, OSError) as exc:
            # One file the checks did not foresee is one refused row, never a lost scan.
            why = _reason(exc) if isinstance(exc, EdgeConsoleError) else str(exc)
            row = BundleRow(p, size, REFUSED, why)
        if trust_problem and row.status == UNKNOWN_SIGNER:
            row = BundleRow(**{**row.__dict__, "reason": f"trust store unusable: {trust_problem}"})
        rows.append(row)
        done += size
    progress(1.0, f"{len(rows)} bundle(s) checked")
    return rows


# -- inspect -------------------------------------------------------------------------


def _preprocessing(spec: Any, model: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the preprocessing makes of an image and whether the model takes it (a bundle
    that does not fit is still shown, never run: flash and validate refuse it)."""
    from edgeconsole.inference.input_check import input_fit

    if not isinstance(spec, ModelSpec):
        return None
    inputs = (model or {}).get("inputs") or []
    dims = next((t["shape"] for t in inputs if t["name"] == spec.inputs[0].name), None)
    out = input_fit(spec, dims).to_json()
    if spec.head.orientation is not None:
        out["helper"] = {
            "model": spec.head.orientation.model,
            **input_fit(spec.head.orientation, crops=True).to_json(),
        }
    return out


def inspect_bundle(path: Path, trust_dir: Path | None) -> dict[str, Any]:
    """What a bundle holds and who signed it (same fields as ``bundle inspect --json``).

    Every structural check runs; signers are checked apart so an untrusted
    bundle can still be looked at (never run)."""
    vb = read_bundle(
        path,
        None,
        describe=describe_manifest,
        policy=VerifyPolicy(check_expiry=False),
        mode="memory",
    )
    m = vb.manifest
    trust = None
    reason = "no trust store given"
    if trust_dir is not None:
        try:
            trust = load_trust(trust_dir)
            reason = "the trust store holds no keys" if trust is None else ""
        except TrustStoreError as exc:
            reason = _reason(exc)
    statuses = _statuses(vb.manifest_bytes, vb.signature_bytes, trust)
    if trust is None:  # nobody to check against: say so rather than "unknown"
        statuses = [SignerStatus(s.key_id, "not checked") for s in statuses]
    trusted = False
    if trust is not None:
        statuses, trusted, reason = signer_report(vb.manifest_bytes, vb.signature_bytes, trust)
    models = {
        name: model_info(parse_model_proto(vb.file_bytes(name), name, path.name)).to_json()
        for name in m.files
        if name.endswith(".onnx")
    }
    now = datetime.now(UTC)
    return {
        "preprocessing": _preprocessing(vb.description, models.get(m.model)),
        "bundle": str(path),
        "size_bytes": vb.size,
        "payload_bytes": m.payload_bytes,
        "bundle_id": m.bundle_id,
        "name": m.name,
        "version": m.version,
        "created": m.raw.get("created"),
        "expires": m.raw.get("expires"),
        "expired": m.expires is not None and now >= m.expires,
        "hardware_ids": list(m.hardware_ids),
        "min_agent_version": m.min_agent_version,
        "files": {n: {"length": e.length, "sha256": e.sha256} for n, e in m.files.items()},
        "signers": [{"key_id": s.key_id, "label": s.label, "status": s.status} for s in statuses],
        "trusted": trusted,
        "trust_reason": reason,
        "quantization": m.quantization,
        "head": m.raw.get("head", {}),
        "head_type": m.raw.get("head", {}).get("type"),
        "chunk_size": m.chunk_size,
        "golden": m.golden,
        "latency_budget_ms": m.raw.get("latency_budget_ms"),
        "preprocess": m.raw.get("preprocess"),
        "model": m.model,
        "models": models,
    }


# -- bench -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchRequest:
    bundle: Path
    trust_dir: Path
    runs: int | None = 200
    seconds: float | None = None
    warmup: int = 10
    threads: int | None = None
    budget_ms: float | None = None  # None: the bundle's own budget


def open_verified(
    path: Path,
    trust_dir: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelFn = _never,
) -> VerifiedBundle:
    return bundle_access.open_verified(path, trust_dir, progress=progress, cancel=cancel)


def bench_bundle(
    req: BenchRequest, progress: ProgressFn = _no_progress, cancel: CancelFn = _never
) -> Any:
    """Verify, load and benchmark a bundle; returns ``inference.bench.BenchResult``."""
    import time

    from edgeconsole.inference.bench import bench_session, synthetic_feeds
    from edgeconsole.inference.providers import make_ort_session

    vb = open_verified(
        req.bundle,
        req.trust_dir,
        progress=lambda n, t: progress(0.2 * n / max(t, 1), "verifying"),
        cancel=cancel,
    )
    _check(cancel, "benchmark")
    progress(0.2, "loading the model")
    label = f"{req.bundle.name}:{vb.manifest.model}"
    t0 = time.perf_counter()
    sess = make_ort_session(vb.model_bytes, threads=req.threads, name=label)
    load_ms = (time.perf_counter() - t0) * 1e3
    spec = vb.description
    golden = vb.manifest.golden
    if golden is not None and len(sess.get_inputs()) == 1:
        x = np.load(io.BytesIO(vb.file_bytes(golden["input"])), allow_pickle=False)
        feeds = {sess.get_inputs()[0].name: x}
    else:
        feeds = synthetic_feeds(sess, spec)
    budget = req.budget_ms if req.budget_ms is not None else spec.latency_budget_ms
    polls = [0]
    start = time.perf_counter()

    def poll() -> bool:
        # bench_session asks every 64 runs; counting the asks gives progress
        # without adding anything to the timed loop itself.
        polls[0] += 1
        if req.runs is not None:
            frac = min(1.0, polls[0] * 64 / req.runs)
        else:
            frac = min(1.0, (time.perf_counter() - start) / (req.seconds or 1))
        progress(0.25 + 0.75 * frac, f"timing ({polls[0] * 64} runs)")
        return cancel()

    progress(0.25, "warming up")
    return bench_session(
        sess,
        feeds,
        model=label,
        runs=req.runs,
        seconds=req.seconds,
        warmup=req.warmup,
        threads=req.threads,
        budget_ms=budget,
        load_ms=load_ms,
        cancel=poll,
    )


# -- build -----------------------------------------------------------------------------


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
    passphrase: bytes | None = None
    budget_ms: float | None = None
    int8: str | None = None  # None, "static" or "dynamic"
    calib_dir: Path | None = None
    calib_limit: int = 64
    compare_runs: int = 100
    overwrite: bool = False
    expires: datetime | None = None


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
    return {k: out[k] for k in ("preprocess", "head", "latency_budget_ms", "name") if k in out}


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


def _description(req: BuildRequest, fp32: bytes) -> tuple[dict[str, Any], ModelSpec]:
    layout = req.preprocess.get("layout")
    first_input = model_info(parse_model_proto(fp32, req.model.name, req.model.name)).inputs
    desc: dict[str, Any] = {
        "model": req.model.name,
        "preprocess": dict(req.preprocess),
        "head": dict(req.head),
    }
    if layout and first_input:
        desc["inputs"] = [{"name": first_input[0]["name"], "layout": layout}]
    if req.budget_ms is not None:
        desc["latency_budget_ms"] = req.budget_ms
    inputs, outputs = io_from_model(fp32, desc, req.model.name)
    desc.pop("inputs", None)
    probe = {**desc, "name": req.name, "version": req.version, "inputs": inputs, "outputs": outputs}
    try:
        spec = ModelSpec.parse(probe, None, where="bundle description")
    except ConfigError as exc:
        raise ConfigError(exc.what, subject=req.model.name, hint=exc.hint) from exc
    from edgeconsole.inference.input_check import check_input_fit

    check_input_fit(spec, inputs[0]["shape"], subject=req.model.name)
    return desc, spec


def check_request(req: BuildRequest) -> ModelSpec:
    """Refuse a bad request before any heavy work, in plain words."""
    if not req.name or not req.name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError("bundle name must be letters, digits, '-' or '_'")
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
    req: BuildRequest, progress: ProgressFn = _no_progress, cancel: CancelFn = _never
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
        _check(cancel, "INT8 comparison")
        progress(0.1 + 0.4 * i / len(makers), f"quantizing ({name})")
        try:
            variants[name] = make()
            shown[name] = variants[name].data
        except ModelError as exc:
            shown[name] = exc.what  # a failed variant is a row in the table, not fatal
    _check(cancel, "INT8 comparison")
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
    progress: ProgressFn = _no_progress,
    cancel: CancelFn = _never,
    *,
    comparison: Int8Comparison | None = None,
    app_trust_dir: Path | None = None,
) -> BuildOutcome:
    """Build, sign and write the bundle, then read it back through the verifier."""
    from edgeconsole.inference.bench import synthetic_feeds
    from edgeconsole.inference.providers import make_ort_session
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
    key = load_private_key(req.key_file, req.passphrase)
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
    _check(cancel, "build")
    progress(0.75, "running the model for the golden pair")
    if calib:
        golden = calib[0]
    else:
        sess = make_ort_session(fp32, threads=1, name=req.model.name)
        golden = next(iter(synthetic_feeds(sess, spec).values()))
    tolerance = 1e-4 if quant.get("mode") == "none" else 1e-2
    recipe = BundleRecipe(
        name=req.name,
        version=req.version,
        description=desc,
        files={req.model.name: shipped},
        hardware_ids=list(req.hardware_ids),
        expires=req.expires,
        quantization=quant,
        golden_input=golden,
        golden_tolerance=tolerance,
    )
    _check(cancel, "build")
    progress(0.85, "signing and writing")
    manifest = build_bundle(recipe, [key], req.out, describe=describe_manifest)
    progress(0.93, "reading it back through the verifier")
    kid = key_id(key.public_key())
    read_bundle(req.out, TrustStore.from_keys([key.public_key()]), describe=describe_manifest)
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
