"""Handshake signals over OPC UA, through asyncua's client.

Every mapped signal is one node. Reads of several signals are one Read request;
writes are one Write request, except that the node carrying ``last``
(results-ready) is written in a second request after the others, so the PLC
never sees results-ready before the verdict it announces (a server may apply
the values of one Write in any order).

OPC UA is typed: a Boolean node refuses an Int16. The link reads every node
once at connect and remembers its variant type, so a 0/1 becomes a Boolean, a
counter an Int16, UInt16, Int32, ... as the PLC declared it.

Security: ``[opcua] security = "none"`` connects without; a server that offers
no unsecured endpoint is told as a sentence (which policies and modes it
wants, and what to put in the map). ``sign`` / ``sign_and_encrypt`` use
Basic256Sha256 with the client certificate and key the map names; the
server's certificate is pinned when the map gives one, otherwise taken from
its endpoint list (trust on first use, as most OPC UA clients do).

Every bad status code becomes a sentence naming the signal and its node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from asyncua import Client, Node, ua
from asyncua.crypto import security_policies, uacrypto
from cryptography import x509

from edgeconsole.core.errors import PlcDisconnected, PlcError
from edgeconsole.devices.plc.link import PlcUrl
from edgeconsole.devices.plc.plcmap import PlcMap, Signal

# asyncua logs every refused connect and closed session as a warning with a
# traceback; the person gets one sentence from us instead.
logging.getLogger("asyncua").setLevel(logging.CRITICAL)

_MODES = {
    "none": ua.MessageSecurityMode.None_,
    "sign": ua.MessageSecurityMode.Sign,
    "sign_and_encrypt": ua.MessageSecurityMode.SignAndEncrypt,
}
_MODE_TEXT = {1: "none", 2: "sign", 3: "sign_and_encrypt"}

#: Variant types a handshake signal may have on the server, and how a value is sent.
_INT_TYPES = {
    ua.VariantType.SByte,
    ua.VariantType.Byte,
    ua.VariantType.Int16,
    ua.VariantType.UInt16,
    ua.VariantType.Int32,
    ua.VariantType.UInt32,
    ua.VariantType.Int64,
    ua.VariantType.UInt64,
}
_FLOAT_TYPES = {ua.VariantType.Float, ua.VariantType.Double}

#: Bad status codes in words: {sig} is the signal, {node} its node id.
STATUS_TEXT = {
    "BadNodeIdUnknown": "the OPC UA server has no node {node} ({sig})",
    "BadNodeIdInvalid": "{node} ({sig}) is not a valid node id for this server",
    "BadNotReadable": "the server does not let this client read {sig} (node {node})",
    "BadNotWritable": "{sig} (node {node}) is read-only on the server",
    "BadUserAccessDenied": "the server does not let this client {op} {sig} (node {node}): "
    "read-only, or not allowed for this user",
    "BadTypeMismatch": "the server refused the value for {sig} (node {node}): wrong data type",
    "BadOutOfRange": "the server refused the value for {sig} (node {node}): out of range",
    "BadAttributeIdInvalid": "node {node} ({sig}) has no value (is it a variable?)",
    "BadWriteNotSupported": "the server does not support writing {sig} (node {node})",
}
STATUS_HINT = {
    "BadNodeIdUnknown": "the map names nodes this server does not have: compare the map's "
    "node ids with the server's address space (namespace index and name)",
    "BadNodeIdInvalid": "check the node id syntax in the map (ns=2;s=Name)",
    "BadNotWritable": "camera outputs must be writable variables on the PLC",
    "BadUserAccessDenied": "camera outputs must be writable variables: ask the PLC programmer "
    "for write access for the camera",
    "BadTypeMismatch": "the map's signal sits on a node of another type (a bit on a string?)",
}


class OpcUaLink:
    """The camera's (or the watcher's) OPC UA client to the line PLC."""

    def __init__(self, url: PlcUrl, plc_map: PlcMap, *, timeout_s: float = 1.0) -> None:
        self.url = str(url)
        self._target = url
        self.map = plc_map
        self.timeout_s = timeout_s
        self._client: Client | None = None
        self._nodes: dict[str, Node] = {}
        self._types: dict[str, ua.VariantType] = {}
        self.requests = 0

    # ---- connecting ----------------------------------------------------------------
    async def connect(self) -> None:
        await self.close()
        client = Client(self.url, timeout=self.timeout_s)
        client.name = client.description = "EdgeConsole QC camera"
        try:
            await self._secure(client)
            await asyncio.wait_for(client.connect(), timeout=max(10.0, self.timeout_s * 5))
        except PlcError:
            raise
        except (OSError, TimeoutError) as exc:
            raise self._unreachable(str(exc) or type(exc).__name__) from None
        except ua.UaStatusCodeError as exc:
            raise self._refused(exc) from None
        except (ua.UaError, ValueError) as exc:
            raise PlcError(
                f"the OPC UA session could not be opened ({exc})",
                subject=f"PLC {self.url}",
                hint="check the address (opc.tcp://HOST:PORT/PATH) and [opcua] in the map",
            ) from None
        self._client = client
        self._nodes = {n: client.get_node(s.node) for n, s in self.map.signals.items() if s.node}
        # Read everything once: a node the server lacks shows up here, not mid-part,
        # and the variant types are learnt for writing.
        values = await self._read_values(list(self._nodes))
        for name, dv in values.items():
            null = ua.VariantType.Null
            self._types[name] = dv.Value.VariantType if dv.Value is not None else null
            _as_int(name, dv.Value.Value if dv.Value is not None else None)  # a bit or a number

    async def _secure(self, client: Client) -> None:
        mode = self.map.opcua_security
        if mode == "none":
            try:
                endpoints = await asyncio.wait_for(
                    client.connect_and_get_server_endpoints(), timeout=max(10.0, self.timeout_s * 5)
                )
            except (OSError, TimeoutError) as exc:
                raise self._unreachable(str(exc) or type(exc).__name__) from None
            if not any(e.SecurityMode == ua.MessageSecurityMode.None_ for e in endpoints):
                raise security_required_error(self.url, endpoints)
            return
        assert self.map.opcua_certificate and self.map.opcua_private_key  # the map checks it
        try:
            # Servers check that the session's application URI is the certificate's.
            cert = await uacrypto.load_certificate(self.map.opcua_certificate)
            uri = _application_uri(cert)
            if uri:
                client.application_uri = uri
            await client.set_security(
                security_policies.SecurityPolicyBasic256Sha256,
                certificate=self.map.opcua_certificate,
                private_key=self.map.opcua_private_key,
                server_certificate=self.map.opcua_server_certificate,
                mode=_MODES[mode],
            )
        except (OSError, TimeoutError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise PlcError(
                    f"cannot read the certificate or key {exc.filename}",
                    subject=f"PLC map {self.map.source}",
                    hint="[opcua] certificate / private_key are read next to the map file",
                ) from None
            raise self._unreachable(str(exc) or type(exc).__name__) from None
        except ua.UaError as exc:
            raise PlcError(
                f"the server offers no Basic256Sha256 {mode} endpoint ({exc})",
                subject=f"PLC {self.url}",
                hint="check [opcua] security in the map against the PLC's OPC UA settings",
            ) from None
        except ValueError as exc:
            raise PlcError(
                f"the certificate or key could not be loaded ({exc})",
                subject=f"PLC map {self.map.source}",
                hint="give a DER or PEM certificate and a PEM private key",
            ) from None

    def _unreachable(self, why: str) -> PlcDisconnected:
        return PlcDisconnected(
            f"cannot reach the OPC UA server ({why})",
            subject=f"PLC {self.url}",
            hint="check the PLC is on, the cable, the address and the port (OPC UA is "
            "usually 4840)",
        )

    def _refused(self, exc: ua.UaStatusCodeError) -> PlcError:
        name = ua.StatusCode(exc.code).name
        if "Security" in name or "Certificate" in name:
            return PlcError(
                f"the OPC UA server refused the secure channel ({name})",
                subject=f"PLC {self.url}",
                hint="the server must trust the camera's certificate: ask the PLC programmer "
                "to accept it, and check [opcua] security in the map",
            )
        return PlcError(
            f"the OPC UA server refused the session ({name}: {ua.StatusCode(exc.code).doc})",
            subject=f"PLC {self.url}",
            hint="check the address's path and the server's settings",
        )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), timeout=self.timeout_s)

    @property
    def connected(self) -> bool:
        return self._client is not None

    # ---- reading and writing -------------------------------------------------------
    async def read(self, names: Sequence[str]) -> dict[str, int]:
        values = await self._read_values(names)
        return {
            n: _as_int(n, dv.Value.Value if dv.Value is not None else None)
            for n, dv in values.items()
        }

    async def _read_values(self, names: Sequence[str]) -> dict[str, ua.DataValue]:
        client = self._need()
        nodes = [self._nodes[n] for n in names]
        results = await self._call(client.read_attributes(nodes), "read", names)
        out: dict[str, ua.DataValue] = {}
        for name, dv in zip(names, results, strict=True):
            status = dv.StatusCode
            if status is not None and status.is_bad():
                raise self._bad_status(status, name, "read")
            out[name] = dv
        return out

    async def write(self, values: Mapping[str, int], *, last: str | None = None) -> None:
        """One Write request, and a second for ``last`` after it."""
        first = {n: v for n, v in values.items() if n != last}
        if first:
            await self._write(first)
        if last is not None and last in values:
            await self._write({last: values[last]})

    async def _write(self, values: Mapping[str, int]) -> None:
        client = self._need()
        names = list(values)
        nodeids = [self._nodes[n].nodeid for n in names]
        dvs = [ua.DataValue(self._variant(n, int(v))) for n, v in values.items()]
        results = await self._call(
            client.uaclient.write_attributes(nodeids, dvs, ua.AttributeIds.Value), "write", names
        )
        for name, status in zip(names, results, strict=True):
            if status.is_bad():
                raise self._bad_status(status, name, "write")

    def _variant(self, name: str, value: int) -> ua.Variant:
        vtype = self._types.get(name, ua.VariantType.Null)
        if vtype == ua.VariantType.Boolean:
            return ua.Variant(bool(value), vtype)
        if vtype in _INT_TYPES:
            return ua.Variant(int(value), vtype)
        if vtype in _FLOAT_TYPES:
            return ua.Variant(float(value), vtype)
        if vtype == ua.VariantType.Null:
            # An uninitialised node: a bit as Boolean, a number as Int32 (the server
            # checks the node's DataType and says so if it wants another).
            sig = self.map.signals[name]
            return (
                ua.Variant(int(value), ua.VariantType.Int32)
                if sig.is_word
                else ua.Variant(bool(value), ua.VariantType.Boolean)
            )
        raise PlcError(
            f"{name} sits on node {self.map.signals[name].node}, which holds a "
            f"{vtype.name}; a handshake signal is a Boolean or an integer",
            subject=f"PLC {self.url}",
            hint="map the signal to a Boolean (bits) or integer (numbers) variable",
        )

    def _need(self) -> Client:
        if self._client is None:
            raise PlcDisconnected(
                "the link to the PLC is down",
                subject=f"PLC {self.url}",
                hint="it is retried; check the PLC and the network",
            )
        return self._client

    async def _call(self, request: Any, op: str, names: Sequence[str]) -> Any:
        self.requests += 1
        try:
            return await request
        except TimeoutError:
            await self.close()
            raise PlcDisconnected(
                f"no answer within {self.timeout_s * 1000:.0f} ms ({op} {', '.join(names)})",
                subject=f"PLC {self.url}",
                hint="check the PLC is running; it is retried",
            ) from None
        except (OSError, ConnectionError, ua.UaError) as exc:
            await self.close()
            raise PlcDisconnected(
                f"the OPC UA server went away ({type(exc).__name__}: {exc})",
                subject=f"PLC {self.url}",
                hint="it is retried; check the PLC and the network",
            ) from None

    def _bad_status(self, status: ua.StatusCode, name: str, op: str) -> PlcError:
        sig: Signal = self.map.signals[name]
        code = status.name
        template = STATUS_TEXT.get(code)
        what = (
            template.format(sig=name, node=sig.node, op=op)
            if template
            else f"{op} of {name} (node {sig.node}) failed: {code} ({status.doc})"
        )
        return PlcError(
            what,
            subject=f"PLC {self.url}",
            hint=STATUS_HINT.get(code, "check the map's node ids against the PLC"),
        )


def security_required_error(url: str, endpoints: Sequence[ua.EndpointDescription]) -> PlcError:
    """The server offers no unsecured endpoint: say what it wants and what to do."""
    offers = sorted(
        {
            f"{e.SecurityPolicyUri.rsplit('#', 1)[-1]} {_MODE_TEXT.get(int(e.SecurityMode), '?')}"
            for e in endpoints
        }
    )
    wanted = ", ".join(offers) if offers else "no endpoint at all"
    return PlcError(
        f"the OPC UA server requires a security policy ({wanted}); the map asks for none",
        subject=f"PLC {url}",
        hint='set [opcua] security = "sign" or "sign_and_encrypt" with the camera\'s '
        "certificate and private_key in the map, and have the PLC trust that certificate",
    )


def _application_uri(cert: x509.Certificate) -> str | None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def _as_int(name: str, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value)
    raise PlcError(
        f"{name} holds {type(value).__name__} {str(value)[:40]!r}, not a bit or a number",
        hint="map the signal to a Boolean or integer variable",
    )
