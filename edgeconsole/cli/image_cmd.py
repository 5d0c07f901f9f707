"""``edgeconsole image list|upload|test|confirm|revert|erase TARGET [FILE]``: firmware the
MCUboot way on a stock Zephyr device (no EdgeConsole firmware needed).

``upload`` checks the image as ``imgtool verify`` and MCUboot would (hash,
signature by a key you trust, version, board) before a byte is sent, then
uploads into slot 1 with resume. ``--test`` goes on: mark it for test, reset,
wait for the device, check it booted the image; ``--confirm`` then confirms
it. ``test`` and ``confirm`` do those steps for an image already uploaded.
``--permanent`` installs without a revert (only when asked). Keys: the app's
``firmware-keys`` folder plus ``--key PEM`` (``imgtool getpub -e pem``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edgeconsole.cli.mcumgr_cmd import common, progress_bar, stock_session


def register(sub: Any) -> None:
    p = sub.add_parser("image", help="MCUboot firmware images of a stock Zephyr device")
    ops = p.add_subparsers(dest="image_op", metavar="OP")

    s = ops.add_parser("list", help="capabilities and the image slots")
    s.add_argument("target")
    common(s, journal=False)
    s.set_defaults(func=cmd_list)

    s = ops.add_parser("upload", help="check an image, upload it into slot 1 (and test/confirm)")
    s.add_argument("target")
    s.add_argument("file", type=Path)
    _policy_args(s)
    then = s.add_mutually_exclusive_group()
    then.add_argument(
        "--test", action="store_const", dest="then", const="test", help="then test → reset"
    )
    then.add_argument(
        "--confirm",
        action="store_const",
        dest="then",
        const="confirm",
        help="then test → reset → check → confirm",
    )
    s.add_argument(
        "--permanent",
        action="store_true",
        help="install without a revert (MCUboot will not go back); needs --test or --confirm",
    )
    _reset_arg(s)
    common(s)
    s.set_defaults(func=cmd_upload, then=None)

    s = ops.add_parser("test", help="run slot 1's image on test: mark, reset, wait, check")
    s.add_argument("target")
    s.add_argument("--permanent", action="store_true", help="no revert (only when you mean it)")
    _reset_arg(s)
    common(s)
    s.set_defaults(func=cmd_test)

    s = ops.add_parser("confirm", help="confirm the image running on test")
    s.add_argument("target")
    common(s)
    s.set_defaults(func=cmd_confirm)

    s = ops.add_parser("revert", help="reset without confirming: MCUboot goes back")
    s.add_argument("target")
    _reset_arg(s)
    common(s)
    s.set_defaults(func=cmd_revert)

    s = ops.add_parser("erase", help="erase slot 1 (refused while it is pending or the fallback)")
    s.add_argument("target")
    common(s)
    s.set_defaults(func=cmd_erase)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _policy_args(s: Any) -> None:
    s.add_argument(
        "--key",
        type=Path,
        action="append",
        default=[],
        help="an MCUboot public key you trust (PEM; repeatable)",
    )
    s.add_argument("--allow-unsigned", action="store_true", help="accept an unsigned image")
    s.add_argument("--allow-downgrade", action="store_true", help="accept a lower version")
    s.add_argument("--vid", default=None, help="the vendor the device needs (as imgtool --vid)")
    s.add_argument("--cid", default=None, help="the image class (board) it needs (imgtool --cid)")


def _reset_arg(s: Any) -> None:
    s.add_argument(
        "--reset-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds to wait for the device after a reset (MCUboot may swap for a while)",
    )


def _slot_rows(images: list[Any]) -> str:
    lines = [f"{'slot':<5}{'version':<14}{'flags':<44}hash"]
    for s in images:
        lines.append(f"{s.slot:<5}{s.version:<14}{s.flags:<44}{s.hash[:16]}")
    if len(images) == 1:
        lines.append("1    (empty)")
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace) -> int:
    with stock_session(args, audit=False) as act:
        t = act.target
        caps = t.capabilities()
        images = t.images() if caps.has("image.list") else []
    if args.json:
        print(json.dumps({"capabilities": caps.to_json(), "images": [s.to_json() for s in images]}))
        return 0
    print(f"{caps.board or 'device'}: {caps.os_info or 'Zephyr'}")
    print(
        f"bootloader: {caps.bootloader or 'not reported'}, mode {caps.mode_name}"
        + (", downgrades prevented" if caps.no_downgrade else "")
    )
    for c in caps.items:
        mark = "yes" if c.available else "no "
        print(f"  [{mark}] {c.label}" + (f": {c.reason}" if c.reason else ""))
    if images:
        print(_slot_rows(images))
    return 0


def _result_text(result: Any) -> str:
    what = {
        "confirmed": "confirmed",
        "on-test": "on test: `edgeconsole image confirm` keeps it, a reset reverts it",
        "permanent": "installed permanently",
    }[result.outcome]
    signer = result.check.signed_by
    by = f", signed by {signer.label} ({signer.fingerprint})" if signer else ", unsigned"
    return (
        f"{result.previous} -> {result.version}: {what}{by}\n"
        f"  upload {result.upload_bytes_per_s / 1024:.1f} KB/s, {result.resumes} resume(s), "
        f"{result.seconds:.1f} s in all\n" + _slot_rows(result.images)
    )


def cmd_upload(args: argparse.Namespace) -> int:
    from edgeconsole.core.errors import ConfigError
    from edgeconsole.session.stock_actions import image_policy

    if args.permanent and args.then is None:
        raise ConfigError("--permanent installs at the reset: give --test or --confirm too")
    policy = image_policy(
        args.key,
        allow_unsigned=args.allow_unsigned,
        allow_downgrade=args.allow_downgrade,
        vid=args.vid,
        cid=args.cid,
    )
    with stock_session(args) as act:
        bar = progress_bar(args.json)
        if args.then is None:
            check, up = act.upload(args.file, policy, progress=bar)
            images = act.target.images()
            out: dict[str, Any] = {
                "image": check.to_json(),
                "images": [s.to_json() for s in images],
                "upload_bytes_per_s": round(up.bytes_per_s, 1),
                "resumes": up.resumes,
            }
            text = (
                f"{check.version} uploaded into slot 1 ({up.bytes_per_s / 1024:.1f} KB/s); "
                "`edgeconsole image test` runs it\n" + _slot_rows(images)
            )
        else:
            result = act.upgrade(
                args.file,
                policy,
                mode=args.then,
                permanent=args.permanent,
                progress=bar,
                reset_timeout_s=args.reset_timeout,
            )
            out, text = result.to_json(), _result_text(result)
    print(json.dumps(out) if args.json else text)
    return 0


def _images_out(args: argparse.Namespace, images: list[Any], text: str) -> int:
    if args.json:
        print(json.dumps({"images": [s.to_json() for s in images]}))
    else:
        print(text + "\n" + _slot_rows(images))
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    with stock_session(args) as act:
        images = act.test(permanent=args.permanent, reset_timeout_s=args.reset_timeout)
    running = next((s for s in images if s.active), None)
    state = "confirmed" if running and running.confirmed else "on test"
    return _images_out(args, images, f"runs {running.version if running else '?'} ({state})")


def cmd_confirm(args: argparse.Namespace) -> int:
    with stock_session(args) as act:
        images = act.confirm()
    running = next((s for s in images if s.active), None)
    return _images_out(args, images, f"{running.version if running else '?'} is confirmed")


def cmd_revert(args: argparse.Namespace) -> int:
    with stock_session(args) as act:
        images = act.revert(args.reset_timeout)
    running = next((s for s in images if s.active), None)
    return _images_out(args, images, f"MCUboot runs {running.version if running else '?'}")


def cmd_erase(args: argparse.Namespace) -> int:
    with stock_session(args) as act:
        act.erase()
        images = act.target.images()
    return _images_out(args, images, "slot 1 erased")
