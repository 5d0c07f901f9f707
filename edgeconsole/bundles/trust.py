"""The trust store: a folder of Ed25519 public keys and a signer threshold.

Layout: ``*.pub`` PEM files (one key each) and an optional ``trust.json`` with
``{"threshold": N}`` (default 1). A bundle is trusted when at least N distinct
keys of the store have valid signatures over its manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edgeconsole.bundles.errors import TrustStoreError
from edgeconsole.bundles.signing import fingerprint, key_id, load_public_key, public_pem
from edgeconsole.core.atomic import atomic_write
from edgeconsole.core.jsonsafe import loads_bounded

POLICY_FILE = "trust.json"


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    label: str
    fingerprint: str
    public_key: Ed25519PublicKey
    path: Path | None = None


@dataclass(frozen=True)
class TrustStore:
    keys: dict[str, TrustedKey]
    threshold: int = 1
    source: str = "<memory>"

    @classmethod
    def from_keys(cls, keys: list[Ed25519PublicKey], threshold: int = 1) -> TrustStore:
        out = {key_id(k): TrustedKey(key_id(k), key_id(k)[:8], fingerprint(k), k) for k in keys}
        return cls(out, threshold)

    @classmethod
    def load(cls, directory: Path, threshold: int | None = None) -> TrustStore:
        if not directory.is_dir():
            raise TrustStoreError(
                "trust store folder not found",
                subject=str(directory),
                hint="give --trust DIR holding the signers' .pub files",
            )
        keys: dict[str, TrustedKey] = {}
        for path in sorted(directory.glob("*.pub")):
            k = load_public_key(path)
            kid = key_id(k)
            if kid not in keys:
                keys[kid] = TrustedKey(kid, path.stem, fingerprint(k), k, path)
        if not keys:
            raise TrustStoreError(
                "trust store holds no .pub keys",
                subject=str(directory),
                hint="import a signer's public key first",
            )
        chosen = threshold if threshold is not None else _read_threshold(directory)
        if chosen < 1 or chosen > len(keys):
            raise TrustStoreError(
                f"threshold {chosen} is impossible with {len(keys)} trusted key(s)",
                subject=str(directory),
            )
        return cls(keys, chosen, str(directory))


def _read_threshold(directory: Path) -> int:
    policy = directory / POLICY_FILE
    if not policy.exists():
        return 1
    try:
        raw = policy.read_bytes()[: 64 * 1024 + 1]
        obj = loads_bounded(raw, max_bytes=64 * 1024, what="trust.json")
    except (OSError, ValueError) as exc:
        raise TrustStoreError("trust.json is not readable JSON", subject=str(policy)) from exc
    if not isinstance(obj, dict) or set(obj) - {"threshold", "note"}:
        raise TrustStoreError(
            "trust.json may hold only 'threshold' and 'note'", subject=str(policy)
        )
    t = obj.get("threshold", 1)
    if isinstance(t, bool) or not isinstance(t, int):
        raise TrustStoreError("threshold must be an integer", subject=str(policy))
    return t


def import_key(directory: Path, public_key_file: Path, label: str | None = None) -> TrustedKey:
    """Copy a public key into the store as ``LABEL.pub``; refuse duplicates."""
    k = load_public_key(public_key_file)
    kid = key_id(k)
    directory.mkdir(parents=True, exist_ok=True)
    for existing in directory.glob("*.pub"):
        if key_id(load_public_key(existing)) == kid:
            raise TrustStoreError("key is already trusted", subject=str(existing))
    name = label or public_key_file.stem
    if not name.replace("-", "").replace("_", "").isalnum():
        raise TrustStoreError(f"label {name!r} must be letters, digits, '-' or '_'")
    target = directory / f"{name}.pub"
    if target.exists():
        raise TrustStoreError(
            "a different key already uses this label",
            subject=str(target),
            hint="pass another label",
        )
    atomic_write(target, public_pem(k))
    return TrustedKey(kid, name, fingerprint(k), k, target)


def list_keys(directory: Path) -> list[TrustedKey]:
    out = []
    for path in sorted(directory.glob("*.pub")):
        k = load_public_key(path)
        out.append(TrustedKey(key_id(k), path.stem, fingerprint(k), k, path))
    return out


def remove_key(directory: Path, kid_or_label: str) -> TrustedKey:
    for key in list_keys(directory):
        if kid_or_label in (key.key_id, key.label):
            assert key.path is not None
            key.path.unlink()
            return key
    raise TrustStoreError(f"no trusted key {kid_or_label!r}", subject=str(directory))
