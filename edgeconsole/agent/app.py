"""The agent's HTTP application: OIP v2 REST plus ``/v2/edgeconsole/``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import platform
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from edgeconsole import __version__
from edgeconsole.agent.auth import make_auth_middleware
from edgeconsole.agent.bodies import BodyPace, downgrade_flag, json_body, read_body
from edgeconsole.agent.camera_runner import CameraRunner, stream_handler
from edgeconsole.agent.dirlock import DataDirLock
from edgeconsole.agent.errors import AgentRequestError, BadRequest, NotFound
from edgeconsole.agent.guard import ConnectionGuard
from edgeconsole.agent.journal import AgentJournal
from edgeconsole.agent.line import start_photo_eye
from edgeconsole.agent.ports import AgentPorts, ModelHandle
from edgeconsole.agent.repository import ModelRepository
from edgeconsole.agent.slotkeeper import SlotKeeper
from edgeconsole.agent.tensors import encode_response, parse_request
from edgeconsole.agent.upload import UploadManager
from edgeconsole.agent.upload_routes import UploadRoutes
from edgeconsole.core.errors import BundleError, EdgeConsoleError
from edgeconsole.core.slots import SlotTransitionError
from edgeconsole.inference.line.triggers import TriggerConfig

T = TypeVar("T")
SERVER_NAME = "edgeconsole-agent"
#: What an x86-64 gateway calls itself unless told otherwise: the id the shipped
#: sample bundles (and the demo's gateway) are built for.
DEFAULT_HARDWARE_ID = "gateway-x86_64"
EXTENSIONS = ["binary_tensor_data", "model_repository", "edgeconsole"]


@dataclass
class AgentConfig:
    data_dir: Path
    token: str
    host: str = "127.0.0.1"
    port: int = 8470
    cameras: list[str] = field(default_factory=list)
    hardware_id: str = DEFAULT_HARDWARE_ID
    name: str = field(default_factory=socket.gethostname)
    trial_timeout_s: float = 60.0
    reserve_bytes: int = 16 * 1024 * 1024
    upload_idle_s: float = 120.0
    upload_body_idle_s: float = 60.0  # a request body that stops for this long is dropped
    # Slow and silent peers (agent/guard.py): a request head must arrive within
    # header_timeout_s; a body must bring body_min_bytes every body_window_s.
    header_timeout_s: float = 15.0
    body_idle_s: float = 30.0
    body_window_s: float = 10.0
    body_min_bytes: int = 16 * 1024
    max_connections: int = 256
    shutdown_s: float = 3.0  # requests still running at a stop get this long
    heartbeat_s: float = 5.0
    max_jpeg_fps: float = 15.0
    mdns: bool = False
    max_request_bytes: int = 256 * 1024 * 1024
    #: Per-part models on the cameras: what decides a part (inference/line/triggers.py).
    trigger: str = "line"
    #: A photo-eye on the cameras' belt (a synthetic:conveyor?...&clock=1 spec): its
    #: edges go to every camera's line and out on the stream (issue 12).
    photo_eye: str | None = None
    #: The line PLC this gateway answers (agent/plc.py): its address and map file, and
    #: the camera whose per-part line decides its parts.
    plc: str | None = None
    plc_map: str | None = None
    plc_camera: int = 0


class Agent:
    """Everything the agent owns; :meth:`make_app` serves it."""

    def __init__(self, config: AgentConfig, ports: AgentPorts) -> None:
        self.config = config
        self.ports = ports
        data = Path(config.data_dir)
        data.mkdir(parents=True, exist_ok=True)
        self._dir_lock = DataDirLock(data)  # one agent, so one writer, per directory
        try:
            self.started = time.time()
            self.journal = AgentJournal(data / "journal.jsonl")
            self.repository = ModelRepository(data / "models", ports.load_model)
            self.slots = SlotKeeper(
                data,
                self.repository,
                ports.health_check,
                self.journal,
                trial_timeout_s=config.trial_timeout_s,
            )
            self.slots.boot()
            self.uploads = UploadManager(
                data,
                self.slots.store,
                ports.verify_manifest,
                ports.verify_bundle,
                reserve_bytes=config.reserve_bytes,
                idle_s=config.upload_idle_s,
            )
        except BaseException:
            self._dir_lock.release()
            raise
        self.guard = ConnectionGuard(
            max_connections=config.max_connections, header_timeout_s=config.header_timeout_s
        )
        self.pace = BodyPace(config.body_idle_s, config.body_window_s, config.body_min_bytes)
        self.upload_pace = BodyPace(
            config.upload_body_idle_s, config.body_window_s, config.body_min_bytes
        )
        self.cameras: list[CameraRunner] = []
        self._eye: Any = None
        self.plc_gate: Any = None  # agent/plc.py AgentPlcGate
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="agent-upload")
        self.upload_routes = UploadRoutes(
            self.uploads,
            self.journal,
            self._writer,
            pace=self.pace,
            upload_pace=self.upload_pace,
        )
        self._work = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="agent-work")
        self._slot_work = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="agent-slots")
        self.journal.add("agent", f"agent {__version__} started", cameras=len(config.cameras))

    # -- helpers ------------------------------------------------------------------
    async def _run(self, pool: concurrent.futures.Executor, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn)

    def start_cameras(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.ports.open_source is None:
            return
        for i, spec in enumerate(self.config.cameras):
            cam = CameraRunner(
                i,
                spec,
                self.ports.open_source,
                lambda: self.repository.running,
                loop,
                max_jpeg_fps=self.config.max_jpeg_fps,
                trigger=TriggerConfig.parse(self.config.trigger),
            )
            cam.start()
            self.cameras.append(cam)
        if self.config.photo_eye and self.cameras:
            self._eye = start_photo_eye(self.config.photo_eye, self.cameras)
        c = self.config
        if c.plc and c.plc_map and 0 <= c.plc_camera < len(self.cameras):
            from edgeconsole.agent.plc import AgentPlcGate

            self.plc_gate = AgentPlcGate(c.plc, c.plc_map, self.cameras[c.plc_camera], self.journal)
            self.plc_gate.start()

    def close(self) -> None:
        if self.plc_gate is not None:
            self.plc_gate.stop()
            self.plc_gate = None
        if self._eye is not None:
            self._eye.stop()
        for cam in self.cameras:
            cam.stop()
        self.cameras.clear()
        self._writer.shutdown(wait=True)
        self._work.shutdown(wait=True)
        self._slot_work.shutdown(wait=True)
        self.repository.close()
        self._dir_lock.release()

    # -- the application ------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                self.guard.middleware,
                _errors,
                make_auth_middleware(self.config.token),  # type: ignore[list-item]
            ],
            client_max_size=self.config.max_request_bytes,
        )
        r = app.router
        r.add_get("/v2", self.server_metadata)
        r.add_get("/v2/health/live", self.live)
        r.add_get("/v2/health/ready", self.ready)
        for base in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}"):
            r.add_get(base, self.model_metadata)
            r.add_get(base + "/ready", self.model_ready)
            r.add_post(base + "/infer", self.infer)
        r.add_post("/v2/repository/index", self.repository_index)
        r.add_post("/v2/repository/models/{model}/load", self.repository_load)
        r.add_post("/v2/repository/models/{model}/unload", self.repository_unload)
        e = "/v2/edgeconsole"
        r.add_get(e + "/info", self.info)
        r.add_get(e + "/slots", self.get_slots)
        r.add_post(e + "/slots/{slot}/activate", self.activate)
        r.add_post(e + "/slots/confirm", self.confirm)
        r.add_post(e + "/slots/rollback", self.rollback)
        self.upload_routes.add_to(r, e + "/uploads")
        r.add_get(e + "/journal", self.get_journal)
        r.add_get(e + "/plc", self.get_plc)
        r.add_get(e + "/stream", self.stream)
        return app

    # -- OIP: server --------------------------------------------------------------------
    async def server_metadata(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS}
        )

    async def live(self, request: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def ready(self, request: web.Request) -> web.Response:
        return web.json_response({"ready": True})

    # -- OIP: models ----------------------------------------------------------------------
    def _model(self, request: web.Request) -> ModelHandle:
        handle = self.repository.get(request.match_info["model"])
        version = request.match_info.get("version")
        if version not in (None, "", handle.version):
            raise NotFound(
                f"model '{handle.name}' has no version {version}",
                hint=f"it serves version {handle.version}",
            )
        return handle

    async def model_metadata(self, request: web.Request) -> web.Response:
        h = self._model(request)

        def t(x: Any) -> dict[str, Any]:
            return {"name": x.name, "datatype": x.datatype, "shape": list(x.shape)}

        return web.json_response(
            {
                "name": request.match_info["model"],
                "versions": [h.version],
                "platform": h.platform,
                "inputs": [t(i) for i in h.inputs],
                "outputs": [t(o) for o in h.outputs],
            }
        )

    async def model_ready(self, request: web.Request) -> web.Response:
        try:
            self._model(request)
        except AgentRequestError as exc:
            return web.json_response({"ready": False, "error": str(exc)}, status=400)
        return web.json_response({"ready": True})

    async def infer(self, request: web.Request) -> web.Response:
        handle = self._model(request)
        body = await read_body(request, max_bytes=self.config.max_request_bytes, pace=self.pace)
        raw_len = request.headers.get("Inference-Header-Content-Length")
        try:
            header_len = None if raw_len is None else int(raw_len)
        except ValueError:
            raise BadRequest("Inference-Header-Content-Length must be an integer") from None
        req, arrays = parse_request(body, header_len)
        outputs = await self._run(self._work, lambda: handle.infer(arrays))
        payload, json_len = encode_response(
            req, request.match_info["model"], handle.version, outputs
        )
        if json_len is None:
            return web.Response(body=payload, content_type="application/json")
        return web.Response(
            body=payload,
            content_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(json_len)},
        )

    # -- OIP: repository ------------------------------------------------------------------
    async def repository_index(self, request: web.Request) -> web.Response:
        body = await json_body(request, self.pace, allow_empty=True)
        rows = self.repository.index()
        if body.get("ready") is True:
            rows = [r for r in rows if r["state"] == "READY"]
        return web.json_response(rows)

    async def repository_load(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        await self._run(self._work, lambda: self.repository.load(name))
        self.journal.add("model", f"model {name} loaded")
        return web.json_response({})

    async def repository_unload(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        self.repository.unload(name)
        self.journal.add("model", f"model {name} unloaded")
        return web.json_response({})

    # -- /v2/edgeconsole ---------------------------------------------------------------------
    async def info(self, request: web.Request) -> web.Response:
        running = self.repository.running
        c = self.config
        return web.json_response(
            {
                "name": c.name,
                "agent": SERVER_NAME,
                "version": __version__,
                "hardware_id": c.hardware_id,
                "hostname": socket.gethostname(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "uptime_s": round(time.time() - self.started, 1),
                "model": None
                if running is None
                else {"name": running.name, "version": running.version},
                "slot_state": self.slots.running_state(),
                "cameras": [cam.describe() for cam in self.cameras],
                "upload": None if self.uploads.session is None else self.uploads.session.to_json(),
            }
        )

    async def get_plc(self, request: web.Request) -> web.Response:
        """The reject gate's state (``agent --plc``); ``{"plc": null}`` without one."""
        gate = self.plc_gate
        if gate is None:
            return web.json_response({"plc": None})
        return web.json_response(await self._run(self._work, gate.status))

    async def get_slots(self, request: web.Request) -> web.Response:
        return web.json_response(self.slots.describe())

    async def activate(self, request: web.Request) -> web.Response:
        try:
            index = int(request.match_info["slot"])
        except ValueError:
            raise BadRequest("the slot must be a number") from None
        body = await json_body(request, self.pace, allow_empty=True)
        confirm = body.get("confirm", False) is True
        down = downgrade_flag(body)
        timeout = body.get("timeout_s")
        if timeout is not None and (
            not isinstance(timeout, int | float) or not 0 < timeout <= 3600
        ):
            raise BadRequest("timeout_s must be a number of seconds in (0, 3600]")
        result = await self._run(
            self._slot_work,
            lambda: self.slots.activate(
                index, confirm=confirm, timeout_s=timeout, allow_downgrade=down
            ),
        )
        return web.json_response(result)

    async def confirm(self, request: web.Request) -> web.Response:
        return web.json_response(await self._run(self._slot_work, self.slots.confirm))

    async def rollback(self, request: web.Request) -> web.Response:
        return web.json_response(await self._run(self._slot_work, self.slots.rollback))

    async def get_journal(self, request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "0"))
            limit = int(request.query.get("limit", "200"))
        except ValueError:
            raise BadRequest("since and limit must be integers") from None
        return web.json_response(
            {"entries": self.journal.pull(since, limit), "last": self.journal.seq}
        )

    async def stream(self, request: web.Request) -> web.StreamResponse:
        return await stream_handler(request, self.cameras, self.started, self.config.heartbeat_s)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AgentRequestError as exc:
        extra = {k: v for k, v in exc.extra.items() if v is not None}
        body = {"error": _without_hint(exc), "hint": exc.hint, **extra}
        return web.json_response(body, status=exc.status)
    except SlotTransitionError as exc:
        return web.json_response({"error": _without_hint(exc), "hint": exc.hint}, status=409)
    except BundleError as exc:
        return web.json_response({"error": _without_hint(exc), "hint": exc.hint}, status=422)
    except EdgeConsoleError as exc:
        return web.json_response({"error": _without_hint(exc), "hint": exc.hint}, status=400)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return web.json_response(
                {"error": exc.reason},
                status=exc.status,
                headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"},
            )
        raise


def _without_hint(exc: EdgeConsoleError) -> str:
    """The error line without its hint: the hint travels in its own field (a client
    that joins them must not print it twice)."""
    return f"{exc.subject}: {exc.what}" if exc.subject else exc.what
