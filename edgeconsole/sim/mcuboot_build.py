"""Make a signed MCUboot image (what ``imgtool sign`` writes), for the virtual device's
factory firmware and its signing key. Tests check these images with imgtool itself."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from smpclient.mcuboot import (
    IMAGE_HEADER_STRUCT,
    IMAGE_MAGIC,
    IMAGE_TLV,
    IMAGE_TLV_INFO_MAGIC,
    IMAGE_TLV_INFO_STRUCT,
    IMAGE_TLV_STRUCT,
)

from edgeconsole.devices.serial.mcuboot import Version, trusted

HEADER_SIZE = 0x200
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _tlv(kind: int, value: bytes) -> bytes:
    return IMAGE_TLV_STRUCT.pack(kind, len(value)) + value


def build_image(body: bytes, version: Version, key: PrivateKey | None = None) -> bytes:
    """Header + body + TLVs (SHA-256, and KEYHASH + signature when ``key`` is given)."""
    header = IMAGE_HEADER_STRUCT.pack(
        IMAGE_MAGIC,
        0,
        HEADER_SIZE,
        0,
        len(body),
        0,
        version.major,
        version.minor,
        version.revision,
        version.build,
    )
    region = header.ljust(HEADER_SIZE, b"\0") + body
    digest = hashlib.sha256(region).digest()
    tlvs = _tlv(IMAGE_TLV.SHA256, digest)
    if key is not None:
        pub = trusted(key.public_key(), "factory")
        tlvs += _tlv(IMAGE_TLV.KEYHASH, hashlib.sha256(pub.embedded).digest())
        if isinstance(key, ed25519.Ed25519PrivateKey):
            tlvs += _tlv(IMAGE_TLV.ED25519, key.sign(digest))
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            tlvs += _tlv(IMAGE_TLV.ECDSA_SIG, key.sign(region, ec.ECDSA(hashes.SHA256())))
        else:
            kind = IMAGE_TLV.RSA2048_PSS if key.key_size == 2048 else IMAGE_TLV.RSA3072_PSS
            pss = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
            tlvs += _tlv(kind, key.sign(region, pss, hashes.SHA256()))
    info = IMAGE_TLV_INFO_STRUCT.pack(IMAGE_TLV_INFO_MAGIC, IMAGE_TLV_INFO_STRUCT.size + len(tlvs))
    return region + info + tlvs


def load_private_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    ):
        raise ValueError(f"{path}: not an Ed25519, ECDSA or RSA key")
    return key


def new_ed25519_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """A fresh signing key as ``imgtool keygen -t ed25519`` writes it (PKCS#8 PEM),
    and its public half next to it (``<name>.pub.pem``, what ``imgtool getpub -e pem``
    prints): the key the technician trusts."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(pem)
    tmp.chmod(0o600)
    tmp.replace(path)
    public_path(path).write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key


def public_path(private: Path) -> Path:
    return private.with_name(private.name.removesuffix(".pem") + ".pub.pem")


def app_body(name: str, version: Version, size: int = 24 * 1024) -> bytes:
    """A deterministic stand-in for an application binary (what the sim's factory holds)."""
    seed = f"{name} {version}".encode()
    text = b"EdgeConsole stock virtual device: " + seed + b"\n"
    out = bytearray(text)
    block = hashlib.sha256(seed).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])
