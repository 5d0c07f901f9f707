"""The bundle reader end to end (tar headers, manifest, payload hashing, ONNX checks)
on mutations of a real signed bundle: every result is a verified bundle whose
payload hashes hold, or a BundleError; nothing else, nothing left behind."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from edgeconsole.bundles.reader import read_bundle
from edgeconsole.bundles.tarstream import TarHeaderReader
from edgeconsole.core.errors import BundleError
from tests.fuzz._bundle import bundle_bytes, describe
from tests.fuzz._settings import count, fuzz

_DIR = Path(tempfile.mkdtemp(prefix="ec-fuzz-tar-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)


def _mutate(data: bytes, draw: st.DataObject) -> bytes:
    buf = bytearray(data)
    for _ in range(draw.draw(st.integers(1, 4))):
        kind = draw.draw(st.sampled_from(["flip", "byte", "truncate", "block", "field", "dup"]))
        # Headers and the manifest sit in the first few blocks: aim there most of the time.
        hi = draw.draw(st.sampled_from([min(len(buf), 3072), len(buf)]))
        if not buf:
            break
        pos = draw.draw(st.integers(0, max(0, hi - 1)))
        if kind == "flip" and pos < len(buf):
            buf[pos] ^= 1 << draw.draw(st.integers(0, 7))
        elif kind == "byte" and pos < len(buf):
            buf[pos] = draw.draw(st.integers(0, 255))
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "block":
            buf[pos:pos] = draw.draw(st.binary(min_size=512, max_size=512))
        elif kind == "field":
            # A numeric tar field (size/mode/mtime/checksum) rewritten: octal, base-256, junk.
            start = (pos // 512) * 512 + draw.draw(st.sampled_from([100, 124, 136, 148, 156]))
            value = draw.draw(
                st.one_of(
                    st.integers(0, 8**11 - 1).map(lambda n: b"%011o\0" % n),
                    st.binary(min_size=12, max_size=12).map(lambda b: b"\x80" + b[1:]),
                    st.binary(min_size=1, max_size=12),
                )
            )
            buf[start : start + len(value)] = value
        elif kind == "dup":
            blk = (pos // 512) * 512
            buf[blk:blk] = buf[blk : blk + 512]
    return bytes(buf)


@fuzz(quick=60)
@given(st.data())
def test_mutated_bundles_verify_or_are_refused(data: st.DataObject) -> None:
    count("tar reader: mutated real bundle (read_bundle)")
    blob = _mutate(bundle_bytes(), data)
    path = _DIR / f"b{os.getpid()}.ecb"
    path.write_bytes(blob)
    try:
        vb = read_bundle(path, None, describe=describe, mode="memory")
    except BundleError as exc:
        assert str(exc)
        return
    # Accepted without a trust store: the payload must still be exactly what it lists.
    for name, entry in vb.manifest.files.items():
        assert hashlib.sha256(vb.file_bytes(name)).hexdigest() == entry.sha256
    assert not vb.trusted


@fuzz(quick=60)
@given(st.binary(max_size=4096))
def test_header_walk_on_arbitrary_bytes(data: bytes) -> None:
    count("tar reader: header walk on arbitrary bytes")
    path = _DIR / f"h{os.getpid()}.tar"
    path.write_bytes(data)
    with path.open("rb") as f:
        hdr = TarHeaderReader(f, "fuzz.tar")
        try:
            for _ in range(64):
                m = hdr.next_member()
                if m is None:
                    break
                assert 0 <= m.size <= len(data)
                hdr.advance(len(f.read(m.size)))
                hdr.skip_padding(m.size)
        except BundleError as exc:
            assert str(exc)


def _block(name: bytes, size: int, typeflag: bytes) -> bytes:
    b = bytearray(512)
    b[0 : len(name)] = name
    b[100:108] = b"0000644\0"
    b[124:136] = b"%011o\0" % size
    b[136:148] = b"00000000000\0"
    b[156:157] = typeflag
    b[257:265] = b"ustar\x0000"
    b[148:156] = b" " * 8
    b[148:156] = b"%06o\0 " % sum(b)
    return bytes(b)


def pax_archive(value: str) -> bytes:
    record_body = f" size={value}\n".encode()
    n = len(record_body)
    length = n + len(str(n + len(str(n))))
    record = str(length).encode() + record_body
    pax = _block(b"PaxHeader", len(record), b"x") + record + bytes((-len(record)) % 512)
    return pax + _block(b"manifest.json", 2, b"0") + b"{}" + bytes(510) + bytes(1024)


@fuzz(quick=60)
@given(
    st.one_of(
        st.sampled_from(["\u00b2", "\u0663\u0664", "9" * 5000, "1e3", "+5", " 7", "", "0x10"]),
        st.text(max_size=30),
    )
)
def test_pax_size_values_are_numbers_or_refused(value: str) -> None:
    count("tar reader: pax size values")
    path = _DIR / f"p{os.getpid()}.tar"
    path.write_bytes(pax_archive(value))
    with path.open("rb") as f:
        try:
            m = TarHeaderReader(f, "fuzz.tar").next_member()
        except BundleError as exc:
            assert str(exc)
            return
    assert m is not None and value.isascii() and value.isdigit() and m.size == int(value)
