"""A camera setup as a file: what was set, on which camera, applied in a safe order.

The file is small JSON a person can read and diff, kept with the commissioning
report and the evidence pack. Reading it is strict (size cap, known keys only,
scalar values, GenICam names), and applying it tries every feature and reports
each refusal in a sentence instead of stopping at the first one, so the
technician sees everything that does not fit this camera at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconsole.core.atomic import atomic_write
from edgeconsole.core.clock import wall_iso
from edgeconsole.core.errors import CameraFeatureError, ConfigError, EdgeConsoleError
from edgeconsole.sources.genicam.device import CameraDevice
from edgeconsole.sources.genicam.features import STANDARD_FEATURES, Value, check_name

FORMAT = "edgeconsole.camera-setup"
VERSION = 1
MAX_BYTES = 64 * 1024
MAX_FEATURES = 64
_TOP_KEYS = {"format", "version", "saved", "camera", "features", "units"}
_CAMERA_KEYS = {"backend", "vendor", "model", "serial"}


@dataclass
class CameraSetup:
    features: dict[str, Value]
    camera: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    saved: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "saved": self.saved,
            "camera": self.camera,
            "features": self.features,
            "units": self.units,
        }


def read_setup(device: CameraDevice) -> CameraSetup:
    """The camera's current setup: every standard feature it has that can be set."""
    features: dict[str, Value] = {}
    units: dict[str, str] = {}
    for info in device.features():
        if info.kind == "command" or info.value is None or not info.writable:
            continue
        features[info.name] = info.value
        if info.unit:
            units[info.name] = info.unit
    who = device.info
    camera = {
        "backend": who.backend,
        "vendor": who.vendor,
        "model": who.model,
        "serial": who.serial,
    }
    return CameraSetup(features=features, camera=camera, units=units, saved=wall_iso())


def save_setup(setup: CameraSetup, path: Path) -> Path:
    """Write atomically (temp file, fsync, rename): a crash leaves the old file or the new."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(setup.to_json(), indent=2).encode() + b"\n"
    atomic_write(path, data)
    return path


def _bad(path: Path, why: str) -> ConfigError:
    return ConfigError(
        why,
        subject=f"camera setup {path}",
        hint="save a fresh one with `edgeconsole camera save SOURCE FILE`",
    )


def load_setup(path: Path) -> CameraSetup:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise _bad(path, f"cannot be read: {exc.strerror or exc}") from exc
    if len(raw) > MAX_BYTES:
        raise _bad(path, f"is larger than {MAX_BYTES // 1024} KiB; a setup is a few hundred bytes")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _bad(path, "is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise _bad(path, f"is not valid JSON (line {exc.lineno}, column {exc.colno})") from exc
    if not isinstance(doc, dict):
        raise _bad(path, "must hold a JSON object")
    if doc.get("format") != FORMAT:
        raise _bad(path, f"is not a camera setup (format must be {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise _bad(path, f"has version {doc.get('version')!r}; this EdgeConsole reads {VERSION}")
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise _bad(path, f"has unknown keys: {', '.join(sorted(unknown)[:5])}")
    features = doc.get("features")
    if not isinstance(features, dict) or not features:
        raise _bad(path, "has no features")
    if len(features) > MAX_FEATURES:
        raise _bad(path, f"names {len(features)} features; at most {MAX_FEATURES}")
    clean: dict[str, Value] = {}
    for name, value in features.items():
        try:
            check_name(name)
        except CameraFeatureError as exc:
            raise _bad(path, f"feature {exc.what}") from exc
        if isinstance(value, float) and value != value:
            raise _bad(path, f"feature {name} has no value (NaN)")
        if not isinstance(value, int | float | str | bool) or (
            isinstance(value, str) and len(value) > 256
        ):
            raise _bad(path, f"feature {name} must be a number, text or true/false")
        clean[name] = value
    camera = doc.get("camera", {})
    if not isinstance(camera, dict) or set(camera) - _CAMERA_KEYS:
        raise _bad(path, f"camera must be an object with {', '.join(sorted(_CAMERA_KEYS))}")
    units = doc.get("units", {})
    if not isinstance(units, dict):
        raise _bad(path, "units must be an object")
    return CameraSetup(
        features=clean,
        camera={k: str(v)[:128] for k, v in camera.items()},
        units={str(k)[:128]: str(v)[:32] for k, v in units.items()},
        saved=str(doc.get("saved", ""))[:64],
    )


def _order(names: list[str]) -> list[str]:
    rank = {n: i for i, n in enumerate(STANDARD_FEATURES)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def apply_setup(
    device: CameraDevice, setup: CameraSetup, *, strict: bool = True
) -> list[dict[str, Any]]:
    """Set every feature of ``setup``; one result per feature (applied or why not).

    The trigger is switched off first (some cameras lock the format while waiting
    for triggers) and set last. ``strict``: raise CameraFeatureError after trying
    all of them when any was refused (a run must not start on a half-applied setup).
    """
    results: list[dict[str, Any]] = []
    names = _order(list(setup.features))
    if "TriggerMode" in setup.features:
        try:
            device.set_feature("TriggerMode", "Off")
        except EdgeConsoleError:
            pass  # reported below when TriggerMode itself is applied
    for name in names:
        value = setup.features[name]
        try:
            info = device.set_feature(name, value)
            results.append({"name": name, "value": info.value, "applied": True, "error": None})
        except EdgeConsoleError as exc:
            results.append({"name": name, "value": value, "applied": False, "error": str(exc)})
    refused = [r for r in results if not r["applied"]]
    if refused and strict:
        first = refused[0]["error"]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise CameraFeatureError(
            f"the camera setup could not be applied: {first}{more}",
            subject=device.info.label,
            hint="`edgeconsole camera load SOURCE FILE` lists every feature and why it was refused",
        )
    return results


def camera_mismatch(setup: CameraSetup, device: CameraDevice) -> str | None:
    """A sentence when the setup was saved on another camera model (still applicable)."""
    want = setup.camera.get("model")
    if want and want != device.info.model:
        return (
            f"this setup was saved on a {setup.camera.get('vendor', '')} {want} "
            f"({setup.camera.get('serial', '?')}), not on this {device.info.model}"
        )
    return None
