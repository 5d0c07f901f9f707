"""The console's Ed25519 signature embedded in the HTML report, and its check.

A signed report is ``BODY + SIGNATURE BLOCK``:

    ...report body (everything signed)...
    <!--EDGECONSOLE-SIGNATURE {"alg": "Ed25519", "public_key": ..., "signature": ...} -->
    <section class="signature">...the same facts, visible...</section></main></body></html>

The signature covers the exact bytes of BODY. The visible part after the comment is
rebuilt from the comment's JSON on verify and compared byte for byte, so nothing in
the file can change without verify failing: not a figure, not a space, not the tail.
User-supplied text in the body is HTML-escaped, so it can never contain the marker.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from html import escape
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edgeconsole.core.errors import ConfigError
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded
from edgeconsole.journal.keys import ConsoleKey, fingerprint, load_public_pem
from edgeconsole.journal.paths import app_data_dir

MARKER = b"<!--EDGECONSOLE-SIGNATURE "
END = b" -->\n"
MAX_REPORT_BYTES = 64 * 1024 * 1024
_FIELDS = ("alg", "key_fingerprint", "public_key", "signed_bytes", "sha256", "signature")


def _tail(sig: dict[str, object]) -> bytes:
    """The visible signature section, a pure function of the signature JSON."""
    return (
        '<section class="signature"><h2>Signature</h2>'
        "<p>Signed by this console's Ed25519 key. Check with "
        "<code>edgeconsole validate verify REPORT.html</code>; any edit makes it fail.</p>"
        f"<table><tr><th>key</th><td><code>{escape(str(sig['key_fingerprint']))}</code></td></tr>"
        f"<tr><th>report sha256</th><td><code>{escape(str(sig['sha256']))}</code></td></tr>"
        f'<tr><th>signature</th><td><code class="sig">{escape(str(sig["signature"]))}</code>'
        "</td></tr></table></section>\n</main></body></html>\n"
    ).encode()


def sign_report(body: bytes, key: ConsoleKey) -> bytes:
    """BODY plus the signature block (BODY must not contain the marker)."""
    if MARKER in body:
        raise ConfigError("report body contains the signature marker; refusing to sign")
    raw_pub = key.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sig = {
        "alg": "Ed25519",
        "key_fingerprint": key.fingerprint,
        "public_key": base64.b64encode(raw_pub).decode(),
        "signed_bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "signature": base64.b64encode(key.sign(body)).decode(),
    }
    block = MARKER + json.dumps(sig, sort_keys=True).encode() + END
    return body + block + _tail(sig)


@dataclass(frozen=True)
class VerifyOutcome:
    valid: bool
    reason: str
    key_fingerprint: str = ""
    known_key: str = ""  # "this console", "given key", or "" (not known here)
    sha256: str = ""

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def _fail(reason: str, fp: str = "") -> VerifyOutcome:
    return VerifyOutcome(False, reason, fp)


def verify_report_bytes(
    data: bytes, trusted: list[Ed25519PublicKey] | None = None
) -> VerifyOutcome:
    """Check the embedded signature; ``trusted``: keys the signer must be one of."""
    at = data.rfind(MARKER)
    if at < 0:
        return _fail("no EdgeConsole signature in the file (not a signed report, or cut short)")
    body = data[:at]
    end = data.find(END, at)
    if end < 0:
        return _fail("the signature block is damaged")
    raw_block = data[at + len(MARKER) : end]
    try:
        sig = loads_bounded(raw_block, max_bytes=64 * 1024, what="the signature block")
    except JSONRefused as exc:
        return _fail(exc.what)
    if not isinstance(sig, dict) or sorted(sig) != sorted(_FIELDS) or sig.get("alg") != "Ed25519":
        return _fail("the signature block has unexpected fields")
    # Only the exact text sign_report writes is accepted: no spacing or base64 variants.
    if json.dumps(sig, sort_keys=True).encode() != raw_block:
        return _fail("the signature block was edited (not in its signed form)")
    fp = str(sig.get("key_fingerprint", ""))
    try:
        raw_pub = base64.b64decode(str(sig["public_key"]), validate=True)
        signature = base64.b64decode(str(sig["signature"]), validate=True)
        pub = Ed25519PublicKey.from_public_bytes(raw_pub)
    except (ValueError, TypeError):
        return _fail("the signature block holds a malformed key or signature", fp)
    if (
        base64.b64encode(raw_pub).decode() != sig["public_key"]
        or base64.b64encode(signature).decode() != sig["signature"]
    ):
        return _fail("the signature block was edited (non-canonical base64)", fp)
    if fingerprint(pub) != fp:
        return _fail("the key fingerprint does not match the embedded key", fp)
    if data[end + len(END) :] != _tail(sig):
        return _fail("the report was changed after signing (text after the signature)", fp)
    digest = hashlib.sha256(body).hexdigest()
    if sig["signed_bytes"] != len(body) or sig["sha256"] != digest:
        return _fail("the report was changed after signing (content hash differs)", fp)
    try:
        pub.verify(signature, body)
    except InvalidSignature:
        return _fail("the signature does not match the report", fp)
    known = ""
    if trusted is not None:
        if not any(fingerprint(k) == fp for k in trusted):
            return VerifyOutcome(
                False,
                "the signature is intact but made by a key you did not trust",
                fp,
                sha256=digest,
            )
        known = "given key"
    else:
        own = app_data_dir() / "console_ed25519.pem"
        if own.is_file():
            try:
                if ConsoleKey.load_or_create(own.parent).fingerprint == fp:
                    known = "this console"
            except Exception:  # an unreadable own key only means we cannot say "this console"
                known = ""
    return VerifyOutcome(True, "signature valid; the report is as signed", fp, known, digest)


def verify_report(path: str | Path, pubkeys: list[str | Path] | None = None) -> VerifyOutcome:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_REPORT_BYTES:
            return _fail(f"file is {size} bytes, larger than any report")
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read report: {exc.strerror or exc}", subject=str(p)) from exc
    trusted = None
    if pubkeys:
        trusted = []
        for k in pubkeys:
            kp = Path(k)
            try:
                trusted.append(load_public_pem(kp.read_bytes()[:8192], str(kp)))
            except OSError as exc:
                raise ConfigError(
                    f"cannot read public key: {exc.strerror or exc}", subject=str(kp)
                ) from exc
    return verify_report_bytes(data, trusted)
