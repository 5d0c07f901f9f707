"""Site and technician names: asked once (first-run dialog), stamped on everything.

Stored as a small JSON file in the app data directory, written atomically. A
missing file means "first run"; a damaged file is an error that says so, and
is never silently replaced (it is renamed aside and the person asked again).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeconsole.core.atomic import atomic_write
from edgeconsole.core.errors import ConfigError
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded
from edgeconsole.journal.paths import app_data_dir, ensure_dir

_MAX_BYTES = 64 * 1024
_MAX_NAME = 200


@dataclass(frozen=True)
class SiteSettings:
    site: str = ""
    technician: str = ""

    @property
    def complete(self) -> bool:
        return bool(self.site.strip()) and bool(self.technician.strip())

    def stamp(self) -> dict[str, str]:
        return {"site": self.site, "technician": self.technician}


def _clean(value: object, field: str, path: Path) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{field} must be text", subject=str(path), hint="fix it in Preferences")
    text = " ".join(value.split())  # no newlines or tabs inside a stamp
    if len(text) > _MAX_NAME:
        raise ConfigError(
            f"{field} is longer than {_MAX_NAME} characters",
            subject=str(path),
            hint="use a shorter name in Preferences",
        )
    return text


class SettingsStore:
    """Load and save ``SiteSettings`` at ``path`` (default: app data dir / site.json)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else app_data_dir() / "site.json"

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> SiteSettings:
        """Return the stored settings, or empty ones when there are none yet."""
        if not self.path.exists():
            return SiteSettings()
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read site settings: {exc.strerror}", subject=str(self.path)
            ) from exc
        if len(raw) > _MAX_BYTES:
            raise ConfigError(
                "site settings file is too large",
                subject=str(self.path),
                hint="delete it and enter the site and technician again",
            )
        try:
            data = loads_bounded(raw, max_bytes=len(raw), what="the settings file")
        except JSONRefused as exc:
            raise ConfigError(
                f"site settings are not valid JSON ({exc})",
                subject=str(self.path),
                hint="delete it and enter the site and technician again",
            ) from exc
        if not isinstance(data, dict):
            raise ConfigError("site settings must be a JSON object", subject=str(self.path))
        return SiteSettings(
            site=_clean(data.get("site", ""), "site", self.path),
            technician=_clean(data.get("technician", ""), "technician", self.path),
        )

    def save(self, settings: SiteSettings) -> SiteSettings:
        clean = SiteSettings(
            site=_clean(settings.site, "site", self.path),
            technician=_clean(settings.technician, "technician", self.path),
        )
        ensure_dir(self.path.parent)
        atomic_write(self.path, json.dumps(asdict(clean), indent=2).encode("utf-8") + b"\n")
        return clean
