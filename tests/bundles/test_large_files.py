"""Members over 2 GiB and 4 GiB, as sparse files: sizes are 64-bit everywhere.

The fast tests build archives whose big member is a hole in a sparse file and
check that the reader refuses a lie about its size *before reading it* (length
mismatch against the signed manifest, or a header that runs past the end of the
file), with the exact 64-bit numbers in the message. The slow tests hash a
2.5 GiB and a 4.5 GiB member end to end.
"""

from __future__ import annotations

import hashlib
import tarfile
import time
from pathlib import Path

import pytest

from edgeconsole.bundles.errors import BundleFormatError, BundleTamperedError
from edgeconsole.bundles.manifest import choose_chunk_size, chunk_count, encode_manifest
from edgeconsole.bundles.signing import sign_manifest
from edgeconsole.bundles.tarstream import BLOCK, parse_number
from tests.fixtures.bundles import BundleKit, file_entry

GIB = 1 << 30
SIZES = [int(2.5 * GIB), int(4.5 * GIB), 9 * GIB]  # 9 GiB needs a pax size record


def _header(name: str, size: int) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = size, 0o644, 0
    return ti.tobuf(format=tarfile.PAX_FORMAT)


def _sparse_bundle(
    kit: BundleKit,
    path: Path,
    big: int,
    *,
    declared: int | None = None,
    file_hash: str = "0" * 64,
    chunks: list[str] | None = None,
    cut_at: int | None = None,
) -> Path:
    """manifest, sig, model.onnx, then weights.data of ``big`` zero bytes (a hole)."""
    model = kit.model_bytes()
    declared = big if declared is None else declared
    chunk_size = choose_chunk_size(declared + len(model))
    m = kit.manifest({"model.onnx": model}, chunk_size=chunk_size)
    m["files"]["model.onnx"] = file_entry(model, chunk_size)
    m["files"]["weights.data"] = {
        "length": declared,
        "sha256": file_hash,
        "chunks": chunks if chunks is not None else ["0" * 64] * chunk_count(declared, chunk_size),
    }
    mb = encode_manifest(m)
    sig = sign_manifest(mb, [kit.keys["a"]])
    with path.open("wb") as f:
        for name, data in (("manifest.json", mb), ("manifest.sig", sig), ("model.onnx", model)):
            f.write(_header(name, len(data)) + data + bytes((-len(data)) % BLOCK))
        f.write(_header("weights.data", big))
        data_start = f.tell()
        end = data_start + big + (-big) % BLOCK
        if cut_at is not None:
            f.truncate(data_start + cut_at)
        else:
            f.seek(end)
            f.write(bytes(2 * BLOCK))
    return path


@pytest.mark.parametrize("big", SIZES)
def test_length_mismatch_refused_before_reading(
    bundle_kit: BundleKit, tmp_path: Path, big: int
) -> None:
    p = _sparse_bundle(bundle_kit, tmp_path / "big.ecb", big, declared=big - 1)
    assert p.stat().st_size > big  # the archive really is that long (a sparse file)
    t0 = time.perf_counter()
    with pytest.raises(
        BundleTamperedError, match=f"weights.data is {big} bytes in the archive but {big - 1}"
    ):
        bundle_kit.verify(p)
    assert time.perf_counter() - t0 < 5, "the reader must refuse before hashing gigabytes"


@pytest.mark.parametrize("big", SIZES)
def test_header_past_end_of_file_is_truncation(
    bundle_kit: BundleKit, tmp_path: Path, big: int
) -> None:
    p = _sparse_bundle(bundle_kit, tmp_path / "cut.ecb", big, cut_at=1 << 20)
    with pytest.raises(BundleFormatError, match=r"truncated: member 'weights\.data' needs bytes"):
        bundle_kit.verify(p)


def test_number_fields_are_64_bit() -> None:
    # 11 octal digits hold up to 8 GiB - 1; base-256 holds the rest.
    assert parse_number(b"77777777777\0", "size", "t") == 8 * GIB - 1
    b256 = bytes([0x80]) + (9 * GIB).to_bytes(11, "big")
    assert parse_number(b256, "size", "t") == 9 * GIB
    assert chunk_count(9 * GIB, choose_chunk_size(9 * GIB)) <= 8192


def _zero_hashes(length: int, chunk_size: int) -> tuple[str, list[str]]:
    whole = hashlib.sha256()
    block = bytes(chunk_size)
    full, rest = divmod(length, chunk_size)
    for _ in range(full):
        whole.update(block)
    whole.update(block[:rest])
    chunks = [hashlib.sha256(block).hexdigest()] * full
    if rest:
        chunks.append(hashlib.sha256(block[:rest]).hexdigest())
    return whole.hexdigest(), chunks


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("big", SIZES[1:2])  # 4.5 GiB: past both 2^31 and 2^32
def test_sparse_member_verifies_end_to_end(bundle_kit: BundleKit, tmp_path: Path, big: int) -> None:
    model_len = len(bundle_kit.model_bytes())
    chunk_size = choose_chunk_size(big + model_len)
    digest, chunks = _zero_hashes(big, chunk_size)
    p = _sparse_bundle(bundle_kit, tmp_path / "ok.ecb", big, file_hash=digest, chunks=chunks)
    vb = bundle_kit.verify(p)
    assert vb.manifest.files["weights.data"].length == big
    assert vb.manifest.payload_bytes == big + model_len
