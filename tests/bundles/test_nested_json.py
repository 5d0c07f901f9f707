"""Deeply nested JSON inside a bundle (issue 13): a hostile manifest.sig or
manifest.json is refused with a sentence by verify, inspect and flash (no
traceback), and one such file does not fail a whole bundle-library scan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeconsole.bundles.errors import BundleSchemaError, BundleSignatureError
from edgeconsole.bundles.manifest import encode_manifest
from edgeconsole.cli.main import main
from edgeconsole.session import workshop as bj
from tests.fixtures.bundles import BundleKit, Member

DEEP = b"[" * 50_000 + b"]" * 50_000  # 100 kB: under every size cap, far too deep


def _deep_sig(kit: BundleKit, path: Path) -> Path:
    files = {"model.onnx": kit.model_bytes()}
    m = kit.manifest(files)
    members = [Member(n, d) for n, d in files.items()]
    return kit.write(path, members, manifest=m, sig_bytes=DEEP[:30_000] + DEEP[-30_000:])


def _deep_manifest(kit: BundleKit, path: Path) -> Path:
    # Validly signed by a trusted key: the nesting is met after the signature check.
    return kit.write(path, [], manifest_bytes=DEEP)


def _deep_inside_manifest(kit: BundleKit, path: Path) -> Path:
    files = {"model.onnx": kit.model_bytes()}
    m = kit.manifest(files, quantization={"mode": "none", "x": json.loads("[" * 60 + "]" * 60)})
    m["quantization"]["x"] = "placeholder"
    raw = encode_manifest(m).replace(b'"placeholder"', b"[" * 3000 + b"]" * 3000)
    return kit.write(path, [Member(n, d) for n, d in files.items()], manifest_bytes=raw)


def test_a_deep_signature_file_is_refused_as_a_signature_problem(
    bundle_kit: BundleKit, tmp_path: Path
) -> None:
    p = _deep_sig(bundle_kit, tmp_path / "deep-sig.ecb")
    with pytest.raises(BundleSignatureError, match=r"manifest\.sig is nested deeper"):
        bundle_kit.verify(p)


@pytest.mark.parametrize("make", [_deep_manifest, _deep_inside_manifest])
def test_a_deep_manifest_is_refused_as_a_schema_problem(
    bundle_kit: BundleKit, tmp_path: Path, make: object
) -> None:
    p = make(bundle_kit, tmp_path / "deep-manifest.ecb")  # type: ignore[operator]
    with pytest.raises(BundleSchemaError, match=r"manifest\.json is nested deeper"):
        bundle_kit.verify(p)


@pytest.mark.parametrize("make", [_deep_sig, _deep_manifest])
@pytest.mark.parametrize("command", ["verify", "inspect"])
def test_bundle_commands_say_one_sentence(
    bundle_kit: BundleKit,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: object,
    command: str,
) -> None:
    p = make(bundle_kit, tmp_path / "hostile.ecb")  # type: ignore[operator]
    trust = bundle_kit.trust_dir("a")
    code = main(["bundle", command, str(p), "--trust", str(trust)])
    out, err = capsys.readouterr()
    assert code != 0
    assert "nested deeper than 64 levels" in out + err, out + err
    assert "Traceback" not in out + err and "RecursionError" not in out + err


def test_flash_refuses_before_touching_the_device(
    bundle_kit: BundleKit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The flash path verifies first (the device is never reached: its port does
    not even exist)."""
    p = _deep_sig(bundle_kit, tmp_path / "hostile.ecb")
    trust = bundle_kit.trust_dir("a")
    from edgeconsole.session.targets import verified_payload

    with pytest.raises(BundleSignatureError, match="nested deeper"):
        verified_payload(p, trust, hardware_id=None, installed_version=None)


def test_one_hostile_bundle_does_not_fail_the_library_scan(
    bundle_kit: BundleKit, tmp_path: Path
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    bundle_kit.good(library / "a-good.ecb")
    _deep_sig(bundle_kit, library / "b-deep-sig.ecb")
    _deep_manifest(bundle_kit, library / "c-deep-manifest.ecb")
    (library / "d-garbage-sig.ecb").write_bytes(
        bundle_kit.write(
            tmp_path / "garbage.ecb",
            [Member("model.onnx", bundle_kit.model_bytes())],
            manifest=bundle_kit.manifest({"model.onnx": bundle_kit.model_bytes()}),
            sig_bytes=b"\xff not json",
        ).read_bytes()
    )
    trust = bundle_kit.trust_dir("a")
    rows = {r.path.name: r for r in bj.scan_library(library, trust)}
    assert set(rows) == {"a-good.ecb", "b-deep-sig.ecb", "c-deep-manifest.ecb", "d-garbage-sig.ecb"}
    assert rows["a-good.ecb"].verified
    for name in ("b-deep-sig.ecb", "c-deep-manifest.ecb", "d-garbage-sig.ecb"):
        assert not rows[name].verified and rows[name].reason, rows[name]
    assert "nested deeper" in rows["b-deep-sig.ecb"].reason
    assert "nested deeper" in rows["c-deep-manifest.ecb"].reason
