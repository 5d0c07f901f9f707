"""``edgeconsole cameras`` (discovery) and ``edgeconsole camera get|set|save|load``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    cams = sub.add_parser(
        "cameras",
        help="list industrial cameras (GigE Vision, USB3 Vision, Basler pylon)",
        description="Search for industrial cameras with Aravis (GigE Vision broadcast on each "
        "IPv4 interface, USB3 Vision) and pylon, and say what was searched.",
    )
    cams.add_argument("--json", action="store_true", help="print the result as JSON")
    cams.add_argument("--emulators", action="store_true", help="also list pylon's emulated camera")
    cams.set_defaults(func=_cameras)

    cam = sub.add_parser(
        "camera",
        help="read or set an industrial camera's features; save or load its setup",
        description="SOURCE is aravis://DEVICE_ID or pylon://SERIAL (see `edgeconsole cameras`).",
    )
    csub = cam.add_subparsers(dest="camera_command", metavar="ACTION", required=True)
    get = csub.add_parser("get", help="show features with their ranges and units")
    get.add_argument("source")
    get.add_argument("feature", nargs="?", help="one feature (default: the usual ones)")
    get.add_argument("--json", action="store_true")
    get.set_defaults(func=_get)
    put = csub.add_parser("set", help="set a feature (a command such as TriggerSoftware: no value)")
    put.add_argument("source")
    put.add_argument("feature")
    put.add_argument("value", nargs="?")
    put.add_argument("--json", action="store_true")
    put.set_defaults(func=_set)
    save = csub.add_parser(
        "save",
        help="save the camera's setup to a file (default: the reports folder, so it goes "
        "into evidence packs beside the commissioning reports)",
    )
    save.add_argument("source")
    save.add_argument("file", type=Path, nargs="?")
    save.set_defaults(func=_save)
    load = csub.add_parser("load", help="apply a saved setup file to the camera")
    load.add_argument("source")
    load.add_argument("file", type=Path)
    load.add_argument("--json", action="store_true")
    load.set_defaults(func=_load)
    frames = csub.add_parser(
        "frames",
        help="write frames of any source as PNGs for pylon's emulator (pylon://0815-0000?images=DIR)",
    )
    frames.add_argument("source", help="e.g. synthetic:conveyor?seed=7 or a video file")
    frames.add_argument("folder", type=Path)
    frames.add_argument("--frames", type=int, default=300)
    frames.set_defaults(func=_frames)


def _cameras(args: argparse.Namespace) -> int:
    from edgeconsole.session.cameras import discover_cameras

    result = discover_cameras(emulators=args.emulators)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for c in result["cameras"]:
        size = f"{c['width']}x{c['height']} {c['pixel_format']}" if c.get("width") else "-"
        busy = "  (in use by another program)" if c.get("in_use") else ""
        print(
            f"{c['source']:<36} {c['vendor']} {c['model']} ({c['serial']})  "
            f"{c['interface']} {c['address'] or ''}  {size}{busy}"
        )
    if not result["cameras"]:
        print("no industrial camera found")
    for s in result["searched"]:
        nets = ", ".join(f"{i['name']} {i['subnet']}" for i in s.get("interfaces", []))
        print(
            f"searched {s['backend']} {s['interface']}: {s['how']}"
            + (f" [{nets}]" if nets else "")
            + f", found {s['found']}"
        )
    for note in result["notes"]:
        print(f"note: {note}")
    return 0


def _feature_rows(infos: list[Any]) -> None:
    print(f"{'feature':<22}{'value':<22}{'range / choices':<40} access")
    for f in infos:
        access = (
            "rw"
            if f.writable and f.readable
            else "ro"
            if f.readable
            else ("wo" if f.writable else "--")
        )
        rng = f.range_text()
        if len(rng) > 38:
            rng = rng[:37] + "…"
        print(
            f"{f.name + ('*' if f.node != f.name else ''):<22}{f.value_text():<22}{rng:<40} "
            f"{access}"
        )
    if any(f.node != f.name for f in infos):
        aliases = ", ".join(f"{f.name}={f.node}" for f in infos if f.node != f.name)
        print(f"* this camera's own names: {aliases}")


def _get(args: argparse.Namespace) -> int:
    from edgeconsole.session.cameras import read_features

    camera, infos = (
        read_features(args.source, (args.feature,)) if args.feature else read_features(args.source)
    )
    if args.json:
        print(json.dumps({"camera": camera, "features": [f.to_json() for f in infos]}, indent=2))
        return 0
    print(f"{camera['vendor']} {camera['model']} ({camera['serial']}) {camera['source']}")
    _feature_rows(infos)
    return 0


def _parse_cli_value(text: str | None) -> Any:
    return None if text is None else text


def _set(args: argparse.Namespace) -> int:
    from edgeconsole.session.cameras import set_feature

    info = set_feature(args.source, args.feature, _parse_cli_value(args.value))
    if args.json:
        print(json.dumps(info.to_json(), indent=2))
    elif args.value is None:
        print(f"{info.name}: executed")
    else:
        print(f"{info.name} = {info.value_text()}{info.alias_note}")
    return 0


def _save(args: argparse.Namespace) -> int:
    from edgeconsole.session.cameras import save_camera_setup

    path = args.file
    if path is None:
        from edgeconsole.session.cameras import default_setup_path

        path = default_setup_path(args.source)
    path = save_camera_setup(args.source, path)
    print(f"camera setup saved to {path}")
    return 0


def _load(args: argparse.Namespace) -> int:
    from edgeconsole.session.cameras import load_camera_setup

    applied, note = load_camera_setup(args.source, args.file)
    bad = [a for a in applied if not a["applied"]]
    if args.json:
        print(json.dumps({"applied": applied, "note": note}, indent=2))
    else:
        for a in applied:
            print(
                f"{'ok ' if a['applied'] else 'NO '} {a['name']} = {a['value']}"
                + (f": {a['error']}" if a["error"] else "")
            )
        if note:
            print(f"note: {note}")
        print(f"applied {len(applied) - len(bad)} of {len(applied)} features")
    return 1 if bad else 0


def _frames(args: argparse.Namespace) -> int:
    from edgeconsole.session.cameras import write_emulator_frames

    folder = write_emulator_frames(args.source, args.folder, args.frames)
    print(
        f"{args.frames} frames of {args.source} in {folder}; play them with "
        f"pylon://0815-0000?images={folder}"
    )
    return 0
