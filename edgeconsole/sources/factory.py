"""One string names any source: what the CLI, settings and the source picker use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from edgeconsole.core.errors import ConfigError
from edgeconsole.core.source import FrameSource

ACCEPTED_FORMS = (
    "a video file path, a folder of images, camera:N (or just N), "
    "rtsp://..., http(s)://..., aravis://[DEVICE_ID], pylon://[SERIAL] "
    "(industrial cameras; ?trigger=software&rate=PARTS_PER_MIN&setup=FILE&fps=F, "
    "pylon's emulator: &images=FOLDER), or "
    "synthetic:conveyor[?seed=0&fps=30&width=1280&height=720&frames=N&ppm=P"
    "&overlap=0..1&stop_at=FRAME&stop_frames=N&clock=1]"
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_CONVEYOR_KEYS = {
    "seed": int,
    "fps": float,
    "width": int,
    "height": int,
    "frames": int,
    "ppm": float,  # belt rate, parts per minute (sources/belt.py)
    "overlap": float,  # share of parts touching or overlapping the one ahead
    "stop_at": int,  # the belt stands still from this frame ...
    "stop_frames": int,  # ... for this many frames
    "clock": int,  # 1: the belt runs on the machine's monotonic clock (photo-eye sync)
}
_CONVEYOR_RANGES: dict[str, tuple[float | None, float | None]] = {
    "fps": (0.01, 240),
    "width": (64, 7680),
    "height": (48, 4320),
    "frames": (0, None),
    "ppm": (1, 6000),
    "overlap": (0, 1),
    "stop_at": (0, None),
    "stop_frames": (0, 10_000_000),
    "clock": (0, 1),
}
_STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
INDUSTRIAL_SCHEMES = ("aravis", "pylon")
_INDUSTRIAL_KEYS = ("trigger", "rate", "setup", "fps", "images")


@dataclass(frozen=True, slots=True)
class ParsedSpec:
    kind: str  # "file" | "folder" | "camera" | "stream" | "synthetic" | "industrial"
    target: str  # path, URL, camera index as text, scene name, or backend://id
    options: dict[str, float | int | str]


def _bad(spec: str, why: str) -> ConfigError:
    from edgeconsole.sources.mjpeg_http import redact  # OpenCV: not before the first paint

    shown = redact(spec) if len(spec) <= 200 else redact(spec[:200]) + "..."
    return ConfigError(f"{why}: {shown!r}", subject="source", hint=f"use {ACCEPTED_FORMS}")


def parse_spec(spec: str) -> ParsedSpec:
    """Classify a source spec without touching files, devices or the network."""
    if not isinstance(spec, str) or not spec.strip():
        raise _bad(str(spec), "empty source")
    text = spec.strip()
    if "\0" in text:
        raise _bad(text.replace("\0", "\\0"), "source contains a NUL byte")
    if text.isdigit():
        return ParsedSpec("camera", str(_camera_index(text, spec)), {})
    m = _SCHEME.match(text)
    scheme = m.group(1).lower() if m else ""
    if scheme == "camera":
        return ParsedSpec("camera", str(_camera_index(text[len("camera:") :], spec)), {})
    if scheme == "synthetic":
        return _parse_synthetic(text)
    if scheme in INDUSTRIAL_SCHEMES:
        return _parse_industrial(text, scheme)
    if scheme in _STREAM_SCHEMES:
        parts = urlsplit(text)
        if not text.lower().startswith(f"{scheme}://") or not parts.hostname:
            raise _bad(text, "stream URL without a host")
        try:
            _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
        except ValueError as exc:
            raise _bad(text, "stream URL with a bad port") from exc
        return ParsedSpec("stream", text, {})
    if scheme == "file" and text.lower().startswith("file://"):
        return _parse_path(unquote(urlsplit(text).path), spec)
    if scheme and not Path(text).exists():
        raise _bad(text, f"unknown source kind {scheme!r}")
    return _parse_path(text, spec)


def _camera_index(text: str, spec: str) -> int:
    if not text.isdigit() or len(text) > 4:
        raise _bad(spec, "camera index must be a whole number 0..4095")
    index = int(text)
    if index > 4095:
        raise _bad(spec, "camera index must be a whole number 0..4095")
    return index


def _parse_synthetic(text: str) -> ParsedSpec:
    body = text[len("synthetic:") :]
    name, _, query = body.partition("?")
    if name.strip().lower() != "conveyor":
        raise _bad(text, f"unknown synthetic scene {name!r} (only 'conveyor')")
    options: dict[str, float | int | str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise _bad(text, "malformed query") from exc
    for key, value in pairs:
        conv = _CONVEYOR_KEYS.get(key)
        if conv is None:
            raise _bad(text, f"unknown option {key!r} (known: {', '.join(_CONVEYOR_KEYS)})")
        if key in options:
            raise _bad(text, f"option {key!r} given twice")
        try:
            v = conv(value)
        except ValueError as exc:
            raise _bad(text, f"option {key}={value!r} is not a number") from exc
        options[key] = v
        low, high = _CONVEYOR_RANGES.get(key, (None, None))
        if v != v or (low is not None and v < low) or (high is not None and v > high):  # NaN too
            raise _bad(text, f"option {key}={value!r} is outside {low}..{high}")
    return ParsedSpec("synthetic", "conveyor", options)


def _parse_industrial(text: str, scheme: str) -> ParsedSpec:
    """``aravis://ID?trigger=software&rate=300&setup=FILE`` (ID empty: the first camera)."""
    if not text.lower().startswith(f"{scheme}://"):
        raise _bad(text, f"write {scheme}://DEVICE_ID (or {scheme}:// for the first camera)")
    body = text[len(scheme) + 3 :]
    ident, _, query = body.partition("?")
    ident = unquote(ident).strip()
    if len(ident) > 128 or any(c in ident for c in "/\\#") or not ident.isprintable():
        raise _bad(text, "camera id must be printable, at most 128 characters, without / or #")
    options: dict[str, float | int | str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise _bad(text, "malformed query") from exc
    for key, value in pairs:
        if key not in _INDUSTRIAL_KEYS:
            raise _bad(text, f"unknown option {key!r} (known: {', '.join(_INDUSTRIAL_KEYS)})")
        if key in options:
            raise _bad(text, f"option {key!r} given twice")
        if key == "rate":
            from edgeconsole.sources.genicam.triggers import MAX_RATE, MIN_RATE

            try:
                rate = float(value)
            except ValueError as exc:
                raise _bad(text, f"rate={value!r} is not a number of parts per minute") from exc
            if not (MIN_RATE <= rate <= MAX_RATE):
                raise _bad(text, f"rate={value!r} is outside {MIN_RATE:g}..{MAX_RATE:g} parts/min")
            options[key] = rate
        elif key == "fps":
            try:
                fps = float(value)
            except ValueError as exc:
                raise _bad(text, f"fps={value!r} is not a number") from exc
            if not (0.1 <= fps <= 1000):
                raise _bad(text, f"fps={value!r} is outside 0.1..1000")
            options[key] = fps
        elif key == "trigger":
            if not value or len(value) > 32 or not value.replace("_", "").isalnum():
                raise _bad(text, "trigger must be off, software, or a line name such as Line1")
            options[key] = value
        else:
            if not value:
                raise _bad(text, f"{key}= needs a path")
            if key == "images" and scheme != "pylon":
                raise _bad(text, "images= plays a folder through pylon's emulated camera only")
            options[key] = value
    if "rate" in options and str(options.get("trigger", "software")).lower() != "software":
        raise _bad(text, "rate= needs trigger=software (the camera fires itself at that rate)")
    return ParsedSpec("industrial", f"{scheme}://{ident}", options)


def _parse_path(text: str, spec: str) -> ParsedSpec:
    if not text:
        raise _bad(spec, "empty path")
    path = Path(text).expanduser()
    if path.is_dir():
        return ParsedSpec("folder", str(path), {})
    from edgeconsole.sources.image_folder import IMAGE_SUFFIXES

    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise _bad(spec, "a single image is not a source; put it in a folder and open the folder")
    return ParsedSpec("file", str(path), {})


def open_source(spec: str, *, realtime: bool = True, loop: bool = False) -> FrameSource:
    """Build the source a spec names. It is not opened yet: call ``open()``
    (or just ``read()``, which opens on first use). Missing files and absent
    cameras raise SourceOpenError from ``open``; a malformed spec raises
    ConfigError here.
    """
    parsed = parse_spec(spec)
    if parsed.kind == "camera":
        from edgeconsole.sources.camera import CameraSource

        return CameraSource(int(parsed.target))
    if parsed.kind == "industrial":
        from edgeconsole.sources.genicam.source import IndustrialCameraSource

        backend, _, ident = parsed.target.partition("://")
        o = parsed.options
        return IndustrialCameraSource(
            "pylon" if backend == "pylon" else "aravis",
            ident,
            setup=Path(str(o["setup"])).expanduser() if "setup" in o else None,
            trigger=str(o["trigger"]) if "trigger" in o else None,
            rate_per_min=float(o["rate"]) if "rate" in o else None,
            fps=float(o["fps"]) if "fps" in o else None,
            images=Path(str(o["images"])).expanduser() if "images" in o else None,
        )
    if parsed.kind == "stream":
        from edgeconsole.sources.network_video import StreamSource

        return StreamSource(parsed.target)
    if parsed.kind == "synthetic":
        from edgeconsole.sources.conveyor import SyntheticConveyorSource

        o = parsed.options
        frames = o.get("frames")
        stops: tuple[tuple[int, int], ...] = ()
        if "stop_at" in o or "stop_frames" in o:
            stops = ((int(o.get("stop_at", 0)), int(o.get("stop_frames", 0))),)
        return SyntheticConveyorSource(
            seed=int(o.get("seed", 0)),
            fps=float(o.get("fps", 30.0)),
            width=int(o.get("width", 1280)),
            height=int(o.get("height", 720)),
            realtime=realtime,
            frames=None if frames is None else int(frames),
            parts_per_min=None if o.get("ppm") is None else float(o["ppm"]),
            overlap=float(o.get("overlap", 0.0)),
            stops=stops,
            belt_clock=bool(o.get("clock", 0)),
        )
    if parsed.kind == "folder":
        from edgeconsole.sources.image_folder import ImageFolderSource

        return ImageFolderSource(parsed.target, realtime=realtime, loop=loop)
    from edgeconsole.sources.video_file import VideoFileSource

    return VideoFileSource(parsed.target, realtime=realtime, loop=loop)


def describe_spec(spec: str) -> str:
    """A short human name for a status bar; never raises."""
    try:
        parsed = parse_spec(spec)
    except ConfigError:
        text = str(spec).strip()
        return text if len(text) <= 40 else text[:39] + "…"
    if parsed.kind == "camera":
        return f"Camera {parsed.target}"
    if parsed.kind == "industrial":
        backend, _, ident = parsed.target.partition("://")
        name = "GenICam" if backend == "aravis" else "Basler"
        return f"{name} camera {ident or '(first)'}"
    if parsed.kind == "synthetic":
        seed = parsed.options.get("seed", 0)
        return f"Synthetic conveyor (seed {seed})"
    if parsed.kind == "stream":
        parts = urlsplit(parsed.target)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return f"{parts.scheme.upper()} {host}{parts.path if len(parts.path) <= 24 else ''}"
    path = Path(parsed.target)
    if parsed.kind == "folder":
        return f"Folder {path.name or str(path)}/"
    return path.name or str(path)
