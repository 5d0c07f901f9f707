"""Ed25519 signing keys and the ``manifest.sig`` document.

``manifest.sig`` is a JSON list of ``{"key_id": ..., "signature": ...}`` objects;
each signature is Ed25519 over the exact bytes of ``manifest.json`` (base64).
A key id is the first 16 bytes (32 hex digits) of SHA-256 over the raw public key,
so it is stable whatever file format the key is stored in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edgeconsole.bundles.errors import BundleSignatureError, TrustStoreError
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded

MAX_SIG_BYTES = 64 * 1024
MAX_SIGNATURES = 16
MAX_KEY_FILE_BYTES = 16 * 1024


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw(public_key)).hexdigest()[:32]


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """Full SHA-256 of the raw key, grouped for reading aloud over a phone."""
    h = hashlib.sha256(_raw(public_key)).hexdigest()
    return ":".join(h[i : i + 4] for i in range(0, len(h), 4))


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class KeyPair:
    private_path: Path
    public_path: Path
    key_id: str


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: never overwrite a key; the mode is set at creation, never widened.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, mode)


def generate_keypair(
    out_dir: Path, name: str = "signing", passphrase: bytes | None = None
) -> KeyPair:
    """Create ``NAME.key`` (PKCS#8 PEM, mode 0600, encrypted if a passphrase is
    given) and ``NAME.pub`` (SubjectPublicKeyInfo PEM) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = out_dir / f"{name}.key", out_dir / f"{name}.pub"
    for p in (priv_path, pub_path):
        if p.exists():
            raise TrustStoreError(
                "key file already exists",
                subject=str(p),
                hint="choose another --out directory or remove the old key",
            )
    key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    priv_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    _write_new(priv_path, priv_pem, 0o600)
    _write_new(pub_path, public_pem(key.public_key()), 0o644)
    return KeyPair(priv_path, pub_path, key_id(key.public_key()))


def _read_key_file(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise TrustStoreError("key file is larger than 16 KiB", subject=str(path))
        return path.read_bytes()
    except OSError as exc:
        raise TrustStoreError(
            f"cannot read key file: {exc.strerror or exc}", subject=str(path)
        ) from exc


def load_private_key(path: Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as exc:  # encrypted without passphrase, or passphrase for a plain key
        raise TrustStoreError(
            f"private key passphrase problem: {exc}",
            subject=str(path),
            hint="give --passphrase-file for an encrypted key",
        ) from exc
    except ValueError as exc:
        raise TrustStoreError(
            "not a PEM private key, or wrong passphrase",
            subject=str(path),
            hint="give the .key file written by 'edgeconsole bundle keygen'",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise TrustStoreError("private key is not Ed25519", subject=str(path))
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise TrustStoreError(
            "not a PEM public key",
            subject=str(path),
            hint="trust stores hold the .pub files from 'bundle keygen'",
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise TrustStoreError("public key is not Ed25519", subject=str(path))
    return key


def sign_manifest(manifest_bytes: bytes, keys: list[Ed25519PrivateKey]) -> bytes:
    entries = [
        {
            "key_id": key_id(k.public_key()),
            "signature": base64.b64encode(k.sign(manifest_bytes)).decode("ascii"),
        }
        for k in keys
    ]
    return json.dumps(entries, sort_keys=True, separators=(",", ":")).encode("ascii")


@dataclass(frozen=True)
class SignatureEntry:
    key_id: str
    signature: bytes


def parse_signatures(data: bytes, subject: str) -> list[SignatureEntry]:
    try:
        obj: Any = loads_bounded(data, max_bytes=MAX_SIG_BYTES, what="manifest.sig")
    except JSONRefused as exc:
        raise BundleSignatureError(exc.what, subject=subject) from exc
    if not isinstance(obj, list):
        raise BundleSignatureError("manifest.sig must be a JSON list", subject=subject)
    if len(obj) > MAX_SIGNATURES:
        raise BundleSignatureError(f"more than {MAX_SIGNATURES} signatures", subject=subject)
    out: list[SignatureEntry] = []
    for i, e in enumerate(obj):
        if not isinstance(e, dict) or set(e) != {"key_id", "signature"}:
            raise BundleSignatureError(
                f"signature {i} must be {{key_id, signature}}", subject=subject
            )
        kid, sig = e["key_id"], e["signature"]
        if not isinstance(kid, str) or not isinstance(sig, str):
            raise BundleSignatureError(f"signature {i} fields must be strings", subject=subject)
        try:
            raw = base64.b64decode(sig, validate=True)
        except ValueError as exc:
            raise BundleSignatureError(f"signature {i} is not base64", subject=subject) from exc
        out.append(SignatureEntry(kid, raw))
    return out


def verify_one(public_key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True
