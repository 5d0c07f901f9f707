"""What the window shows for each pipeline state: which actions are enabled, the busy
bar's sentence, the live view's tag and its placeholder (pure: no widgets here)."""

from __future__ import annotations

from dataclasses import dataclass

from edgeconsole.ui.live_view import IDLE_PLACEHOLDER
from edgeconsole.ui.status_panel import model_label, source_label

ACTIVE_STATES = frozenset({"opening", "running", "reconnecting"})
IDLE_STATES = frozenset({"idle", "stopped", "error"})
#: What the live view says while it has no frame to show.
PLACEHOLDERS = {
    "starting": "Starting EdgeConsole…",
    "opening": "Opening the source and loading the model…",
    "error": "Not running: see the message above. Fix the source or model, then press F5.",
    "reconnecting": "Source lost: reconnecting…",
}
TAGS = {
    "stopped": "STOPPED",
    "error": "ERROR",
    "reconnecting": "RECONNECTING…",
    "stopping": "STOPPING…",
}


@dataclass(frozen=True)
class StateLook:
    can_start: bool
    can_stop: bool
    can_cancel: bool
    busy: str | None  # the busy bar's sentence; None: no busy bar
    tag: str | None  # over the live view
    placeholder: str


def state_look(state: str, source: str, model: str) -> StateLook:
    gateway = source.startswith("gateway://")
    busy = None
    if state == "opening" and gateway:
        # The gateway runs its own model: only its stream is being opened.
        busy = f"Connecting to the stream of {source_label(source)}…"
    elif state == "opening":
        busy = f"Opening {source_label(source)} with model {model_label(model)}…"
    tag = TAGS.get(state)
    if tag is None and state == "running" and gateway:
        where = source.removeprefix("gateway://").replace("?camera=", " · camera ")
        tag = f"GATEWAY {where}"
    return StateLook(
        can_start=state in IDLE_STATES,
        can_stop=state in ACTIVE_STATES,
        can_cancel=state == "opening",
        busy=busy,
        tag=tag,
        placeholder=PLACEHOLDERS.get(state, IDLE_PLACEHOLDER),
    )
