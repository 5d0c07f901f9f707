"""Frame sources: video file, image folder, USB camera, RTSP/HTTP stream, synthetic conveyor.

Import the pieces from their modules (``edgeconsole.sources.factory.open_source``
and so on); the names below are also reachable from this package, loaded on
first use so that importing a sibling module (e.g. telemetry) does not load OpenCV.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeconsole.sources._live import ReconnectPolicy
    from edgeconsole.sources.camera import CameraSource, list_cameras
    from edgeconsole.sources.conveyor import SyntheticConveyorSource, render_part
    from edgeconsole.sources.demo_video import write_conveyor_video
    from edgeconsole.sources.factory import describe_spec, open_source
    from edgeconsole.sources.image_folder import ImageFolderSource
    from edgeconsole.sources.network_video import StreamSource
    from edgeconsole.sources.video_file import VideoFileSource

_EXPORTS = {
    "ReconnectPolicy": "_live",
    "CameraSource": "camera",
    "list_cameras": "camera",
    "SyntheticConveyorSource": "conveyor",
    "render_part": "conveyor",
    "write_conveyor_video": "demo_video",
    "describe_spec": "factory",
    "open_source": "factory",
    "ImageFolderSource": "image_folder",
    "StreamSource": "stream",
    "VideoFileSource": "video_file",
}

__all__ = [
    "CameraSource",
    "ImageFolderSource",
    "ReconnectPolicy",
    "StreamSource",
    "SyntheticConveyorSource",
    "VideoFileSource",
    "describe_spec",
    "list_cameras",
    "open_source",
    "render_part",
    "write_conveyor_video",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeconsole.sources' has no attribute {name!r}")
    return getattr(importlib.import_module(f"edgeconsole.sources.{module}"), name)
