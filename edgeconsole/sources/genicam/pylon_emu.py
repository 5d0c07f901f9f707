"""Playing images through pylon's camera emulator, so footage arrives as a camera would.

pylon's emulated camera (``PYLON_CAMEMU``) can show images from a file or a
folder (its ``ImageFilename`` and ``ImageFileMode`` features) instead of its test
pattern, cycling through a folder in name order at the emulated camera's frame
rate. ``write_frames`` turns any EdgeConsole source (the synthetic conveyor, a
recorded video, an image folder) into such a folder; ``feed_images`` points the
emulator at it and sizes the camera to the images (grey images play as Mono8,
colour ones as BGR8).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from edgeconsole.core.errors import ConfigError, EdgeConsoleError, SourceError
from edgeconsole.sources.genicam.device import CameraDevice

IMAGE_GLOB = ("*.png", "*.bmp", "*.tif", "*.tiff", "*.jpg", "*.jpeg")
#: Frames the emulator is given at most (it keeps them in memory).
MAX_FRAMES = 2000


def _stamp_path(folder: Path) -> Path:
    # Beside the folder, not in it: the emulator tries to play every file in the folder.
    return folder.parent / f".{folder.name}.edgeconsole-frames.json"


def _images(folder: Path) -> list[Path]:
    found: list[Path] = []
    for pattern in IMAGE_GLOB:
        found.extend(folder.glob(pattern))
    return sorted(found)


def write_frames(spec: str, folder: Path, frames: int) -> Path:
    """Write ``frames`` frames of ``spec`` as PNGs (00000.png, ...). A folder already
    holding the same spec and count (its stamp file says so) is reused as it is."""
    from edgeconsole.sources.factory import open_source

    if not 1 <= frames <= MAX_FRAMES:
        raise ConfigError(f"frames must be 1..{MAX_FRAMES}, got {frames}", subject=str(folder))
    folder = Path(folder)
    stamp = _stamp_path(folder)
    want = {"spec": spec, "frames": frames}
    try:
        if json.loads(stamp.read_text()) == want and len(_images(folder)) == frames:
            return folder
    except (OSError, ValueError):
        pass
    folder.mkdir(parents=True, exist_ok=True)
    for old in _images(folder):
        old.unlink()
    source = open_source(spec, realtime=False, loop=True)
    try:
        for i in range(frames):
            frame = source.read()
            if frame is None:
                break
            if not cv2.imwrite(str(folder / f"{i:05d}.png"), frame.image):
                raise SourceError("could not write a frame", subject=str(folder))
    finally:
        source.close()
    stamp.write_text(json.dumps(want))
    return folder


def feed_images(device: CameraDevice, folder: Path) -> tuple[int, int]:
    """Make an emulated pylon camera play ``folder``; returns the image size."""
    folder = Path(folder)
    images = _images(folder) if folder.is_dir() else []
    if not images:
        raise ConfigError(
            "no images to play (png, bmp, tif or jpg)",
            subject=str(folder),
            hint="write some with `edgeconsole camera frames SOURCE FOLDER`",
        )
    first = cv2.imread(str(images[0]), cv2.IMREAD_UNCHANGED)
    if first is None:
        raise ConfigError("the first image cannot be read", subject=str(images[0]))
    height, width = first.shape[:2]
    # Grey footage plays as a monochrome camera (most line cameras are), colour as BGR.
    pixel_format = "Mono8" if first.ndim == 2 else "BGR8Packed"
    try:
        device.feature("ImageFilename")
    except EdgeConsoleError as exc:
        raise ConfigError(
            "only pylon's emulated camera can play images",
            subject=device.info.label,
            hint="use pylon://0815-0000 (camera emulation)",
        ) from exc
    for name, value in (
        ("TestImageSelector", "Off"),
        ("PixelFormat", pixel_format),
        ("OffsetX", 0),
        ("OffsetY", 0),
        ("Width", width),
        ("Height", height),
        ("ImageFilename", str(folder.resolve())),
        ("ImageFileMode", "On"),
    ):
        device.set_feature(name, value)
    return width, height
