"""Tokens remembered per gateway (``host:port``), in a 0600 JSON file.

Location: ``$EDGECONSOLE_CONFIG_DIR``, else ``$EDGECONSOLE_HOME/config`` (portable
installs and tests), else ``~/.config/edgeconsole``. The file is
replaced atomically; a token is never printed or logged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgeconsole.core.errors import ConfigError

FILE = "gateway-tokens.json"


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
    tmp = path.with_name(f".{FILE}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_token_file(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read token file: {exc}", subject=str(path)) from exc
    if not token:
        raise ConfigError("token file is empty", subject=str(path))
    return token
