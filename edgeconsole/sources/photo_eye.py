"""A photo-eye on the simulated belt: one edge each time a part's centre passes it.

The eye looks across the belt at ``line_x`` (frame pixels of the camera that films
the same belt, default the frame's centre). Where part ``k`` is, and when, comes
from the belt timing model (``sources/belt.py``) that draws the camera's frames,
so the edge belongs to a real part in the picture. Time: the belt started at
``epoch_ns`` on the machine's monotonic clock; ``epoch_ns=0`` with ``fps`` is the
clock-driven conveyor (``synthetic:conveyor?clock=1``), whose frame ``i`` is the
belt at ``i / fps`` seconds and is exposed at ``i * period_ns``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import ConfigError
from edgeconsole.sources.belt import BeltTiming

#: (edge number, when the part's centre passed: monotonic ns)
Emit = Callable[[int, int], None]


class PhotoEye:
    def __init__(
        self,
        belt: BeltTiming,
        emit: Emit,
        *,
        line_x: float | None = None,
        epoch_ns: int = 0,
        fps: float | None = None,
    ) -> None:
        if line_x is not None and not 0 < line_x < belt.width:
            raise ConfigError(
                f"the photo-eye at x={line_x:g} px is outside the {belt.width} px wide frame",
                subject="photo-eye",
                hint=f"give a position between 1 and {belt.width - 1} px (or a fraction)",
            )
        self.belt = belt
        self.line_x = line_x
        self.emit = emit
        self.epoch_ns = epoch_ns
        # The clock-driven conveyor exposes frame i at i * round(1e9 / fps) ns.
        self._ns_per_s = 1e9 if fps is None else fps * round(1e9 / fps)
        self.edges = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due_ns(self, part: int) -> int:
        return self.epoch_ns + round(self.belt.crossing_s(part, self.line_x) * self._ns_per_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sim-photo-eye", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        now_s = (now_ns() - self.epoch_ns) / self._ns_per_s
        k = self.belt.first_part_after(now_s, self.line_x)
        while not self._stop.is_set():
            due = self.due_ns(k)
            delay = (due - now_ns()) / 1e9
            if delay > 0 and self._stop.wait(delay):
                return
            self.edges += 1
            self.emit(self.edges, due)
            k += 1


def eye_for_source(spec: str, position: float = 0.5) -> PhotoEye:
    """An eye (not started, no emitter yet) on the belt a conveyor source spec films;
    ``position``: across the frame, a fraction of its width."""
    if not 0.0 < position < 1.0:
        raise ConfigError(
            f"the photo-eye position {position} is outside the frame",
            subject="photo-eye",
            hint="a fraction of the frame's width between 0 and 1 (0.5 is the centre)",
        )
    belt, fps = belt_for_source(spec, "an eye")
    return PhotoEye(belt, lambda n, t: None, line_x=position * belt.width, fps=fps)


def belt_for_source(spec: str, who: str = "an eye") -> tuple[BeltTiming, float]:
    """The belt (and frame rate) a clocked conveyor source spec films: what a photo-eye
    or the virtual PLC must follow to see the same parts as that camera."""
    from edgeconsole.sources.factory import parse_spec

    parsed = parse_spec(spec)
    if parsed.kind != "synthetic":
        raise ConfigError(
            f"{who} needs the simulated belt, not {parsed.kind}",
            subject=spec,
            hint="give the camera's synthetic:conveyor?...&clock=1 spec",
        )
    o = parsed.options
    if not o.get("clock"):
        raise ConfigError(
            f"the camera's belt must run on the clock for {who} to see the same parts",
            subject=spec,
            hint="add clock=1 to the conveyor spec (camera and eye)",
        )
    width, height = int(o.get("width", 1280)), int(o.get("height", 720))
    fps = float(o.get("fps", 30.0))
    ppm = o.get("ppm")
    stops: tuple[tuple[float, float], ...] = ()
    if "stop_at" in o or "stop_frames" in o:
        stops = ((int(o.get("stop_at", 0)) / fps, int(o.get("stop_frames", 0)) / fps),)
    belt = BeltTiming.for_frame(
        width,
        height,
        parts_per_min=None if ppm is None else float(ppm),
        overlap=float(o.get("overlap", 0.0)),
        seed=int(o.get("seed", 0)),
        stops=stops,
    )
    return belt, fps
