"""The gateway agent as ``edgeconsole agent`` reaches it (``edgeconsole/agent/``).

The command line imports the session and the core only (import-linter); this is its
door to the agent's token, the checks of what it was given (cameras, trigger,
photo-eye, PLC) and the server itself. Everything is imported when called, so
``edgeconsole --help`` does not load the agent, numpy or onnxruntime; nothing here
pulls the console (the agent installs without Qt).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError


def token_for(data_dir: Path, token_file: Path | None) -> tuple[str, Path]:
    """(token, where it is): read from ``token_file``, else DATA/token (made on first
    start)."""
    from edgeconsole.agent.auth import provision_token, read_token_file

    if token_file is not None:
        return read_token_file(token_file), token_file
    return provision_token(data_dir)


def check_setup(
    *,
    cameras: list[str],
    trigger: str,
    photo_eye: str | None,
    plc: str | None,
    plc_map: Path | None,
    plc_camera: int,
) -> None:
    """Refuse a bad camera, trigger, photo-eye or PLC now, not later on a thread."""
    for spec in cameras:
        from edgeconsole.sources.factory import parse_spec

        parse_spec(spec)
    from edgeconsole.session.api import TriggerConfig

    TriggerConfig.parse(trigger)
    if photo_eye:
        from edgeconsole.sources.photo_eye import eye_for_source

        eye_for_source(photo_eye)
    if plc is not None:
        from edgeconsole.devices.plc.link import parse_plc_url
        from edgeconsole.devices.plc.plcmap import load_map

        if plc_map is None:
            raise ConfigError("--plc needs --plc-map", hint="give the PLC map file (.toml)")
        loaded = load_map(plc_map)
        url = parse_plc_url(plc)
        if ("opcua" if url.scheme == "opc.tcp" else "modbus") != loaded.protocol:
            raise ConfigError(
                f"{plc} speaks another protocol than the map ({loaded.protocol})",
                subject=f"PLC map {plc_map}",
            )
        if not 0 <= plc_camera < len(cameras):
            raise ConfigError(
                f"--plc-camera {plc_camera}: the agent has {len(cameras)} camera(s)",
                hint="give --camera SPEC for the camera that decides the parts",
            )


def serve(
    *,
    data_dir: Path,
    token: str,
    trust_dir: Path,
    host: str,
    port: int,
    cameras: list[str],
    hardware_id: str,
    trial_timeout_s: float,
    mdns: bool,
    trigger: str,
    photo_eye: str | None,
    plc: str | None,
    plc_map: Path | None,
    plc_camera: int,
    name: str | None,
    on_ready: Callable[[Any], None],
) -> None:
    """Run the agent, composed of the real parts, until it is stopped. ``on_ready``
    gets the listening server (its ``url``)."""
    from edgeconsole.agent.app import AgentConfig
    from edgeconsole.agent.server import run_forever
    from edgeconsole.session.agent_ports import build_ports

    config = AgentConfig(
        data_dir=data_dir,
        token=token,
        host=host,
        port=port,
        cameras=list(cameras),
        hardware_id=hardware_id,
        trial_timeout_s=trial_timeout_s,
        mdns=mdns,
        trigger=trigger,
        photo_eye=photo_eye,
        plc=plc,
        plc_map=None if plc_map is None else str(plc_map),
        plc_camera=plc_camera,
    )
    if name:
        config.name = name
    run_forever(config, build_ports(trust_dir, hardware_id), on_ready=on_ready)
