"""The one door to a bundle's bytes for everything above the core.

A bundle is opened only through the bundles reader, with the model part of the
manifest parsed by the strict model-description parser, against a trust store:
the app's own (``<app data>/trust``) unless the caller names another. The demo
key in ``sample_models/trust`` is trusted only when a caller passes it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeconsole.bundles.errors import BundleSignatureError
from edgeconsole.bundles.reader import Mode, VerifiedBundle, VerifyPolicy, read_bundle
from edgeconsole.bundles.trust import TrustStore
from edgeconsole.inference.spec import ModelSpec
from edgeconsole.journal.paths import app_data_dir

BUNDLE_SUFFIX = ".ecb"


def default_trust_dir() -> Path:
    return app_data_dir() / "trust"


def sample_models_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "sample_models"


def default_library_dir() -> Path:
    return sample_models_dir() / "bundles"


def describe_manifest(obj: dict[str, Any]) -> ModelSpec:
    return ModelSpec.parse(obj, None, where="manifest")


def is_bundle(path: str | Path) -> bool:
    return str(path).lower().endswith(BUNDLE_SUFFIX)


def open_verified(
    path: Path,
    trust_dir: Path | None = None,
    *,
    threshold: int | None = None,
    hardware_id: str | None = None,
    installed_version: int | None = None,
    mode: Mode = "memory",
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> VerifiedBundle:
    """Verify ``path`` (DESIGN section 5 order) and return its verified contents."""
    trust_dir = trust_dir if trust_dir is not None else default_trust_dir()
    if not trust_dir.is_dir() or not any(trust_dir.glob("*.pub")):
        raise BundleSignatureError(
            "the trust store holds no keys, so no bundle can be run",
            subject=str(trust_dir),
            hint="import the signer's public key (Bundles > Trust store) or pass --trust DIR",
        )
    trust = TrustStore.load(trust_dir, threshold)
    policy = VerifyPolicy(hardware_id=hardware_id, installed_version=installed_version)
    return read_bundle(
        path,
        trust,
        describe=describe_manifest,
        policy=policy,
        mode=mode,
        progress=progress,
        cancel=cancel,
    )
