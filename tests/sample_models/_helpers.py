"""Shared bits of the sample-model tests: where the models live, how to load a
build script (they are plain scripts, not a package) and run a model through
real onnxruntime."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import onnxruntime as ort

from edgeconsole.inference.spec import ModelSpec

SAMPLE_MODELS = Path(__file__).resolve().parents[2] / "sample_models"


def load_build_script(name: str) -> ModuleType:
    """Import ``sample_models/<name>/build.py`` under a private module name."""
    path = SAMPLE_MODELS / name / "build.py"
    mod_name = f"_sample_model_build_{name}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


def run_model(model_path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return [np.asarray(o) for o in sess.run(None, feeds)]


def golden_arrays(spec: ModelSpec) -> tuple[np.ndarray, np.ndarray, float]:
    assert spec.golden is not None and spec.base_dir is not None
    g = spec.golden
    x = np.load(spec.base_dir / g["input"], allow_pickle=False)
    y = np.load(spec.base_dir / g["output"], allow_pickle=False)
    return x, y, float(g["tolerance"])
