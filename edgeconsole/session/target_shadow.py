"""The laptop-side shadow of a device's running bundle: find the bundle the device
reports (by its hash, among the bundles flashed in this session and the library
folders) and load its model through the one door (``workshop.access.open_verified``).
The run itself is ``inference.shadow``; the telemetry stream hands it each chunk."""

from __future__ import annotations

import hashlib
from pathlib import Path

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.devices.target import SlotInfo
from edgeconsole.inference.shadow import ShadowRunner
from edgeconsole.session.device_telemetry import TelemetryStream

#: Library files larger than this are not hashed to find a bundle.
MAX_LIBRARY_HASH = 64 * 1024 * 1024


def sample_bundles_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "sample_models" / "bundles"


class ShadowBundles:
    """Where each bundle is, by the hash a device reports of it."""

    def __init__(self, library_dirs: list[Path]) -> None:
        self.library_dirs = library_dirs
        self._paths: dict[str, Path] = {}  # sha256 of a bundle file -> where it is
        self._hash_cache: dict[tuple[str, int, int], str] = {}

    def remember(self, sha256: str, path: Path) -> None:
        self._paths[sha256] = path

    def find(self, sha256: str) -> Path | None:
        known = self._paths.get(sha256)
        if known is not None and known.is_file():
            return known
        for d in self.library_dirs:
            if not d.is_dir():
                continue
            for p in sorted(d.glob("*.ecb")):
                try:
                    st = p.stat()
                except OSError:
                    continue
                if st.st_size > MAX_LIBRARY_HASH:
                    continue
                key = (str(p), st.st_size, st.st_mtime_ns)
                digest = self._hash_cache.get(key)
                if digest is None:
                    digest = hashlib.sha256(p.read_bytes()).hexdigest()
                    self._hash_cache[key] = digest
                if digest == sha256:
                    return p
        return None

    def load_for(
        self,
        stream: TelemetryStream,
        slots: tuple[SlotInfo, ...],
        loaded_sha: str,
        trust_dir: Path | None,
    ) -> tuple[str, str] | None:
        """Give ``stream`` the shadow of the bundle ``slots`` say runs, unless it has it
        (``loaded_sha``): (the hash it is for, the line the view shows), or None when
        nothing changed."""
        running = next((s for s in slots if s.running), None)
        if running is not None and running.sha256 and running.sha256 == loaded_sha:
            return None
        runner, reason, sha = self.load(stream, running, trust_dir)
        stream.set_shadow(runner, reason)
        if runner is None:
            return sha, reason
        return sha, f"shadow: {runner.bundle} on the laptop, tolerance {runner.tolerance:g}"

    def load(
        self, stream: TelemetryStream, running: SlotInfo | None, trust_dir: Path | None
    ) -> tuple[ShadowRunner | None, str, str]:
        """(the runner or None, why there is none, the hash it is for) for the bundle
        ``running`` reports (worker thread: loading a model takes a while)."""
        if running is None or not running.sha256:
            return None, "the device reports no running bundle", ""
        path = self.find(running.sha256)
        if path is None:
            return (
                None,
                f"bundle {running.bundle_id} v{running.version} is not in the library: "
                "no shadow run",
                running.sha256,
            )
        try:
            from edgeconsole.inference.shadow import load_shadow_runner
            from edgeconsole.workshop.access import open_verified

            bundle = open_verified(path, trust_dir, mode="memory")
            runner = load_shadow_runner(
                bundle.description,
                bundle.files,
                stream.parser.channels,
                f"{bundle.manifest.bundle_id} v{bundle.manifest.version}",
            )
        except EdgeConsoleError as exc:
            return None, f"no shadow run: {exc}", running.sha256
        except Exception as exc:  # onnxruntime's own errors
            return None, f"no shadow run: {exc!r}", running.sha256
        return runner, "", running.sha256
