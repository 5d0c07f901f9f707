"""A real ``edgeconsole agent`` process for tests that kill it, signal it or watch
its output, and a plain HTTP client for it (http.client: no session to leak, one
connection per call)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


class AgentProcess:
    """``edgeconsole agent`` in its own process group (killed as a group)."""

    def __init__(
        self, data: Path, trust: Path, token_file: Path, hardware_id: str | None, *extra: str
    ) -> None:
        cmd = [
            sys.executable,
            "-m",
            "edgeconsole",
            "agent",
            "--data-dir",
            str(data),
            "--token-file",
            str(token_file),
            "--trust-dir",
            str(trust),
            *(["--hardware-id", hardware_id] if hardware_id is not None else []),
            "--port",
            "0",
            "--trial-timeout",
            "30",
            *extra,
        ]
        env = {**os.environ, "ORT_DISABLE_TELEMETRY": "1"}
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.proc.wait(10)
            raise AgentDidNotStart(err.strip() or f"exit code {self.proc.returncode}")
        self.port = int(json.loads(line)["url"].rsplit(":", 1)[1])
        # Drain stderr so a chatty agent never blocks on a full pipe.
        self.stderr_lines: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def kill9(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def stderr_text(self) -> str:
        return "".join(self.stderr_lines)

    def sigterm_exit_code(self, timeout: float) -> int | None:
        """SIGTERM the agent alone; its exit code, or None if it was still running
        ``timeout`` seconds later (it is then killed)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None


class AgentDidNotStart(AssertionError):
    pass


class Client:
    def __init__(self, port: int, token: str, timeout: float = 60.0) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}"}
        self.timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            h = {**self.headers, **(headers or {})}
            raw: bytes | None
            if isinstance(body, dict):
                raw = json.dumps(body).encode()
                h["Content-Type"] = "application/json"
            else:
                raw = body
            conn.request(method, path, body=raw, headers=h)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = {"raw": data[:200].decode("latin-1")}
        return resp.status, parsed if isinstance(parsed, dict) else {"list": parsed}
