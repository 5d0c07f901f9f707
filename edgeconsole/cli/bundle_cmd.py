"""``edgeconsole bundle keygen|build|verify|inspect|trust``: signed model bundles.

The flows are the bundle workshop's (``session.workshop``), the same the window's
wizard, trust store and inspector run; this module turns arguments into requests
and results into text.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import BundleError, ConfigError

HEADS = ("classify", "detect", "text-detect", "anomaly")


def register(sub: Any) -> None:
    bundle = sub.add_parser(
        "bundle",
        help="build, sign, verify and inspect model bundles",
        description="Signed model bundles (.ecb): one tar holding a signed "
        "manifest and the files it lists.",
    )
    bsub = bundle.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)

    kg = bsub.add_parser("keygen", help="create an Ed25519 signing key pair")
    kg.add_argument("--out", required=True, type=Path, help="folder for NAME.key and NAME.pub")
    kg.add_argument("--name", default="signing", help="file name stem (default: signing)")
    kg.add_argument("--passphrase-file", type=Path, help="encrypt the private key with this")
    kg.set_defaults(func=_keygen)

    b = bsub.add_parser("build", help="turn an ONNX model into a signed bundle")
    b.add_argument("model", type=Path, help="MODEL.onnx")
    b.add_argument("--name", required=True)
    b.add_argument("--version", required=True, type=int, help="integer, monotonic")
    b.add_argument("--head", choices=HEADS, help="output head (default: the description's)")
    b.add_argument("--labels", type=Path, help="text file, one label per line")
    b.add_argument(
        "--hardware-id",
        action="append",
        required=True,
        dest="hardware_ids",
        help="compatible hardware id (repeatable)",
    )
    b.add_argument(
        "--sign",
        action="append",
        required=True,
        type=Path,
        help="private key file (repeatable: one signature per key)",
    )
    b.add_argument("--passphrase-file", type=Path, help="passphrase of the signing key(s)")
    b.add_argument(
        "--description", type=Path, help="model.json whose preprocess/head/budget to take"
    )
    b.add_argument("--preprocess", help="preprocess as a JSON object (without --description)")
    b.add_argument("--budget-ms", type=float, help="latency budget in ms")
    b.add_argument(
        "--int8", action="store_true", help="ship an INT8 model (needs --calib for static)"
    )
    b.add_argument("--int8-mode", choices=("static", "dynamic"), default="static")
    b.add_argument("--calib", type=Path, help="calibration folder (images or .npy)")
    b.add_argument("--calib-limit", type=int, default=64)
    b.add_argument(
        "--compare-runs",
        type=int,
        default=200,
        help="timed runs per variant in the FP32-vs-INT8 table",
    )
    b.add_argument("--golden-input", type=Path, help=".npy tensor or image for the golden pair")
    b.add_argument("--expires-days", type=float, help="expire this many days after creation")
    b.add_argument(
        "--created", help="creation time (UTC, 2026-01-31T12:00:00Z); for reproducible builds"
    )
    b.add_argument("--min-agent-version")
    b.add_argument("--json", action="store_true", help="print the result as JSON")
    b.add_argument("-o", "--out", required=True, type=Path, help="OUT.ecb")
    b.set_defaults(func=_build)

    v = bsub.add_parser("verify", help="verify a bundle; exit 0 if it may be used, else 1")
    _verify_args(v)
    v.set_defaults(func=_verify)

    i = bsub.add_parser("inspect", help="what a bundle holds and who signed it")
    i.add_argument("bundle", type=Path)
    i.add_argument("--trust", type=Path, help="trust store to check the signers against")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_inspect)

    t = bsub.add_parser("trust", help="manage a trust store of public keys")
    tsub = t.add_subparsers(dest="trust_command", metavar="ACTION", required=True)
    tl = tsub.add_parser("list", help="list trusted keys with fingerprints")
    tl.add_argument("store", type=Path)
    tl.add_argument("--json", action="store_true")
    tl.set_defaults(func=_trust_list)
    ti = tsub.add_parser("import", help="trust a public key")
    ti.add_argument("store", type=Path)
    ti.add_argument("key", type=Path, help="a .pub file")
    ti.add_argument("--label")
    ti.set_defaults(func=_trust_import)
    tr = tsub.add_parser("remove", help="stop trusting a key (by id or label)")
    tr.add_argument("store", type=Path)
    tr.add_argument("key")
    tr.set_defaults(func=_trust_remove)


def _verify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", type=Path)
    p.add_argument("--trust", required=True, type=Path, help="trust store folder (*.pub)")
    p.add_argument("--threshold", type=int, help="signers required (default: the store's)")
    p.add_argument("--hardware-id", help="refuse unless built for this hardware id")
    p.add_argument("--installed-version", type=int, help="refuse versions lower than this")
    p.add_argument("--json", action="store_true")


# -- composition: the one door to a bundle's bytes is workshop.access (via session.workshop),
# imported on use so that building the parser stays light.


def describe_manifest(obj: dict[str, Any]) -> Any:
    from edgeconsole.session.workshop import describe_manifest as describe

    return describe(obj)


def open_verified(path: Path, trust_dir: Path, **kwargs: Any) -> Any:
    from edgeconsole.session.workshop import open_verified as door

    return door(path, trust_dir, **kwargs)


def _passphrase(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        data = path.read_bytes()[:4096].rstrip(b"\r\n")
    except OSError as exc:
        raise ConfigError(
            f"cannot read passphrase file: {exc.strerror}", subject=str(path)
        ) from exc
    if not data:
        raise ConfigError("passphrase file is empty", subject=str(path))
    return data


# -- keygen -----------------------------------------------------------------------


def _keygen(args: argparse.Namespace) -> int:
    from edgeconsole.session.workshop import create_signing_key

    kp = create_signing_key(args.out, args.name, _passphrase(args.passphrase_file))
    print(f"private key: {kp.private_path} (mode 0600; keep it secret)")
    print(f"public key:  {kp.public_path} (give this to trust stores)")
    print(f"key id:      {kp.key_id}")
    print(f"fingerprint: {kp.fingerprint}")
    return 0


# -- build ------------------------------------------------------------------------


def _load_description(args: argparse.Namespace) -> tuple[dict[str, Any], Path | None]:
    if args.description is not None:
        from edgeconsole.session.workshop import load_description

        desc, base = load_description(args.description)
        if args.preprocess:
            raise ConfigError("give --preprocess or --description, not both")
        return desc, base
    if args.head is None:
        raise ConfigError("--head is required without --description")
    pre = _preprocess_arg(args.preprocess) if args.preprocess else {}
    return {"preprocess": pre, "head": {"type": args.head}}, None


def _preprocess_arg(text: str) -> dict[str, Any]:
    """``--preprocess`` as a JSON object, or a sentence saying what is wrong with it."""
    example = '--preprocess \'{"resize": "stretch", "size": [48, 192]}\''
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        quotes = " (JSON needs double quotes around names and text)" if "'" in text else ""
        raise ConfigError(
            f"--preprocess is not JSON{quotes}: {getattr(exc, 'msg', 'nested too deeply')}",
            hint=f"e.g. {example}",
        ) from None
    if not isinstance(value, dict):
        raise ConfigError("--preprocess must be a JSON object", hint=f"e.g. {example}")
    return value


def _build(args: argparse.Namespace) -> int:
    from edgeconsole.session.workshop import BuildRequest, build

    if not args.model.is_file():
        raise ConfigError("model file not found", subject=str(args.model))
    desc, base = _load_description(args)
    if not args.model.name.endswith(".onnx"):
        raise ConfigError("the model must be an .onnx file", subject=str(args.model))
    head = dict(desc["head"])
    if args.head is not None and head.get("type") != args.head:
        if args.description is not None:
            raise ConfigError(
                f"--head {args.head} contradicts the description's {head.get('type')} head"
            )
        head = {"type": args.head}
    if args.labels is not None:
        labels = [
            ln.strip() for ln in args.labels.read_text(encoding="utf-8").splitlines() if ln.strip()
        ]
        head["labels"] = labels
    if isinstance(head.get("orientation"), dict) and base is None:
        raise ConfigError("an orientation model needs --description (its folder)")
    int8 = args.int8_mode if args.int8 else None
    if int8 == "static" and args.calib is None:
        raise ConfigError("static INT8 needs --calib DIR (or use --int8-mode dynamic)")
    created = (
        datetime.strptime(args.created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if args.created
        else datetime.now(UTC).replace(microsecond=0)
    )
    # ``-o`` replaces what is there, in a folder made for it, as a compiler's would.
    args.out.parent.mkdir(parents=True, exist_ok=True)
    outcome = build(
        BuildRequest(
            model=args.model,
            name=args.name,
            version=args.version,
            preprocess=desc["preprocess"],
            head=head,
            hardware_ids=args.hardware_ids,
            key_file=args.sign[0],
            extra_key_files=tuple(args.sign[1:]),
            out=args.out,
            passphrase=_passphrase(args.passphrase_file),
            budget_ms=args.budget_ms,
            int8=int8,
            calib_dir=args.calib,
            calib_limit=args.calib_limit,
            compare_runs=args.compare_runs,
            overwrite=True,
            expires=None
            if args.expires_days is None
            else created + timedelta(days=args.expires_days),
            created=created,
            min_agent_version=args.min_agent_version,
            description=desc,
            golden=desc.get("golden") or {},
            golden_dir=base,
            golden_input=args.golden_input,
        )
    )
    quant = outcome.quantization
    result = {
        "bundle": str(args.out),
        "bytes": outcome.size,
        "name": outcome.name,
        "version": outcome.version,
        "files": outcome.files,
        "quantization": quant,
        "signers": len(args.sign),
    }
    report = outcome.report
    if report is not None:
        result["int8_comparison"] = report.to_json()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        if report is not None:
            print(report.table())
        print(
            f"wrote {args.out} ({result['bytes']} bytes): {outcome.name} v{outcome.version}, "
            f"{len(outcome.files)} files, quantization {quant['mode']}, "
            f"{len(args.sign)} signature(s)"
        )
    return 0


# -- verify / inspect ---------------------------------------------------------------


def _verify(args: argparse.Namespace) -> int:
    try:
        vb = open_verified(
            args.bundle,
            args.trust,
            threshold=args.threshold,
            hardware_id=args.hardware_id,
            installed_version=args.installed_version,
            mode="verify",
        )
    except BundleError as exc:
        if args.json:
            print(json.dumps({"ok": False, "reason": str(exc)}))
        else:
            print(f"REFUSED {exc}")
        return 1
    m = vb.manifest
    signers = ", ".join(s.label or s.key_id for s in vb.signers if s.status == "verified")
    if args.json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "bundle": str(args.bundle),
                    "name": m.name,
                    "version": m.version,
                    "signers": vb.verified_signers,
                    "payload_bytes": m.payload_bytes,
                }
            )
        )
    else:
        print(
            f"OK {args.bundle.name}: {m.name} v{m.version}, signed by {signers}, "
            f"{len(m.files)} files, {m.payload_bytes} bytes verified"
        )
    return 0


def inspect_bundle(path: Path, trust_dir: Path | None) -> dict[str, Any]:
    """Everything ``bundle inspect`` shows; the window shows the same dict."""
    from edgeconsole.session.workshop import inspect_bundle as inspect

    return inspect(path, trust_dir)


def _inspect(args: argparse.Namespace) -> int:
    info = inspect_bundle(args.bundle, args.trust)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    out = sys.stdout
    out.write(
        f"{info['name']} v{info['version']}  ({info['bundle']}, {info['size_bytes']} "
        f"bytes, payload {info['payload_bytes']})\n"
    )
    out.write(
        f"  created {info['created']}, expires {info['expires'] or 'never'}"
        f"{' (EXPIRED)' if info['expired'] else ''}\n"
    )
    out.write(
        f"  hardware: {', '.join(info['hardware_ids'])}; head {info['head_type']}; "
        f"budget {info['latency_budget_ms']} ms; quantization "
        f"{info['quantization'].get('mode')}\n"
    )
    pre = info.get("preprocessing")
    if pre:
        fits = "fits the model" if pre["fits"] else "DOES NOT FIT the model"
        out.write(f"  preprocessing: {pre['text']}\n")
        out.write(
            f"    tensor per image {pre['produces']}; model input {pre['model_input']}: {fits}\n"
        )
        for problem in pre["problems"]:
            out.write(f"    ! {problem}\n")
        helper = pre.get("helper")
        if helper:
            out.write(f"    helper {helper['model']}: {helper['text']} -> {helper['produces']}\n")
    verdict = "TRUSTED" if info["trusted"] else f"NOT TRUSTED ({info['trust_reason']})"
    out.write(f"  signers: {verdict}\n")
    for s in info["signers"]:
        out.write(f"    {s['key_id']}  {s.get('label') or ''}  {s['status']}\n")
    for name, mi in info["models"].items():
        out.write(
            f"  model {name}: opsets {mi['opsets']}, IR {mi['ir_version']}, "
            f"{mi['parameters']} parameters, producer '{mi['producer']}'"
            f"{', quantized' if mi['quantized'] else ''}\n"
        )
        for kind in ("inputs", "outputs"):
            for t in mi[kind]:
                out.write(f"    {kind[:-1]:6} {t['name']}: {t['dtype']} {t['shape']}\n")
        ops = ", ".join(f"{k}×{v}" for k, v in mi["operators"].items())
        out.write(f"    operators: {ops}\n")
        if mi["metadata_props"]:
            out.write(f"    metadata: {mi['metadata_props']}\n")
    for n, f in info["files"].items():
        out.write(f"  file {n}: {f['length']} bytes sha256 {f['sha256'][:16]}…\n")
    return 0


# -- trust store --------------------------------------------------------------------


def _trust_list(args: argparse.Namespace) -> int:
    from edgeconsole.session.workshop import trust_keys

    keys = trust_keys(args.store)
    if args.json:
        print(
            json.dumps(
                [
                    {"key_id": k.key_id, "label": k.label, "fingerprint": k.fingerprint}
                    | ({"problem": k.problem} if k.problem else {})
                    for k in keys
                ],
                indent=2,
            )
        )
    else:
        for k in keys:
            print(f"{k.key_id}  {k.label:20}  {k.fingerprint or k.problem}")
    return 0


def _trust_import(args: argparse.Namespace) -> int:
    from edgeconsole.session.workshop import import_trust_key

    k = import_trust_key(args.store, args.key, args.label)
    print(f"trusted {k.label} ({k.key_id}) fingerprint {k.fingerprint}")
    return 0


def _trust_remove(args: argparse.Namespace) -> int:
    from edgeconsole.session.workshop import remove_trust_key

    k = remove_trust_key(args.store, args.key)
    print(f"removed {k.label} ({k.key_id})")
    return 0
