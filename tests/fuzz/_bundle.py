"""The real digits sample bundle, as bytes and as its manifest (fuzz seeds)."""

from __future__ import annotations

import json
import tarfile
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DIGITS_BUNDLE = REPO / "sample_models" / "bundles" / "digits-1.ecb"


@cache
def bundle_bytes() -> bytes:
    return DIGITS_BUNDLE.read_bytes()


@cache
def _manifest_text() -> str:
    with tarfile.open(DIGITS_BUNDLE) as t:
        f = t.extractfile("manifest.json")
        assert f is not None
        return f.read().decode()


def manifest() -> dict[str, Any]:
    return dict(json.loads(_manifest_text()))


@cache
def member(name: str) -> bytes:
    with tarfile.open(DIGITS_BUNDLE) as t:
        f = t.extractfile(name)
        assert f is not None
        return f.read()


def describe(obj: dict[str, Any]) -> Any:
    from edgeconsole.inference.spec import ModelSpec

    return ModelSpec.parse(obj, None, where="manifest")
