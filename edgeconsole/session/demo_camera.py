"""The demo's conveyor through an emulated industrial camera (when pypylon is installed).

The conveyor's frames are written once into the app's cache and played by pylon's
camera emulation, so the demo's frames arrive the way a real line camera's do:
through the camera driver, with its frame ids, buffer counters and trigger.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from edgeconsole.core.errors import SourceOpenError
from edgeconsole.journal.paths import app_data_dir

#: 10 s of belt at 30 fps, at 640x360 (about 40 MB of PNG in the cache, written once).
FRAMES = 300
SCENE = "synthetic:conveyor?seed=7&fps=30&width=640&height=360"
FPS = 30


def frames_dir() -> Path:
    return app_data_dir() / "cache" / "demo-camera-frames"


def available() -> bool:
    """pypylon is installed (checked without loading it)."""
    return importlib.util.find_spec("pypylon") is not None


def demo_camera_spec() -> str:
    return f"pylon://0815-0000?images={frames_dir()}&fps={FPS}"


def prepare(spec: str) -> None:
    """Write the demo's frames before ``spec`` opens, when it is the demo camera."""
    if spec != demo_camera_spec():
        return
    if not available():
        raise SourceOpenError(
            "pypylon is not installed, so the demo cannot play through an emulated camera",
            subject="demo camera",
            hint="run ./run setup (or pip install 'edgeconsole[cameras]')",
        )
    from edgeconsole.sources.genicam.pylon_emu import write_frames

    write_frames(SCENE, frames_dir(), FRAMES)
