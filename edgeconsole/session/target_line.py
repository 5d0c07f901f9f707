"""A live per-part line whose parts are decided on a target: a serial device or a gateway.

``edgeconsole run --target serial:///dev/ttyACM0`` (or ``gateway://HOST:PORT``): the
laptop reads the source, tracks the parts, fires the trigger and cuts each part's
crop, as on a local run; the crop batch goes to the model where it is deployed, so
``decision_ms`` is what the line would see from that device. The same target the
moving-line validation uses (``commission.line_targets``): one place says how a
crop reaches each kind of target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError

LOCAL = ("", "local", "local://")


def is_local(target: str | None) -> bool:
    return target is None or target.strip() in LOCAL


class TargetLineEngine:
    """What the session holds as its engine for such a run: the per-part inspector whose
    main model runs on the target, the identity of both, and the target to close."""

    def __init__(self, target: Any, identity: dict[str, Any]) -> None:
        self._target = target
        self.inspector = target.inspector
        self.url: str = target.url
        self.model_identity = identity
        self.runtime: dict[str, Any] = {"target": self.url, "device": dict(target.identity)}

    def close(self) -> None:
        self._target.close()


def open_target_line(
    url: str,
    model: str | Path,
    trust_dir: Path | None,
    *,
    threads: int | None = None,
    token_file: str | Path | None = None,
) -> tuple[Any, TargetLineEngine]:
    """(the model's description, the engine) for a per-part model decided on ``url``.

    The bundle is verified here (its signature against ``trust_dir``); the target must
    run the same bundle (the sample runners check what it reports). A frame model has
    no parts to decide on a target: that is refused with the commands that do run it.
    """
    from edgeconsole.commission.line_targets import open_line_target
    from edgeconsole.commission.model_ref import open_model_ref

    ref = open_model_ref(model, trust_dir)
    if getattr(ref.spec, "per_part", None) is None:
        raise ConfigError(
            f"{ref.label} decides frames, not parts: `run --target` sends each part's crop "
            "to the target",
            subject=url,
            hint="run a frame model on a target with `edgeconsole validate TARGET --dataset "
            "DIR`, or watch a gateway's own camera with --source gateway://HOST:PORT?camera=0",
        )
    target = open_line_target(url, ref, threads=threads, token_file=token_file)
    return ref.spec, TargetLineEngine(target, ref.identity)
