"""The console's own Ed25519 key: signs evidence packs so the central system can prove
them untouched. Generated on first use, kept 0600 in the app data directory."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edgeconsole.core.atomic import fsync_dir
from edgeconsole.core.errors import JournalError
from edgeconsole.journal.paths import app_data_dir, ensure_dir

KEY_NAME = "console_ed25519.pem"


def fingerprint(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_pem(data: bytes, subject: str) -> Ed25519PublicKey:
    if len(data) > 4096:
        raise JournalError("public key file is too large", subject=subject)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise JournalError("not a PEM public key", subject=subject) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise JournalError("public key is not Ed25519", subject=subject)
    return key


def verify_signature(public: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public.verify(signature, data)
        return True
    except InvalidSignature:
        return False


@dataclass
class ConsoleKey:
    private: Ed25519PrivateKey
    path: Path

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    @classmethod
    def load_existing(cls, directory: Path | None = None) -> ConsoleKey | None:
        """This console's key if it was ever made (verifying never creates one)."""
        d = directory if directory is not None else app_data_dir()
        if not (d / KEY_NAME).exists():
            return None
        return cls.load_or_create(d)

    @classmethod
    def load_or_create(cls, directory: Path | None = None) -> ConsoleKey:
        d = ensure_dir(directory if directory is not None else app_data_dir())
        path = d / KEY_NAME
        if path.exists():
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                # Someone loosened it (copy, unzip): tighten rather than sign with an exposed key
                # silently; the permission is what keeps other local users out.
                os.chmod(path, 0o600)
            data = path.read_bytes()
            if len(data) > 4096:
                raise JournalError("console key file is too large", subject=str(path))
            try:
                key = serialization.load_pem_private_key(data, password=None)
            except (ValueError, TypeError) as exc:
                raise JournalError(
                    "console key is unreadable",
                    subject=str(path),
                    hint="move it aside; a new key is made on next export (tell the central "
                    "system the new fingerprint)",
                ) from exc
            if not isinstance(key, Ed25519PrivateKey):
                raise JournalError("console key is not Ed25519", subject=str(path))
            return cls(key, path)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_name(f".{KEY_NAME}.tmp-{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # never replaces a key another process made meanwhile
        except FileExistsError:
            tmp.unlink()
            return cls.load_or_create(d)
        tmp.unlink()
        fsync_dir(d)
        return cls(key, path)
