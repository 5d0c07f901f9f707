"""Write the conveyor scene to a video file (demo material, test and benchmark input)."""

from __future__ import annotations

from pathlib import Path

import cv2

from edgeconsole.core.errors import ConfigError, SourceError
from edgeconsole.sources.conveyor import ConveyorScene

#: The OpenCV wheels write these and not H.264 (DESIGN section 9).
CODECS = {".avi": "MJPG", ".mp4": "mp4v"}


def write_conveyor_video(
    path: str | Path,
    seconds: float = 2.0,
    fps: float = 30.0,
    seed: int = 0,
    size: tuple[int, int] = (720, 1280),
) -> Path:
    """Render ``seconds`` of the conveyor into ``path``; ``size`` is (height, width).

    ``.avi`` gets MJPG, ``.mp4`` gets mp4v. The same arguments always give the
    same frames. Returns the path written.
    """
    out = Path(path)
    codec = CODECS.get(out.suffix.lower())
    if codec is None:
        raise ConfigError(
            f"cannot write video with suffix {out.suffix!r}",
            subject=str(out),
            hint="use a .avi (MJPG) or .mp4 (mp4v) file name",
        )
    n = round(seconds * fps)
    if n <= 0:
        raise ConfigError(f"{seconds} s at {fps} fps is no frames", subject=str(out))
    height, width = int(size[0]), int(size[1])
    scene = ConveyorScene(seed=seed, fps=fps, width=width, height=height)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*codec), fps, (width, height))
    if not writer.isOpened():
        raise SourceError(
            f"OpenCV cannot write {codec} video here",
            subject=str(out),
            hint="check the folder exists and is writable",
        )
    try:
        for i in range(n):
            image, _ = scene.render(i)
            writer.write(image)
    finally:
        writer.release()
    return out
