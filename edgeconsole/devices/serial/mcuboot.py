"""Check an MCUboot firmware image the way ``imgtool verify`` and MCUboot itself do.

An image is ``header (hdr_size) + body (img_size) + [protected TLVs] + TLVs``.
The hash TLV (SHA-256/384/512) covers header, body and the protected TLVs; the
signature TLV signs that hash (Ed25519) or the same bytes (ECDSA, RSA-PSS), and
a KEYHASH or PUBKEY TLV names the key. The structures and TLV numbers are
``smpclient.mcuboot``'s; the checks are written here because a file from a
technician's USB stick is hostile until proven otherwise: every offset and
length is bounded before it is used, and every refusal is a sentence.

:func:`inspect_image` reads what the image says about itself; :func:`check_image`
additionally proves its hash and its signature against keys the person trusts.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from smpclient.mcuboot import (
    IMAGE_F,
    IMAGE_HEADER_SIZE,
    IMAGE_HEADER_STRUCT,
    IMAGE_MAGIC,
    IMAGE_TLV,
    IMAGE_TLV_INFO_MAGIC,
    IMAGE_TLV_INFO_STRUCT,
    IMAGE_TLV_PROT_INFO_MAGIC,
    IMAGE_TLV_STRUCT,
)

from edgeconsole.core.errors import ImageError

#: A firmware image larger than this is refused before it is read (MCU flash is MBs).
MAX_IMAGE_BYTES = 64 * 1024 * 1024
#: A PEM key file larger than this is not a key.
MAX_KEY_BYTES = 64 * 1024

_HASHES = {
    IMAGE_TLV.SHA256: ("sha256", hashes.SHA256),
    IMAGE_TLV.SHA384: ("sha384", hashes.SHA384),
    IMAGE_TLV.SHA512: ("sha512", hashes.SHA512),
}
_SIGNATURES = {
    IMAGE_TLV.ED25519: "ed25519",
    IMAGE_TLV.ECDSA_SIG: "ecdsa",
    IMAGE_TLV.RSA2048_PSS: "rsa2048",
    IMAGE_TLV.RSA3072_PSS: "rsa3072",
}
_ENCRYPTED = IMAGE_F.ENCRYPTED_AES128 | IMAGE_F.ENCRYPTED_AES256
#: Vendor and image-class UUIDs (protected TLVs). MCUboot and imgtool number them
#: 0x74/0x75; ``smpclient.mcuboot.IMAGE_TLV`` says 0x80/0x81, which no tool writes.
TLV_UUID_VID = 0x74
TLV_UUID_CID = 0x75


@dataclass(frozen=True)
class Version:
    """An MCUboot image version (``major.minor.revision+build``)."""

    major: int
    minor: int
    revision: int
    build: int = 0

    def __str__(self) -> str:
        # Zephyr's image manager reports "1.2.3", or "1.2.3.4" with a build number.
        base = f"{self.major}.{self.minor}.{self.revision}"
        return f"{base}.{self.build}" if self.build else base

    @property
    def key(self) -> tuple[int, int, int]:
        """What MCUboot compares by default (build numbers only when configured)."""
        return (self.major, self.minor, self.revision)

    @staticmethod
    def parse(text: str) -> Version:
        """``"1.2.3"``, ``"1.2.3.4"`` or ``"1.2.3+4"`` (what devices and imgtool print)."""
        parts = text.strip().replace("+", ".").split(".")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"not a version: {text!r}") from None
        if not 1 <= len(nums) <= 4 or any(n < 0 for n in nums):
            raise ValueError(f"not a version: {text!r}")
        nums += [0] * (4 - len(nums))
        return Version(*nums)


@dataclass(frozen=True)
class TrustedKey:
    """A public key the person trusts to sign firmware; ``label`` says which file."""

    label: str
    kind: str  # ed25519, ecdsa-p256, ecdsa-p384, rsa2048, rsa3072
    public: object  # a cryptography public key
    #: The bytes MCUboot embeds and KEYHASH hashes (SubjectPublicKeyInfo; RSA: PKCS#1).
    embedded: bytes

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.embedded).hexdigest()[:16]


@dataclass(frozen=True)
class Tlv:
    type: int
    value: bytes
    protected: bool


@dataclass(frozen=True)
class ImageFacts:
    """What an MCUboot image says about itself (nothing proven yet)."""

    size: int
    version: Version
    load_addr: int
    hdr_size: int
    img_size: int
    flags: int
    hash_type: str
    tlv_hash: bytes  # the hash TLV's value: what a device's image state reports
    hash_region_end: int
    tlvs: tuple[Tlv, ...]
    file_sha256: str
    trailing: int = 0  # bytes after the TLV area (padding to the slot, or junk)

    @property
    def bootable(self) -> bool:
        return not self.flags & IMAGE_F.NON_BOOTABLE

    def tlv(self, kind: int) -> bytes | None:
        return next((t.value for t in self.tlvs if t.type == kind), None)

    @property
    def vid(self) -> bytes | None:
        return self.tlv(TLV_UUID_VID)

    @property
    def cid(self) -> bytes | None:
        return self.tlv(TLV_UUID_CID)

    @property
    def signature_types(self) -> tuple[str, ...]:
        return tuple(_SIGNATURES[IMAGE_TLV(t.type)] for t in self.tlvs if t.type in _SIGNATURES)


@dataclass(frozen=True)
class ImageCheck:
    """An image whose hash was recomputed and whose signature was verified."""

    facts: ImageFacts
    signed_by: TrustedKey | None  # None only when the caller allowed unsigned images
    notes: tuple[str, ...] = field(default=())

    @property
    def version(self) -> Version:
        return self.facts.version

    def to_json(self) -> dict[str, object]:
        f = self.facts
        return {
            "version": str(f.version),
            "size": f.size,
            "hash": f.tlv_hash.hex(),
            "hash_type": f.hash_type,
            "file_sha256": f.file_sha256,
            "bootable": f.bootable,
            "signed_by": self.signed_by.label if self.signed_by else None,
            "key_fingerprint": self.signed_by.fingerprint if self.signed_by else None,
            "signature_types": list(f.signature_types),
            "vid": f.vid.hex() if f.vid else None,
            "cid": f.cid.hex() if f.cid else None,
            "notes": list(self.notes),
        }


def _bad(what: str, subject: str, hint: str = "build and sign the image again") -> ImageError:
    return ImageError(what, subject=subject, hint=hint)


def _tlv_area(data: bytes, off: int, magic: int, subject: str, what: str) -> tuple[list[Tlv], int]:
    """The TLVs of the area at ``off`` and where the area ends (every length bounded)."""
    if off + IMAGE_TLV_INFO_STRUCT.size > len(data):
        raise _bad(f"the image is truncated: its {what} TLV area is missing", subject)
    got, total = IMAGE_TLV_INFO_STRUCT.unpack_from(data, off)
    if got != magic:
        raise _bad(
            f"the image's {what} TLV area has the wrong magic (0x{got:04x}, "
            f"expected 0x{magic:04x}): not a complete MCUboot image",
            subject,
        )
    end = off + total
    if total < IMAGE_TLV_INFO_STRUCT.size or end > len(data):
        raise _bad(f"the image is truncated: its {what} TLV area says {total} B", subject)
    tlvs: list[Tlv] = []
    pos = off + IMAGE_TLV_INFO_STRUCT.size
    protected = magic == IMAGE_TLV_PROT_INFO_MAGIC
    while pos < end:
        if pos + IMAGE_TLV_STRUCT.size > end:
            raise _bad(f"the image's {what} TLV area ends inside a TLV header", subject)
        kind, length = IMAGE_TLV_STRUCT.unpack_from(data, pos)
        pos += IMAGE_TLV_STRUCT.size
        if pos + length > end:
            raise _bad(
                f"a TLV (type 0x{kind:02x}, {length} B) runs past the end of the {what} area",
                subject,
            )
        tlvs.append(Tlv(kind, bytes(data[pos : pos + length]), protected))
        pos += length
    return tlvs, end


def inspect_image(data: bytes, subject: str = "image") -> ImageFacts:
    """Parse an MCUboot image (header and TLVs); raise :class:`ImageError` with a
    sentence when it is not one. Nothing is trusted yet: see :func:`check_image`."""
    if len(data) > MAX_IMAGE_BYTES:
        raise _bad(
            f"the file is {len(data)} B, larger than any MCU firmware image "
            f"({MAX_IMAGE_BYTES // (1024 * 1024)} MB)",
            subject,
            "pick the signed .bin image of the build (zephyr.signed.bin)",
        )
    if len(data) < IMAGE_HEADER_SIZE:
        raise _bad(
            f"the file is {len(data)} B: too short for an MCUboot header",
            subject,
            "pick the signed .bin image of the build (zephyr.signed.bin)",
        )
    magic, load_addr, hdr_size, prot_size, img_size, flags, *ver = IMAGE_HEADER_STRUCT.unpack_from(
        data, 0
    )
    if magic != IMAGE_MAGIC:
        raise _bad(
            "not an MCUboot image (no image header magic): an unsigned binary, a hex file "
            "or another format",
            subject,
            "sign it with imgtool (zephyr.signed.bin is the one to upload)",
        )
    if hdr_size < IMAGE_HEADER_SIZE or hdr_size > len(data):
        raise _bad(f"the image header says it is {hdr_size} B long: not a valid header", subject)
    body_end = hdr_size + img_size
    if body_end > len(data):
        raise _bad(
            f"the image is truncated: its header promises {img_size} B of code after "
            f"{hdr_size} B of header, the file has {len(data)} B",
            subject,
            "copy the file again; it was cut short",
        )
    tlvs: list[Tlv] = []
    pos = body_end
    if prot_size:
        prot, pos = _tlv_area(data, pos, IMAGE_TLV_PROT_INFO_MAGIC, subject, "protected")
        if pos - body_end != prot_size:
            raise _bad(
                f"the protected TLV area is {pos - body_end} B, the header says {prot_size} B",
                subject,
            )
        tlvs += prot
    hash_region_end = pos
    plain, end = _tlv_area(data, pos, IMAGE_TLV_INFO_MAGIC, subject, "")
    tlvs += plain
    found = [t for t in plain if t.type in _HASHES]
    if not found:
        raise _bad("the image has no hash TLV: MCUboot cannot boot it", subject)
    if len(found) > 1:
        raise _bad("the image has more than one hash TLV: MCUboot refuses it", subject)
    name, _alg = _HASHES[IMAGE_TLV(found[0].type)]
    return ImageFacts(
        size=len(data),
        version=Version(*ver),
        load_addr=load_addr,
        hdr_size=hdr_size,
        img_size=img_size,
        flags=flags,
        hash_type=name,
        tlv_hash=found[0].value,
        hash_region_end=hash_region_end,
        tlvs=tuple(tlvs),
        file_sha256=hashlib.sha256(data).hexdigest(),
        trailing=len(data) - end,
    )


def _verify(key: TrustedKey, kind: int, sig: bytes, data: bytes, digest: bytes, alg: type) -> bool:
    try:
        pub = key.public
        if kind == IMAGE_TLV.ED25519 and isinstance(pub, ed25519.Ed25519PublicKey):
            pub.verify(sig, digest)  # imgtool signs the image hash with Ed25519
        elif kind == IMAGE_TLV.ECDSA_SIG and isinstance(pub, ec.EllipticCurvePublicKey):
            if len(sig) < 2:
                return False
            der = sig[: sig[1] + 2]  # older imgtools padded the DER signature
            pub.verify(der, data, ec.ECDSA(alg()))
        elif kind in (IMAGE_TLV.RSA2048_PSS, IMAGE_TLV.RSA3072_PSS) and isinstance(
            pub, rsa.RSAPublicKey
        ):
            if pub.key_size != (2048 if kind == IMAGE_TLV.RSA2048_PSS else 3072):
                return False
            pub.verify(sig, data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def check_image(
    data: bytes,
    keys: Iterable[TrustedKey],
    *,
    subject: str = "image",
    allow_unsigned: bool = False,
) -> ImageCheck:
    """Prove the image's hash and its signature by one of ``keys`` (what MCUboot does at
    boot). Raises :class:`ImageError` with a sentence on any failure."""
    facts = inspect_image(data, subject)
    keys = list(keys)
    kind = next(t.type for t in facts.tlvs if t.type in _HASHES and not t.protected)
    name, alg = _HASHES[IMAGE_TLV(kind)]
    region = data[: facts.hash_region_end]
    digest = hashlib.new(name, region).digest()
    if digest != facts.tlv_hash:
        raise _bad(
            f"the image's {name} does not match its content: the file was changed or "
            "damaged after it was signed",
            subject,
            "copy the image again from the build",
        )
    notes: list[str] = []
    if facts.flags & _ENCRYPTED:
        raise _bad(
            "the image is encrypted: EdgeConsole cannot check it before upload",
            subject,
            "upload the unencrypted signed image, or use the vendor's tool",
        )
    if facts.trailing:
        notes.append(f"{facts.trailing} B after the TLV area (padding)")
    sigs = [t for t in facts.tlvs if t.type in _SIGNATURES and not t.protected]
    if not sigs:
        if allow_unsigned:
            notes.append("the image is not signed (allowed by the person)")
            return ImageCheck(facts, None, tuple(notes))
        raise _bad(
            "the image is not signed: a device whose MCUboot checks signatures will "
            "refuse to boot it",
            subject,
            "sign it with the device's key (imgtool sign --key ...)",
        )
    if not keys:
        raise ImageError(
            "no trusted firmware key: EdgeConsole cannot tell who signed this image",
            subject=subject,
            hint="name the device's public key (--key KEY.pem, or imgtool getpub -e pem)",
        )
    keyhash = facts.tlv(IMAGE_TLV.KEYHASH)
    pubkey = facts.tlv(IMAGE_TLV.PUBKEY)
    for key in keys:
        if keyhash is not None and hashlib.new(name, key.embedded).digest() != keyhash:
            continue
        if pubkey is not None and pubkey != key.embedded:
            continue
        for sig in sigs:
            if _verify(key, sig.type, sig.value, region, digest, alg):
                return ImageCheck(facts, key, tuple(notes))
    labels = ", ".join(k.label for k in keys)
    raise ImageError(
        f"the image's signature ({'/'.join(facts.signature_types)}) is not by a key you "
        f"trust ({labels}): it may be for another board or from another vendor",
        subject=subject,
        hint="check that this is the right image for this device, or trust its signing key",
    )


def load_key(path: Path) -> TrustedKey:
    """A public key from a PEM file (a public key, or a private key whose public half
    is taken; the private half is never kept)."""
    try:
        if path.stat().st_size > MAX_KEY_BYTES:
            raise ImageError("the file is too large to be a key", subject=str(path))
        raw = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read the key file: {exc.strerror}", subject=str(path)) from None
    public: object
    try:
        if b"PRIVATE KEY" in raw:
            public = serialization.load_pem_private_key(raw, password=None).public_key()
        else:
            public = serialization.load_pem_public_key(raw)
    except (ValueError, TypeError) as exc:
        raise ImageError(
            f"not a PEM key file ({exc})",
            subject=str(path),
            hint="export the public key with `imgtool getpub -k KEY -e pem`",
        ) from None
    return trusted(public, path.name)


def trusted(public: object, label: str) -> TrustedKey:
    """Wrap a cryptography public key as MCUboot embeds it."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if isinstance(public, ed25519.Ed25519PublicKey):
        return TrustedKey(label, "ed25519", public, public.public_bytes(der, spki))
    if isinstance(public, ec.EllipticCurvePublicKey):
        curve = {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384"}.get(public.curve.name)
        if curve is None:
            raise ImageError(f"MCUboot has no {public.curve.name} signatures", subject=label)
        return TrustedKey(label, curve, public, public.public_bytes(der, spki))
    if isinstance(public, rsa.RSAPublicKey):
        if public.key_size not in (2048, 3072):
            raise ImageError(f"MCUboot has no RSA-{public.key_size} signatures", subject=label)
        pkcs1 = serialization.PublicFormat.PKCS1
        return TrustedKey(label, f"rsa{public.key_size}", public, public.public_bytes(der, pkcs1))
    raise ImageError(
        "MCUboot cannot verify this kind of key (Ed25519, ECDSA P-256/P-384, RSA-2048/3072)",
        subject=label,
    )


def load_keys(paths: Iterable[Path]) -> list[TrustedKey]:
    """Keys from files and folders (every ``*.pem`` in a folder)."""
    out: list[TrustedKey] = []
    for p in paths:
        if p.is_dir():
            out += [load_key(f) for f in sorted(p.glob("*.pem"))]
        else:
            out.append(load_key(p))
    return out


def vendor_uuid(text: str) -> bytes:
    """The UUID imgtool writes for ``--vid TEXT``: a raw UUID, or uuid5(DNS, domain)."""
    return _uuid(uuid.NAMESPACE_DNS, text)


def class_uuid(text: str, vendor: str | None) -> bytes:
    """The UUID imgtool writes for ``--cid TEXT`` (under the vendor's UUID, if any)."""
    space = uuid.UUID(bytes=vendor_uuid(vendor)) if vendor else None
    return _uuid(space, text)


def _uuid(namespace: uuid.UUID | None, text: str) -> bytes:
    text = text.strip()
    try:
        return uuid.UUID(text).bytes
    except ValueError:
        pass
    if namespace is None:
        raise ImageError(
            f"{text!r} is not a UUID, and without a vendor it cannot name an image class",
            hint="give --vid too, as imgtool was given",
        )
    return uuid.uuid5(namespace, text).bytes


def version_of(data: bytes) -> Version | None:
    """The header version of an MCUboot image, or None when ``data`` is not one."""
    if len(data) < IMAGE_HEADER_SIZE or struct.unpack_from("<I", data)[0] != IMAGE_MAGIC:
        return None
    return Version(*IMAGE_HEADER_STRUCT.unpack_from(data, 0)[6:])
