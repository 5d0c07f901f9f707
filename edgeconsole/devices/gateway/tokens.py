"""Tokens remembered per gateway (``host:port``), in a 0600 JSON file.

Location: ``$EDGECONSOLE_CONFIG_DIR``, else ``$EDGECONSOLE_HOME/config`` (portable
installs and tests), else ``~/.config/edgeconsole``. The file is
replaced atomically; a token is never printed or logged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgeconsole.core.atomic import atomic_write
from edgeconsole.core.errors import ConfigError

FILE = "gateway-tokens.json"
#: A bearer token is a header value: anything longer is not one.
MAX_TOKEN = 4096


def config_dir() -> Path:
    env = os.environ.get("EDGECONSOLE_CONFIG_DIR")
    if env:
        return Path(env)
    home = os.environ.get("EDGECONSOLE_HOME")
    return Path(home) / "config" if home else Path.home() / ".config" / "edgeconsole"


def _load(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_bytes()[: 1 << 20])
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}
    return (
        {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
        if (isinstance(data, dict))
        else {}
    )


def lookup(hostport: str) -> str | None:
    return _load(config_dir() / FILE).get(hostport)


def remember(hostport: str, token: str) -> None:
    d = config_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / FILE
    data = _load(path)
    data[hostport] = token
    atomic_write(path, json.dumps(data).encode(), mode=0o600)


def resolve(
    hostport: str, *, token: str | None = None, token_file: Path | str | None = None
) -> str | None:
    """The token to send to ``hostport``: the one given, else the one in ``token_file``,
    else the one remembered for it (None: there is none; an open server takes that)."""
    if token is not None:
        return token
    if token_file is not None:
        return read_token_file(Path(token_file))
    return lookup(hostport)


def read_token_file(path: Path) -> str:
    """The one line of a token file. A token is sent in an HTTP header: a file too large
    to be one (or /dev/zero), or one with more than a line, is refused, never sent."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_TOKEN + 1)
        token = raw.decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read token file: {exc}", subject=str(path)) from exc
    if len(raw) > MAX_TOKEN:
        raise ConfigError(
            f"token file is larger than {MAX_TOKEN} bytes: not a token file",
            subject=str(path),
            hint="point at the agent's DATA/token",
        )
    if not token:
        raise ConfigError("token file is empty", subject=str(path))
    if any(c.isspace() or ord(c) < 32 for c in token):
        raise ConfigError(
            "token file holds more than one word or line",
            subject=str(path),
            hint="a token file holds the token alone (the agent's DATA/token)",
        )
    return token
