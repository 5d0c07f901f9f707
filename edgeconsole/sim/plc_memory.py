"""The virtual PLC's memory, served over Modbus TCP (pymodbus) or OPC UA (asyncua).

The PLC program (``sim/plc.py``) reads and writes handshake signals by name;
the memory lays them out as the map says and serves them with the protocol
library's own server. Both call ``on_results_ready(value, stamp_ns)`` just
before the camera's write of ``results_ready`` is applied, so the PLC stamps
the edge where it sees it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, Protocol

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import ConfigError, PlcError
from edgeconsole.devices.plc.plcmap import BIT_AREAS, PlcMap

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
logging.getLogger("asyncua").setLevel(logging.CRITICAL)

#: (new value, stamp) of a results_ready write, before it is applied.
OnResultsReady = Callable[[int, int], None]


class PlcMemory(Protocol):
    port: int
    scheme: str

    async def open(self, host: str, port: int, on_results_ready: OnResultsReady) -> None: ...

    def get(self, name: str) -> int: ...

    async def set(self, name: str, value: int) -> None: ...

    def drop_clients(self) -> int:
        """Close every client connection, keeping the memory; how many there were."""

    async def close(self) -> None: ...


def memory_for(plc_map: PlcMap, *, unit_id: int | None, missing_outputs: bool) -> PlcMemory:
    if plc_map.protocol == "opcua":
        if unit_id is not None:
            raise ConfigError(
                "a unit id is a Modbus setting; this map describes OPC UA signals",
                subject="virtual PLC",
            )
        return OpcUaMemory(plc_map, missing_outputs=missing_outputs)
    return ModbusMemory(plc_map, unit_id=unit_id, missing_outputs=missing_outputs)


# ---- Modbus TCP -------------------------------------------------------------------
_AREA_INDEX = {"coil": 0, "discrete_input": 1, "holding_register": 2, "input_register": 3}
_BLOCK_ID = {"coil": "c", "discrete_input": "d", "holding_register": "h", "input_register": "i"}
_WRITE_FC = {5: "coil", 15: "coil", 6: "holding_register", 16: "holding_register"}


class ModbusMemory:
    """A pymodbus ``SimDevice`` laid out from the map, on pymodbus's own server."""

    scheme = "modbus"

    def __init__(
        self, plc_map: PlcMap, *, unit_id: int | None = None, missing_outputs: bool = False
    ) -> None:
        self.map = plc_map
        self.unit = unit_id if unit_id is not None else plc_map.unit_id
        self.missing_outputs = missing_outputs
        self.port = 0
        self._server: Any = None
        self._mem: dict[str, tuple[int, int, list[int], list[int]]] = {}
        self._on_rr: OnResultsReady | None = None

    def _device(self) -> Any:
        from pymodbus.simulator import DataType, SimData, SimDevice

        top: dict[str, int] = {a: -1 for a in _AREA_INDEX}
        for sig in self.map.signals.values():
            if self.missing_outputs and sig.direction == "output":
                continue
            assert sig.area is not None and sig.address is not None
            top[sig.area] = max(top[sig.area], sig.address)
        blocks: list[list[Any]] = [[], [], [], []]
        for area, idx in _AREA_INDEX.items():
            count = max(16, top[area] + 1)
            if area in BIT_AREAS:
                count = (count + 15) // 16 * 16
                blocks[idx].append(SimData(0, count=count, values=False, datatype=DataType.BITS))
            else:
                blocks[idx].append(SimData(0, count=count, values=0, datatype=DataType.REGISTERS))
        return SimDevice(
            id=self.unit,
            simdata=(blocks[0], blocks[1], blocks[2], blocks[3]),
            action=self._on_access,
        )

    async def open(self, host: str, port: int, on_results_ready: OnResultsReady) -> None:
        from pymodbus.server import ModbusTcpServer

        self._on_rr = on_results_ready
        device = self._device()
        server = ModbusTcpServer(device, address=(host, port))
        try:
            await server.serve_forever(background=True)
        except (OSError, RuntimeError) as exc:
            raise PlcError(
                f"cannot listen on {host}:{port} ({exc})",
                subject="virtual PLC",
                hint="pick another --port (0 picks a free one)",
            ) from None
        self._server = server
        self.port = port
        if port == 0:
            listener: Any = server.transport  # an asyncio Server once listening
            self.port = int(listener.sockets[0].getsockname()[1])
        self._mem = server.context.devices[device.id].block  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    def drop_clients(self) -> int:
        if self._server is None:
            return 0
        handlers = list(self._server.active_connections.values())
        for handler in handlers:
            if handler.transport is not None:
                handler.transport.abort()  # the client sees a reset, as from a crash
        return len(handlers)

    def get(self, name: str) -> int:
        sig = self.map.signals[name]
        assert sig.area is not None and sig.address is not None
        start, count, regs, _ = self._mem[_BLOCK_ID[sig.area]]
        if sig.area in BIT_AREAS:
            reg, bit = divmod(sig.address, 16)
            off = reg - start
            return (regs[off] >> bit) & 1 if 0 <= off < count else 0
        off = sig.address - start
        return regs[off] if 0 <= off < count else 0

    async def set(self, name: str, value: int) -> None:
        if not self.map.has(name):
            return
        sig = self.map.signals[name]
        assert sig.area is not None and sig.address is not None
        start, count, regs, _ = self._mem[_BLOCK_ID[sig.area]]
        if sig.area in BIT_AREAS:
            reg, bit = divmod(sig.address, 16)
            off = reg - start
            if 0 <= off < count:
                regs[off] = (regs[off] | (1 << bit)) if value else (regs[off] & ~(1 << bit))
        else:
            off = sig.address - start
            if 0 <= off < count:
                regs[off] = value & 0xFFFF

    async def _on_access(
        self,
        func_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> None:
        """pymodbus calls this before it applies a request: watch the camera's writes."""
        if set_values is None or self._on_rr is None:
            return None
        area = _WRITE_FC.get(func_code)
        rr = self.map.signals.get("results_ready")
        if area is None or rr is None or rr.area != area:
            return None
        assert rr.address is not None
        offset = rr.address - address
        if 0 <= offset < len(set_values):
            self._on_rr(int(bool(set_values[offset])), now_ns())
        return None


# ---- OPC UA -----------------------------------------------------------------------
_NS = re.compile(r"^ns=(\d+);")


class OpcUaMemory:
    """One asyncua server variable per mapped signal: Booleans for bits, UInt16 for
    numbers (what a PLC's BOOL and WORD look like over OPC UA)."""

    scheme = "opc.tcp"

    def __init__(self, plc_map: PlcMap, *, missing_outputs: bool = False) -> None:
        self.map = plc_map
        self.missing_outputs = missing_outputs
        self.port = 0
        self.path = "/edgeconsole/plc"
        self._server: Any = None
        self._ids: dict[str, Any] = {}  # name -> NodeId
        self._names: dict[Any, str] = {}
        self._values: dict[str, int] = {}
        self._on_rr: OnResultsReady | None = None

    async def open(self, host: str, port: int, on_results_ready: OnResultsReady) -> None:
        from asyncua import Server, ua
        from asyncua.server.internal_session import CallbackType

        self._on_rr = on_results_ready
        server = Server()
        await server.init()
        server.set_server_name("EdgeConsole virtual PLC")
        server.set_endpoint(f"opc.tcp://{host}:{port}{self.path}")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        top = max((_ns(s.node) for s in self.map.signals.values()), default=2)
        for i in range(2, top + 1):
            await server.register_namespace(f"urn:edgeconsole:virtual-plc:{i}")
        folder = await server.nodes.objects.add_folder("ns=1;s=VirtualPLC", "VirtualPLC")
        for name, sig in self.map.signals.items():
            if self.missing_outputs and sig.direction == "output":
                continue
            assert sig.node is not None
            nodeid = ua.NodeId.from_string(sig.node)
            if sig.is_word:
                var = await folder.add_variable(nodeid, name, 0, varianttype=ua.VariantType.UInt16)
            else:
                var = await folder.add_variable(
                    nodeid, name, False, varianttype=ua.VariantType.Boolean
                )
            await var.set_writable()
            self._ids[name] = nodeid
            self._names[nodeid] = name
            self._values[name] = 0
        server.subscribe_server_callback(CallbackType.PreWrite, self._pre_write)
        server.subscribe_server_callback(CallbackType.PostWrite, self._post_write)
        try:
            await server.start()
        except OSError as exc:
            raise PlcError(
                f"cannot listen on {host}:{port} ({exc})",
                subject="virtual PLC",
                hint="pick another --port (0 picks a free one)",
            ) from None
        self._server = server
        assert server.bserver is not None
        self.port = int(server.bserver.port)

    async def close(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    def get(self, name: str) -> int:
        return self._values.get(name, 0)

    def drop_clients(self) -> int:
        raise PlcError(
            "dropping the link is a Modbus TCP misbehaviour", subject="virtual PLC (OPC UA)"
        )

    async def set(self, name: str, value: int) -> None:
        if name not in self._ids:
            return
        from asyncua import ua

        sig = self.map.signals[name]
        variant = (
            ua.Variant(int(value) & 0xFFFF, ua.VariantType.UInt16)
            if sig.is_word
            else ua.Variant(bool(value), ua.VariantType.Boolean)
        )
        self._values[name] = int(value) & 0xFFFF if sig.is_word else int(bool(value))
        await self._server.write_attribute_value(self._ids[name], ua.DataValue(variant))

    def _writes(self, event: Any) -> list[tuple[int, str, int]]:
        """(position in the request, signal, value) of each write to a mapped node."""
        out = []
        for i, wv in enumerate(event.request_params.NodesToWrite):
            name = self._names.get(wv.NodeId)
            variant = wv.Value.Value if wv.Value is not None else None
            if name is None or variant is None or variant.Value is None:
                continue
            try:
                out.append((i, name, int(variant.Value)))
            except (TypeError, ValueError):
                continue  # not a number: the server refuses it (BadTypeMismatch)
        return out

    def _pre_write(self, event: Any, _dispatcher: Any) -> None:
        if self._on_rr is None:
            return
        for _, name, value in self._writes(event):
            if name == "results_ready":
                self._on_rr(int(bool(value)), now_ns())

    def _post_write(self, event: Any, _dispatcher: Any) -> None:
        """Keep the program's view of the camera's writes (only those that took)."""
        results = event.response_params or []
        for i, name, value in self._writes(event):
            if i < len(results) and results[i].is_good():
                sig = self.map.signals[name]
                self._values[name] = value & 0xFFFF if sig.is_word else int(bool(value))


def _ns(node: str | None) -> int:
    m = _NS.match(node or "")
    return int(m.group(1)) if m else 0
