"""What a bundle holds and who signed it: ``bundle inspect`` and the window's Inspect
view show the same dict."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgeconsole.bundles.errors import TrustStoreError
from edgeconsole.bundles.modelinfo import model_info
from edgeconsole.bundles.onnx_check import parse_model_proto
from edgeconsole.bundles.reader import SignerStatus, VerifyPolicy, read_bundle, signer_report
from edgeconsole.inference.spec import ModelSpec
from edgeconsole.workshop.access import describe_manifest
from edgeconsole.workshop.library import one_line_reason, signer_statuses
from edgeconsole.workshop.trust_keys import load_trust


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
            reason = one_line_reason(exc)
    statuses = signer_statuses(vb.manifest_bytes, vb.signature_bytes, trust)
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
