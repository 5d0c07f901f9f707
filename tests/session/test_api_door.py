"""session/api.py: the window's door to domain names, imported name by name on use."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import edgeconsole.session.api as api


def test_every_name_of_the_door_is_the_domain_packages_own() -> None:
    assert set(api.__all__) == set(api._HOMES)
    for name in api.__all__:
        module, _, attr = api._HOMES[name].partition(":")
        assert getattr(api, name) is getattr(importlib.import_module(module), attr or name)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = api.Nope


def test_importing_the_door_imports_no_domain_package() -> None:
    code = (
        "import sys, edgeconsole.session.api\n"
        "print([m for m in sys.modules if m.startswith(('edgeconsole.inference', "
        "'edgeconsole.journal', 'edgeconsole.devices', 'edgeconsole.sources', 'numpy', "
        "'asyncio', 'edgeconsole.session.plc_monitor'))])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
