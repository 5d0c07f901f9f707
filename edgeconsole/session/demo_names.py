"""The demo's source and models by name: what the window shows before the session exists.

Kept apart from session/session.py (which imports the whole session graph, ~0.3 s)
so the window can name its default source and model before its first paint
(issue 15); session/session.py re-exports them.
"""

from __future__ import annotations

from pathlib import Path


def sample_models_dir() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "sample_models"


def label_inspector_model() -> Path:
    """The full label inspector (text detection + orientation): thorough, ~10x slower."""
    return sample_models_dir() / "label_inspector"


def default_demo_model() -> Path:
    """The fast label-orientation inspector (5 ms budget a part); the label inspector
    stays selectable."""
    fast = sample_models_dir() / "label_orientation"
    return fast if (fast / "model.json").is_file() else label_inspector_model()


#: The demo's conveyor: 120 parts/min on the machine's clock, so the demo device's
#: photo-eye (sim serial --photo-eye) sees the very parts the camera films.
DEMO_SCENE = "synthetic:conveyor?seed=7&fps=30&ppm=120"
DEMO_SOURCE = f"{DEMO_SCENE}&clock=1"
