"""Handshake signals over Modbus TCP, through pymodbus's asyncio client.

Reads are planned once per set of names: signals of one area that sit close
together are read in one request (the trigger and the ack of the sample map
are one ``read_coils``). Writes are grouped the same way, and the request that
carries ``last`` (results-ready) goes after the others, so the PLC never sees
results-ready before the verdict it announces.

Every Modbus exception code becomes a sentence naming the signals involved.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from edgeconsole.core.errors import PlcDisconnected, PlcError
from edgeconsole.devices.plc.link import PlcUrl
from edgeconsole.devices.plc.plcmap import BIT_AREAS, PlcMap, Signal

# pymodbus logs every failed request with a frame dump on the root handler; our
# errors say it in words, once, to the person.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

#: Largest span read in one request (the protocol's limits are 2000 bits / 125 registers).
MAX_BITS, MAX_REGS = 2000, 125
#: Signals of one area this close together are read in one request.
MERGE_GAP = 32

EXCEPTION_TEXT = {
    1: "illegal function: this PLC does not serve {op} on {area}s",
    2: "illegal data address: this PLC has no {area} {span}",
    3: "illegal data value: the PLC refused the value or count for {area} {span}",
    4: "server device failure: the PLC could not serve unit id {unit} ({area} {span})",
    5: "acknowledge: the PLC accepted a long request but has not finished it",
    6: "server device busy: the PLC is busy with another request",
    8: "memory parity error: the PLC's memory failed a consistency check",
    10: "gateway path unavailable: the gateway has no path to unit id {unit}",
    11: "gateway target failed to respond: no device with unit id {unit} answers behind "
    "the gateway",
}
EXCEPTION_HINT = {
    1: "check the map's areas against the PLC's documentation",
    2: "the map names registers this PLC does not have: compare it with the PLC's register table",
    3: "check the map's addresses and the PLC's limits",
    4: "check [modbus] unit_id in the map matches the PLC's unit id",
    5: "retry; if it persists, ask the PLC programmer",
    6: "retry; if it persists, the PLC is overloaded",
    8: "the PLC needs service",
    10: "check [modbus] unit_id and the gateway's routing",
    11: "check [modbus] unit_id in the map and that the device behind the gateway is on",
}


@dataclass(frozen=True, slots=True)
class Span:
    """One request's worth of signals: an area, a start address and a count."""

    area: str
    start: int
    count: int
    signals: tuple[Signal, ...]

    def text(self) -> str:
        end = self.start + self.count - 1
        return f"{self.start}" if end == self.start else f"{self.start}..{end}"


def plan_spans(signals: Sequence[Signal], *, merge_gap: int = MERGE_GAP) -> list[Span]:
    """Group signals into as few requests as the protocol allows."""
    spans: list[Span] = []
    by_area: dict[str, list[Signal]] = {}
    for s in signals:
        assert s.area is not None and s.address is not None
        by_area.setdefault(s.area, []).append(s)
    for area, group in by_area.items():
        group.sort(key=lambda s: s.address or 0)
        limit = MAX_BITS if area in BIT_AREAS else MAX_REGS
        current: list[Signal] = []
        for s in group:
            addr = s.address or 0
            if current:
                first = current[0].address or 0
                last = current[-1].address or 0
                if addr - last > merge_gap or addr - first + 1 > limit:
                    spans.append(_span(area, current))
                    current = []
            current.append(s)
        if current:
            spans.append(_span(area, current))
    return spans


def _span(area: str, group: list[Signal]) -> Span:
    start = group[0].address or 0
    end = group[-1].address or 0
    return Span(area, start, end - start + 1, tuple(group))


def _contiguous(values: list[tuple[Signal, int]]) -> list[tuple[str, int, list[int]]]:
    """Runs of consecutive addresses of one area, for one write request each."""
    runs: list[tuple[str, int, list[int]]] = []
    for sig, value in sorted(values, key=lambda sv: (sv[0].area or "", sv[0].address or 0)):
        area, addr = sig.area or "", sig.address or 0
        if runs and runs[-1][0] == area and runs[-1][1] + len(runs[-1][2]) == addr:
            runs[-1][2].append(value)
        else:
            runs.append((area, addr, [value]))
    return runs


def _fail_pending(client: AsyncModbusTcpClient) -> None:
    """The connection is lost: fail the request waiting for its answer now.

    pymodbus's client (3.16) notes a lost connection but leaves the request in flight
    waiting for its whole timeout (1 s here): a PLC that closed the connection, or a
    reset, cost a second before the handshake knew, ten parts at 600 parts/min, and the
    part in progress with them. Failing the answer's future (a private attribute:
    without it, the timeout still ends the wait) makes it a ConnectionException at once.
    """
    fut = getattr(getattr(client, "ctx", None), "response_future", None)
    if isinstance(fut, asyncio.Future) and not fut.done():
        fut.set_exception(ConnectionException("the PLC closed the connection"))
        fut.exception()  # no request waiting on it (lost between requests): nothing to log


class ModbusLink:
    """The camera's (or the watcher's) Modbus TCP client to the line PLC."""

    def __init__(self, url: PlcUrl, plc_map: PlcMap, *, timeout_s: float = 1.0) -> None:
        self.url = str(url)
        self._target = url
        self.map = plc_map
        self.unit = plc_map.unit_id
        self.timeout_s = timeout_s
        self._client: AsyncModbusTcpClient | None = None
        self._plans: dict[tuple[str, ...], list[Span]] = {}
        self.requests = 0

    async def connect(self) -> None:
        await self.close()
        # reconnect_delay=0: pymodbus must not reconnect behind our back; the
        # handshake decides when to retry and counts what happened meanwhile.
        client = AsyncModbusTcpClient(
            self._target.host,
            port=self._target.port,
            timeout=self.timeout_s,
            retries=0,
            reconnect_delay=0,
            name="edgeconsole-plc",
            trace_connect=lambda up: None if up else _fail_pending(client),
        )
        try:
            ok = await client.connect()
        except (OSError, ModbusException) as exc:
            client.close()
            raise self._unreachable(str(exc)) from None
        if not ok:
            client.close()
            raise self._unreachable("connection refused or timed out")
        self._client = client
        # Probe with the signals the handshake reads most: a wrong unit id or a
        # map naming registers the PLC lacks shows up here, not mid-part.
        await self.read([s.name for s in self.map.inputs()])

    def _unreachable(self, why: str) -> PlcDisconnected:
        return PlcDisconnected(
            f"cannot reach the PLC ({why})",
            subject=f"PLC {self.url}",
            hint="check the PLC is on, the cable, the address and the port (Modbus TCP is "
            "usually 502)",
        )

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    async def read(self, names: Sequence[str]) -> dict[str, int]:
        key = tuple(names)
        spans = self._plans.get(key)
        if spans is None:
            spans = plan_spans([self.map.signals[n] for n in names])
            self._plans[key] = spans
        out: dict[str, int] = {}
        for span in spans:
            values = await self._read_span(span)
            for s in span.signals:
                out[s.name] = int(values[(s.address or 0) - span.start])
        return out

    async def _read_span(self, span: Span) -> list[int]:
        client = self._need()
        fn = {
            "coil": client.read_coils,
            "discrete_input": client.read_discrete_inputs,
            "holding_register": client.read_holding_registers,
            "input_register": client.read_input_registers,
        }[span.area]
        rsp = await self._call("read", span, fn(span.start, count=span.count, device_id=self.unit))
        if span.area in BIT_AREAS:
            return [int(b) for b in rsp.bits[: span.count]]
        return list(rsp.registers[: span.count])

    async def write(self, values: Mapping[str, int], *, last: str | None = None) -> None:
        """One request per run of consecutive addresses; the run holding ``last`` goes
        last. A Modbus write request is applied whole, so the PLC never sees
        results-ready without the verdict written in the same run."""
        client = self._need()
        runs = _contiguous([(self.map.signals[n], int(v)) for n, v in values.items()])
        if last is not None and last in values:
            sig = self.map.signals[last]
            hit = [
                r
                for r in runs
                if r[0] == sig.area and r[1] <= (sig.address or 0) < r[1] + len(r[2])
            ]
            runs = [r for r in runs if r not in hit] + hit
        for area, start, vals in runs:
            sigs = tuple(
                s
                for s in (self.map.signals[n] for n in values)
                if s.area == area and start <= (s.address or 0) < start + len(vals)
            )
            span = Span(area, start, len(vals), sigs)
            if area == "coil":
                bits = [bool(v) for v in vals]
                req = (
                    client.write_coil(start, bits[0], device_id=self.unit)
                    if len(bits) == 1
                    else client.write_coils(start, bits, device_id=self.unit)
                )
            else:
                regs = [v & 0xFFFF for v in vals]
                req = (
                    client.write_register(start, regs[0], device_id=self.unit)
                    if len(regs) == 1
                    else client.write_registers(start, regs, device_id=self.unit)
                )
            await self._call("write", span, req)

    def _need(self) -> AsyncModbusTcpClient:
        if self._client is None or not self._client.connected:
            raise PlcDisconnected(
                "the link to the PLC is down",
                subject=f"PLC {self.url}",
                hint="it is retried; check the PLC and the network",
            )
        return self._client

    async def _call(self, op: str, span: Span, request: Any) -> Any:
        self.requests += 1
        try:
            rsp = await request
        except ConnectionException as exc:
            await self.close()
            raise PlcDisconnected(
                f"the PLC went away ({exc})",
                subject=f"PLC {self.url}",
                hint="it is retried; check the PLC and the network",
            ) from None
        except ModbusIOException:
            # No answer in time: a dead link, or a PLC that ignores requests for
            # a unit id it does not have (many do, silently).
            await self.close()
            raise PlcDisconnected(
                f"no answer from unit id {self.unit} within {self.timeout_s * 1000:.0f} ms "
                f"({op} {span.area} {span.text()})",
                subject=f"PLC {self.url}",
                hint="check the PLC is running and [modbus] unit_id in the map matches it",
            ) from None
        except ModbusException as exc:
            raise PlcError(f"Modbus request failed: {exc}", subject=f"PLC {self.url}") from None
        if rsp.isError():
            code = int(getattr(rsp, "exception_code", 0) or 0)
            raise modbus_exception_error(code, op, span, self.unit, self.url)
        return rsp


def modbus_exception_error(code: int, op: str, span: Span, unit: int, url: str) -> PlcError:
    """A Modbus exception response as a sentence naming the signals it hit."""
    template = EXCEPTION_TEXT.get(code, "exception code {code}")
    names = ", ".join(s.name for s in span.signals)
    area = span.area.replace("_", " ")
    what = template.format(op=op, area=area, span=span.text(), unit=unit, code=code)
    doing = "reading" if op == "read" else "writing"
    return PlcError(
        f"Modbus exception {code} ({what}) while {doing} {names}",
        subject=f"PLC {url}",
        hint=EXCEPTION_HINT.get(code, "see the PLC's documentation for this code"),
    )
