"""Open any target by its URL (DESIGN section 4): ``serial://...`` or a port path,
``gateway://HOST:PORT``. ``local://`` and ``sim://`` are composed above devices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError
from edgeconsole.devices.ref import TargetRef


def is_gateway(url: str) -> bool:
    return TargetRef.parse(url).kind == "gateway"


def open_target(
    url: str,
    *,
    token: str | None = None,
    token_file: Path | str | None = None,
    timeout_s: float = 10.0,
    probe: bool = True,
) -> Any:
    """A connected Target for ``url``. Gateways take a token, a token file, or the
    token remembered for that host:port; the token is remembered once it worked."""
    if is_gateway(url):
        from edgeconsole.devices.gateway.target import GatewayTarget
        from edgeconsole.devices.gateway.tokens import remember, resolve

        ref = TargetRef.parse(url)
        token = resolve(ref.hostport, token=token, token_file=token_file)
        target = GatewayTarget(ref.url, token, timeout_s=timeout_s)
        if probe:
            try:
                target.info()
            except BaseException:
                target.close()
                raise
            if token is not None:
                remember(target.hostport, token)
        return target
    if TargetRef.parse(url).kind != "serial":
        raise ConfigError(f"{url.split(':')[0]}:// targets are opened by the session", subject=url)
    from edgeconsole.devices.serial.client import SerialTarget

    t = SerialTarget(url, timeout_s=timeout_s)
    try:
        t.connect(probe=probe)
    except BaseException:
        t.close()
        raise
    return t
