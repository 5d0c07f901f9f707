"""``edgeconsole export --out PATH [--since T] [--until T] [--target T ...]`` writes a signed
evidence pack; ``edgeconsole export verify PACK [--key KEY ...]`` checks one against the
console keys you trust and names every problem; ``edgeconsole export key [--out FILE]``
shows this console's public key (give it to whoever verifies its packs)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError

_REL = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, now_ns: int | None = None) -> int:
    """ISO 8601 (naive = local time) or relative ("90m", "2h", "7d" = that long ago) -> wall ns."""
    import time

    t = text.strip()
    m = _REL.match(t)
    if m:
        now = now_ns if now_ns is not None else time.time_ns()
        return now - int(float(m.group(1)) * _UNIT[m.group(2)] * 1e9)
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"cannot read time {text!r}",
            hint="use ISO 8601 like 2025-03-01T08:00 or a span like 2h, 30m, 7d",
        ) from exc
    if dt.tzinfo is None:
        dt = dt.astimezone()  # the technician's local time
    return int(dt.astimezone(UTC).timestamp() * 1e9)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export", help="write a signed evidence pack, or verify one", description=__doc__
    )
    p.add_argument(
        "verb",
        nargs="?",
        choices=["verify", "key"],
        help="verify PACK instead of exporting; key: print this console's public key",
    )
    p.add_argument("pack", nargs="?", type=Path, help="pack folder to verify")
    p.add_argument(
        "--out",
        type=Path,
        help="pack folder to create (must not exist); with `key`: write the public key there",
    )
    p.add_argument("--since", help="start of the time range (ISO 8601 or 2h/30m/7d ago)")
    p.add_argument("--until", help="end of the time range")
    p.add_argument("--target", action="append", help="only these targets (repeatable)")
    p.add_argument(
        "--journal", type=Path, default=None, help="journal directory (default: app data)"
    )
    p.add_argument("--no-recordings", action="store_true", help="leave recordings out")
    p.add_argument(
        "--key",
        type=Path,
        action="append",
        default=[],
        metavar="KEY",
        help="verify: also trust this console public key (PEM file, or a folder of *.pem/*.pub); "
        "repeatable. This console's own key is always trusted unless --no-own-key",
    )
    p.add_argument(
        "--no-own-key",
        action="store_true",
        help="verify: do not trust this console's own key (only the --key ones)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.verb == "verify":
        return _verify(args)
    if args.verb == "key":
        return _show_key(args)
    if args.out is None:
        raise ConfigError(
            "--out PATH is required", hint="e.g. edgeconsole export --out /media/usb/pack"
        )
    from edgeconsole.session.evidence import (
        ConsoleKey,
        EvidencePackJob,
        ExportRequest,
        SettingsStore,
        journal_dir,
    )

    jdir = args.journal if args.journal is not None else journal_dir()
    if not (jdir / "audit.db").exists():
        raise ConfigError("no journal found", subject=str(jdir), hint="pass --journal DIR")
    try:
        settings = SettingsStore(jdir.parent / "site.json").load()
    except ConfigError as exc:
        print(f"edgeconsole: warning: {exc}", file=sys.stderr)
        from edgeconsole.session.evidence import SiteSettings

        settings = SiteSettings()
    since = parse_time(args.since) if args.since else None
    until = parse_time(args.until) if args.until else None
    if since is not None and until is not None and since > until:
        raise ConfigError("--since is after --until")
    key = ConsoleKey.load_or_create()
    last = [-1.0]

    def progress(stage: str, frac: float) -> None:
        if frac >= 0 and not args.json and frac - last[0] >= 0.05:
            last[0] = frac
            print(f"  {frac * 100:5.1f}%  {stage}", file=sys.stderr)

    job = EvidencePackJob(
        jdir,
        settings,
        key,
        ExportRequest(args.out, since, until, args.target, not args.no_recordings),
        progress=progress,
    )
    res = job.run()
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(res.path),
                    "files": len(res.files),
                    "bytes": res.total_bytes,
                    "seconds": round(res.seconds, 3),
                    "key_fingerprint": key.fingerprint,
                }
            )
        )
    else:
        print(
            f"evidence pack written: {res.path} ({len(res.files)} files, {res.total_bytes} bytes, "
            f"{res.seconds:.1f} s), signed by {key.fingerprint}"
        )
    return 0


def _show_key(args: argparse.Namespace) -> int:
    from edgeconsole.session.evidence import ConsoleKey, public_pem

    key = ConsoleKey.load_or_create()
    pem = public_pem(key.public)
    if args.out is not None:
        if args.out.exists():
            raise ConfigError("already exists", subject=str(args.out), hint="pick a new file name")
        args.out.write_bytes(pem)
    if args.json:
        print(json.dumps({"fingerprint": key.fingerprint, "public_key_pem": pem.decode()}))
    else:
        print(f"console key {key.fingerprint}", file=sys.stderr)
        if args.out is None:
            print(pem.decode(), end="")
        else:
            print(f"public key written to {args.out}", file=sys.stderr)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from edgeconsole.session.evidence import trusted_keys, verify_pack

    if args.pack is None:
        raise ConfigError("which pack?", hint="edgeconsole export verify PACK")
    if args.no_own_key and not args.key:
        raise ConfigError(
            "--no-own-key needs at least one --key", hint="name the console key(s) you trust"
        )
    trusted, key_problems = trusted_keys(args.key, own=not args.no_own_key)
    rep = verify_pack(args.pack, trusted)
    rep.problems[:0] = key_problems
    if args.json:
        print(
            json.dumps(
                {
                    "ok": rep.ok,
                    "problems": rep.problems,
                    "checked_files": rep.checked_files,
                    "key_fingerprint": rep.fingerprint,
                    "signed_by": rep.signer or None,
                    "trusted_keys": [
                        {"key": k.label, "fingerprint": k.fingerprint} for k in trusted
                    ],
                    "site": rep.site,
                    "technician": rep.technician,
                }
            )
        )
    elif rep.ok:
        print(
            f"OK: {args.pack}: {rep.checked_files} files match, signed by {rep.signer} "
            f"({rep.fingerprint}); site {rep.site!r}, technician {rep.technician!r}"
        )
    else:
        print(f"FAILED: {args.pack}: {len(rep.problems)} problem(s)")
        for p in rep.problems:
            print(f"  - {p}")
    return 0 if rep.ok else 1
