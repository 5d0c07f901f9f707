"""The report signature: intact reports verify, any edit anywhere does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeconsole.commission.signature import (
    MARKER,
    sign_report,
    verify_report,
    verify_report_bytes,
)
from edgeconsole.journal.keys import ConsoleKey, public_pem

BODY = b"<!DOCTYPE html><html><body><main><h1>Report</h1><p>accuracy 97.5%</p>\n"


@pytest.fixture
def key(tmp_path: Path) -> ConsoleKey:
    return ConsoleKey.load_or_create(tmp_path / "key")


def test_signed_report_verifies_and_names_the_key(key: ConsoleKey) -> None:
    out = verify_report_bytes(sign_report(BODY, key))
    assert out.valid, out.reason
    assert out.key_fingerprint == key.fingerprint


def test_every_single_byte_edit_is_caught(key: ConsoleKey) -> None:
    signed = sign_report(BODY, key)
    for i in range(len(signed)):
        edited = bytearray(signed)
        edited[i] = (edited[i] + 1) % 256
        assert not verify_report_bytes(bytes(edited)).valid, f"edit at byte {i} not caught"


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda s: s.replace(b"97.5%", b"99.5%"), "changed after signing"),
        (lambda s: s + b"<p>added</p>", "text after the signature"),
        (lambda s: s[:-10], "text after the signature"),
        (lambda s: s.replace(b"</main></body>", b"</main><script></script></body>"), "after"),
        (lambda s: s[: s.rfind(MARKER)], "no EdgeConsole signature"),
        (lambda s: s.replace(b'"alg": "Ed25519"', b'"alg": "none"'), "unexpected fields"),
        (lambda s: s.replace(MARKER + b"{", MARKER + b"{{"), "not valid JSON"),
        (lambda s: b"", "no EdgeConsole signature"),
    ],
)
def test_edits_fail_with_a_reason(key: ConsoleKey, edit, reason: str) -> None:  # type: ignore[no-untyped-def]
    out = verify_report_bytes(edit(sign_report(BODY, key)))
    assert not out.valid
    assert reason in out.reason


def test_resigning_with_another_key_is_caught_by_a_trusted_key(
    key: ConsoleKey, tmp_path: Path
) -> None:
    other = ConsoleKey.load_or_create(tmp_path / "other")
    forged = sign_report(BODY.replace(b"97.5", b"99.9"), other)
    assert verify_report_bytes(forged).valid  # intact, but by someone else...
    pub = tmp_path / "console.pub.pem"
    pub.write_bytes(public_pem(key.public))
    report = tmp_path / "r.html"
    report.write_bytes(forged)
    out = verify_report(report, [pub])
    assert not out.valid and "did not trust" in out.reason
    report.write_bytes(sign_report(BODY, key))
    assert verify_report(report, [pub]).valid


def test_swapped_key_with_old_fingerprint_is_caught(key: ConsoleKey) -> None:
    signed = sign_report(BODY, key)
    import base64

    from cryptography.hazmat.primitives import serialization

    raw = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    orig = base64.b64encode(
        key.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    out = verify_report_bytes(signed.replace(orig, base64.b64encode(raw)))
    assert not out.valid


def test_marker_in_body_is_refused(key: ConsoleKey) -> None:
    from edgeconsole.core.errors import ConfigError

    with pytest.raises(ConfigError):
        sign_report(BODY + MARKER, key)
