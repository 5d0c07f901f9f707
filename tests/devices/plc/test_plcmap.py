"""The PLC map file: the sample reads, and bad maps get a sentence naming the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.devices.plc.plcmap import (
    MAX_MAP_BYTES,
    SIGNALS,
    load_map,
    parse_map,
    sample_map_path,
)

GOOD = sample_map_path().read_text()


def test_the_sample_maps_name_every_signal() -> None:
    m = load_map(sample_map_path())
    assert m.protocol == "modbus" and m.unit_id == 1
    assert set(m.signals) == set(SIGNALS)
    assert m.signals["trigger"].area == "coil" and m.signals["trigger"].address == 0
    assert m.signals["part_counter"].where() == "holding_register 17"
    ua = load_map(sample_map_path().with_name("sample_map_opcua.toml"))
    assert ua.protocol == "opcua" and ua.signals["trigger"].node == "ns=2;s=QC.Trigger"


def _edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


BAD = [
    ("not toml", "trigger = = 1", "not valid TOML"),
    ("truncated", GOOD[: GOOD.index("[signals]") + 120], ""),
    ("newer version", _edit("version = 1", "version = 2"), "map version 2"),
    ("wrong format", _edit('format = "edgeconsole-plc-map"', 'format = "x"'), "'format'"),
    ("unknown key", "extra = 1\n" + GOOD, "unknown key"),
    (
        "unknown signal",
        _edit("[signals]", '[signals]\nreject_gate = { area = "coil", address = 99 }'),
        "unknown signal",
    ),
    ("missing trigger", _edit('trigger       = { area = "coil", address = 0 }', ""), "trigger"),
    (
        "output in discrete inputs",
        _edit(
            'ok            = { area = "coil", address = 18 }',
            'ok = { area = "discrete_input", address = 18 }',
        ),
        "cannot write",
    ),
    (
        "word in coils",
        _edit(
            'class_id      = { area = "holding_register", address = 16 }',
            'class_id = { area = "coil", address = 40 }',
        ),
        "carries a number",
    ),
    (
        "two on one address",
        _edit(
            'ng            = { area = "coil", address = 19 }',
            'ng = { area = "coil", address = 18 }',
        ),
        "both at coil 18",
    ),
    ("address too big", _edit("address = 0 }", "address = 70000 }"), "0..65535"),
    ("negative address", _edit("address = 0 }", "address = -1 }"), "0..65535"),
    ("bool address", _edit("address = 0 }", "address = true }"), "0..65535"),
    ("unit id", _edit("unit_id = 1", "unit_id = 300"), "unit_id"),
    (
        "bad area",
        _edit('area = "coil", address = 0', 'area = "coils", address = 0'),
        "area must be",
    ),
    ("poll too fast", _edit("poll_ms = 1.0", "poll_ms = 0"), "poll_ms"),
    (
        "no verdict",
        _edit('ok            = { area = "coil", address = 18 }', "").replace(
            'ng            = { area = "coil", address = 19 }', ""
        ),
        "neither 'ok' nor 'ng'",
    ),
    (
        "signal not a table",
        _edit('trigger       = { area = "coil", address = 0 }', "trigger = 5"),
        "must be a table",
    ),
    ("protocol", _edit('protocol = "modbus"', 'protocol = "profinet"'), "'protocol'"),
]


@pytest.mark.parametrize(("why", "text", "expect"), BAD, ids=[b[0] for b in BAD])
def test_bad_maps_are_refused_with_a_sentence(why: str, text: str, expect: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_map(text, source="line3.toml")
    msg = str(info.value)
    assert expect in msg, msg
    assert "line3.toml" in msg


def test_hostile_bytes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="larger than"):
        parse_map(b"#" * (MAX_MAP_BYTES + 1))
    with pytest.raises(ConfigError, match="not UTF-8"):
        parse_map(b"\xff\xfe\x00name")
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_map("a = [" * 5000)
    with pytest.raises(ConfigError, match="file not found"):
        load_map(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="folder"):
        load_map(tmp_path)
    big = tmp_path / "big.toml"
    big.write_bytes(b"x" * (10 * MAX_MAP_BYTES))
    with pytest.raises(ConfigError, match="larger than"):
        load_map(big)


def test_opcua_node_ids_are_checked() -> None:
    ua = sample_map_path().with_name("sample_map_opcua.toml").read_text()
    with pytest.raises(ConfigError, match="node id"):
        parse_map(ua.replace('"ns=2;s=QC.Trigger"', '"Trigger"'))
    with pytest.raises(ConfigError, match="unknown key"):
        parse_map(
            ua.replace('{ node = "ns=2;s=QC.OK" }', '{ node = "ns=2;s=QC.OK", area = "coil" }')
        )
