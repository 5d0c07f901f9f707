"""What the window's process and the worker share: the job, the link, the codec.

Outputs travel as small pickled messages through a shared-memory ring; a frame's
pixels never go into a message: the worker writes them into a frame slot (newest
wins) and the message names the slot's sequence number. The window side copies
the pixels out only for the frame it will show (or every frame while recording);
a frame whose slot was already reused arrives without pixels, its result and
latency sample still count (display work is dropped, results never).

Stage stamps: the worker stamps ``handoff_start`` when it queues an output, the
window side ``handoff_end`` when it takes it, and the sample is made from the
frame's stamps there, so the hand-off is a measured stage ('handoff').
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from edgeconsole.core.clock import now_ns
from edgeconsole.core.frames import Frame, LatencySample
from edgeconsole.core.shm import FrameSlots, ShmBoard, ShmRing
from edgeconsole.session.runner import RunnerOutput

#: Source states on the board (the window's status shows "reconnecting").
SOURCE_STATES = ("", "open", "reconnecting", "closed")


@dataclass
class WorkerJob:
    """Everything the worker needs to open the source and the model by itself."""

    source: str
    spec: Any  # the model's description (inference.spec.ModelSpec)
    model_bytes: dict[str, bytes] | None = None  # a verified bundle's files
    threads: int | None = None
    realtime: bool = True
    loop: bool = True
    max_frames: int | None = None
    lossless: bool = False
    #: "normal", "low" (nice 10) or "idle" (SCHED_IDLE: only when nothing else runs).
    priority: str = "low"
    #: Per-part models (a ``per_part`` section): the line's trigger and budget.
    trigger: Any = None  # inference.line.TriggerConfig
    budget_ms: float | None = None
    #: Where the worker's stderr goes (read back when it dies).
    log_path: Path = field(default_factory=lambda: Path("worker.log"))


def per_part(job: WorkerJob) -> bool:
    return getattr(job.spec, "per_part", None) is not None


class WorkerLink:
    """One worker incarnation's channels; a new one for every (re)start, so nothing a
    dead worker left half-written can reach the next one."""

    def __init__(self, ctx: BaseContext) -> None:
        self.ring = ShmRing(ctx)
        self.frames = FrameSlots(ctx)
        self.board = ShmBoard()
        self.control = ctx.Queue()

    def close(self) -> None:
        self.ring.close()
        self.frames.close()
        self.board.close()
        self.control.close()
        self.control.cancel_join_thread()


_FRAME_FIELDS = tuple(f.name for f in dataclasses.fields(Frame) if f.name != "image")


def _frame_meta(frame: Frame) -> tuple[Any, ...]:
    return tuple(getattr(frame, name) for name in _FRAME_FIELDS)


class OutputEncoder:
    """Worker side: a RunnerOutput into one message; its frames into the slots."""

    def __init__(self, frames: FrameSlots, board: ShmBoard, give_up: Any = None) -> None:
        self._frames = frames
        self._board = board
        self._give_up = give_up
        self._seq = 0

    def _frame(self, frame: Frame | None) -> tuple[int, tuple[Any, ...]] | None:
        if frame is None:
            return None
        self._seq += 1
        keep = bool(self._board["keep"])  # the window records: every frame is wanted
        self._frames.write(self._seq, frame.image, keep=keep, give_up=self._give_up)
        return self._seq, _frame_meta(frame)

    def encode(self, out: RunnerOutput) -> bytes:
        if out.frame is not None:
            out.frame.stamps["handoff_start"] = now_ns()
        frame = self._frame(out.frame)
        judged = None
        if out.judged is not None:
            judged = (self._frame(out.judged[0]), out.judged[1])
        first = out.sample.first_inference if out.sample is not None else False
        return pickle.dumps(
            (
                "out",
                out.sample is not None,
                first,
                out.sample if out.frame is None else None,
                out.result,
                frame,
                out.step,
                out.decisions,
                judged,
                out.line,
                out.done_ns,
            ),
            protocol=pickle.HIGHEST_PROTOCOL,
        )


def decode_output(
    message: tuple[Any, ...], frames: FrameSlots, *, pixels: bool, judged_pixels: bool
) -> RunnerOutput:
    """Window side: one "out" message back into a RunnerOutput. ``pixels``: copy the
    frame out of its slot (the frame to show, or every frame while recording)."""
    (
        _kind,
        has_sample,
        first,
        bare_sample,
        result,
        frame_ref,
        step,
        decisions,
        judged_ref,
        line,
        done_ns,
    ) = message
    taken = now_ns()
    frame = None
    sample: LatencySample | None = bare_sample
    if frame_ref is not None:
        seq, meta = frame_ref
        stamps = meta[_FRAME_FIELDS.index("stamps")]
        stamps["handoff_end"] = taken
        if has_sample:
            sample = LatencySample.from_stamps(
                meta[_FRAME_FIELDS.index("index")], stamps, first=first
            )
        image = frames.read(seq) if pixels else None
        frames.done()
        if image is not None:
            frame = Frame(image=image, **dict(zip(_FRAME_FIELDS, meta, strict=True)))
    judged = None
    if judged_ref is not None and judged_ref[0] is not None:
        (seq, meta), jstep = judged_ref
        image = frames.read(seq) if judged_pixels else None
        frames.done()
        if image is not None:
            judged = (Frame(image=image, **dict(zip(_FRAME_FIELDS, meta, strict=True))), jstep)
    return RunnerOutput(
        sample=sample,
        result=result,
        frame=frame,
        step=step if frame is not None else None,
        decisions=decisions,
        judged=judged,
        line=line,
        done_ns=done_ns,
    )
