"""What a live pipeline runner is to the session, and the one thing it hands back.

Every live pipeline (the laptop's frame pipeline, also with inference on a remote
OIP server; the per-part line; a gateway camera's stream; either of the first two
in a worker process) is a :class:`Runner` that hands the session one type,
:class:`RunnerOutput`, through one :class:`RunnerSink`. The session counts an
output in one place (session/outputs.py ``RunnerOutputs``), so a result is counted once
whatever produced it.

What an output means, field by field:

- ``sample``: the stage times of one processed frame (or one result a gateway
  streamed). Every sample is counted: latency statistics, fps, journal.
- ``result``: the model's result. Counted (detections, verdicts, journal) together
  with its ``sample`` and only then; a result without a sample comes with a frame
  to show (a gateway's JPEG following the result it streamed before).
- ``frame`` (+ ``result`` or ``step``): pixels to show and record.
- ``step``: per-part mode, what the tracker saw on ``frame`` (the overlay is built
  when the frame is shown, for the frames the window actually shows).
- ``decisions``: parts settled (decided or counted missed), each exactly once.
- ``judged``: per-part mode, the frame and step whose parts were just judged
  (written by ``run --annotate``; never shown again).
- ``line``: a gateway's per-part line state (budget, trigger, counters).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from edgeconsole.core.frames import Frame, InferenceResult, LatencySample
from edgeconsole.core.parts import LineCounters, PartDecision, TriggerEvent

if TYPE_CHECKING:
    from edgeconsole.inference.line import LineStep, TriggerConfig


@dataclass(slots=True)
class RunnerOutput:
    """Anything a live pipeline produced; see the module docstring for the rules."""

    sample: LatencySample | None = None
    result: InferenceResult | None = None
    frame: Frame | None = None
    step: LineStep | None = None
    decisions: list[PartDecision] = field(default_factory=list)
    judged: tuple[Frame, LineStep] | None = None
    line: dict[str, Any] | None = None
    #: When the work on it ended (monotonic ns): the fps is counted from these.
    done_ns: int = 0


class RunnerSink(Protocol):
    """Where a runner's threads hand their outputs; every method must be quick."""

    def output(self, out: RunnerOutput) -> None: ...

    def error(self, where: str, error: Exception) -> None: ...

    def end(self, reason: str) -> None: ...

    def model(self, text: str) -> None:
        """The model that runs changed its name (a gateway loaded another bundle)."""
        ...

    def notice(self, level: str, text: str) -> None:
        """Something the person should know that does not end the run (an inference
        worker died and was restarted, and why)."""
        ...


@dataclass
class CallbackSink:
    """A sink from plain functions (the CLI, the self-test, benchmarks)."""

    on_output: Callable[[RunnerOutput], None]
    on_error: Callable[[str, Exception], None] = lambda where, error: None
    on_end: Callable[[str], None] = lambda reason: None
    on_model: Callable[[str], None] = lambda text: None
    on_notice: Callable[[str, str], None] = lambda level, text: None

    def output(self, out: RunnerOutput) -> None:
        self.on_output(out)

    def error(self, where: str, error: Exception) -> None:
        self.on_error(where, error)

    def end(self, reason: str) -> None:
        self.on_end(reason)

    def model(self, text: str) -> None:
        self.on_model(text)

    def notice(self, level: str, text: str) -> None:
        self.on_notice(level, text)


class Runner(Protocol):
    """A running live pipeline, as the session drives it (any thread)."""

    #: The input: ``state`` ("open" / "reconnecting"), ``close()``; an industrial
    #: camera also ``camera_stats()`` and ``drain_notices()``; a finite source its
    #: ``warnings`` / ``skipped`` / ``incomplete`` once it ended.
    source: Any
    #: A per-part line runs (external triggers, counters, trigger and budget changes).
    per_part: bool

    @property
    def processed(self) -> int: ...

    @property
    def dropped(self) -> int: ...

    def start(self) -> None: ...

    def stop(self) -> None:
        """Ask it to stop; returns at once (``join`` waits)."""
        ...

    def join(self, timeout: float | None = None) -> bool: ...

    def wait_ended(self, timeout: float | None = None) -> bool: ...

    def trigger(self, event: TriggerEvent) -> bool:
        """An external edge for the per-part line; False when there is none."""
        ...

    def set_trigger(self, trigger: TriggerConfig) -> None: ...

    def set_budget(self, ms: float | None) -> None: ...

    def line_counters(self) -> LineCounters | None: ...

    def camera(self, backend: str, ident: str) -> Any:
        """The open industrial camera when it is the one asked for (camera setup
        goes through the pipeline's own connection), else None."""
        ...


class RunnerBase:
    """Defaults for runners without a per-part line or a camera of their own."""

    source: Any
    per_part = False

    def trigger(self, event: TriggerEvent) -> bool:
        return False

    def set_trigger(self, trigger: TriggerConfig) -> None:
        pass

    def set_budget(self, ms: float | None) -> None:
        pass

    def line_counters(self) -> LineCounters | None:
        return None

    def camera(self, backend: str, ident: str) -> Any:
        from edgeconsole.session.cameras import live_camera_device

        return live_camera_device(self.source, backend, ident)
