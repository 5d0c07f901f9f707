"""The app's trust store as the window lists it: which keys may sign bundles, which
are the DEMO keys shipped in ``sample_models/trust`` (trusted only if a person imports
them), and importing or removing one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgeconsole.bundles.errors import TrustStoreError
from edgeconsole.bundles.signing import key_id, load_public_key
from edgeconsole.bundles.trust import TrustStore, import_key, remove_key
from edgeconsole.journal.paths import ensure_dir
from edgeconsole.workshop.access import sample_models_dir


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


def remove_trust_key(directory: Path, kid_or_label: str) -> KeyRow:
    """Stop trusting a key (by id or label); returns the row it had."""
    k = remove_key(directory, kid_or_label)
    assert k.path is not None
    return KeyRow(k.key_id, k.label, k.fingerprint, k.path, k.key_id in demo_key_ids())


@dataclass(frozen=True)
class SigningKeyFiles:
    private_path: Path
    public_path: Path
    key_id: str
    fingerprint: str


def create_signing_key(
    directory: Path, name: str = "signing", passphrase: bytes | None = None
) -> SigningKeyFiles:
    """A new Ed25519 pair: ``NAME.key`` (0600, encrypted with ``passphrase`` if given)
    and ``NAME.pub`` for trust stores; never overwrites a key."""
    from edgeconsole.bundles.signing import fingerprint, generate_keypair

    kp = generate_keypair(directory, name, passphrase)
    return SigningKeyFiles(
        kp.private_path, kp.public_path, kp.key_id, fingerprint(load_public_key(kp.public_path))
    )


def load_trust(directory: Path) -> TrustStore | None:
    """The store, or None when it holds no keys yet (nothing is trusted)."""
    if not directory.is_dir() or not any(directory.glob("*.pub")):
        return None
    return TrustStore.load(directory)
