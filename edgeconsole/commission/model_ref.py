"""The model under test: a signed bundle (verified first) or a model.json folder.

Either way the result carries what the report must name: the spec, the model
files' bytes for the engine, and the hashes that identify exactly what ran
(bundle file sha256, manifest sha256, each model file's sha256, signers).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError
from edgeconsole.inference.spec import ModelSpec

BUNDLE_SUFFIX = ".ecb"


@dataclass
class ModelRef:
    path: Path
    kind: str  # "bundle" or "folder"
    spec: ModelSpec
    #: model files for InferenceEngine.load(model_bytes=...); None: read from spec.base_dir.
    files: dict[str, bytes] | None
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.spec.name} v{self.spec.version}"

    def graph_input_dims(self) -> list[int] | None:
        """The ONNX graph's first input shape (-1 = dynamic), read without running it;
        None when the model file is not at hand (it is then checked when loaded)."""
        from edgeconsole.bundles.modelinfo import model_info
        from edgeconsole.bundles.onnx_check import parse_model_proto

        name = self.spec.model
        if self.files is not None:
            data = self.files.get(name)
        else:
            path = (self.spec.base_dir or self.path) / name
            data = path.read_bytes() if path.is_file() else None
        if data is None:
            return None
        inputs = model_info(parse_model_proto(data, name, str(self.path))).inputs
        wanted = next((t for t in inputs if t["name"] == self.spec.inputs[0].name), None)
        return None if wanted is None else list(wanted["shape"])


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def open_model_ref(path: str | Path, trust_dir: str | Path | None) -> ModelRef:
    """Verify and open a bundle (needs ``trust_dir``) or load a model folder/model.json."""
    p = Path(path)
    if p.suffix.lower() == BUNDLE_SUFFIX:
        if trust_dir is None:
            raise ConfigError(
                "a bundle is run only after its signature is checked",
                subject=str(p),
                hint="pass --trust DIR (the public keys that may sign bundles)",
            )
        from edgeconsole.bundles.reader import VerifyPolicy, read_bundle
        from edgeconsole.bundles.trust import TrustStore

        trust = TrustStore.load(Path(trust_dir))
        vb = read_bundle(
            p,
            trust,
            describe=lambda obj: ModelSpec.parse(obj, None, where="manifest"),
            policy=VerifyPolicy(),
            mode="memory",
        )
        spec = vb.description
        assert isinstance(spec, ModelSpec)
        m = vb.manifest
        identity = {
            "kind": "bundle",
            "path": str(p),
            "bundle_id": m.bundle_id,
            "name": m.name,
            "version": m.version,
            "bundle_sha256": _file_sha(p),
            "manifest_sha256": _sha(vb.manifest_bytes),
            "files": {n: f.sha256 for n, f in sorted(m.files.items())},
            "signers": [
                {"key_id": s.key_id, "status": s.status, "label": s.label} for s in vb.signers
            ],
            "trusted": vb.trusted,
            "quantization": m.quantization,
        }
        return ModelRef(p, "bundle", spec, vb.files, identity)
    from edgeconsole.inference.loader import load_model

    spec = load_model(p)
    base = spec.base_dir or p
    names = [spec.model]
    if spec.head.orientation is not None:
        names.append(spec.head.orientation.model)
    files: dict[str, str] = {}
    for name in names:
        fp = base / name
        files[name] = _file_sha(fp) if fp.is_file() else "missing"
    desc = base / "model.json" if (base / "model.json").is_file() else p
    identity = {
        "kind": "folder",
        "path": str(p),
        "name": spec.name,
        "version": spec.version,
        "description_sha256": _file_sha(desc) if desc.is_file() else "",
        "files": files,
        "signers": [],
        "trusted": False,
        "note": "unsigned model folder (development); commission with a signed bundle",
    }
    return ModelRef(p, "folder", spec, None, identity)
