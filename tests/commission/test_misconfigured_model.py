"""Commissioning must not pass a misconfigured model (issue 13, section 3).

The orientation classifier shipped in the label inspector (PP-OCR, 1x3x48x192, its
ONNX graph takes any height and width) on a set of 45x162 text crops: with no
preprocessing, or with preprocessing that keeps each crop's size, it used to be
built, flashed and commissioned without a word. Each door now refuses it, naming
both shapes; the right preprocessing (fit-height 48x192) passes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edgeconsole.cli.main import main
from edgeconsole.commission import ValidationJob, ValidationRequest, write_report
from edgeconsole.core.errors import ModelShapeError
from edgeconsole.inference.input_check import check_tensor, input_fit
from edgeconsole.inference.spec import ModelSpec
from tests.commission.helpers import DIGITS_MODEL, DIGITS_SET, subset
from tests.fixtures.bundles import BundleKit, Member

REPO = Path(__file__).resolve().parents[2]
LABEL_DIR = REPO / "sample_models" / "label_inspector"
CLS = LABEL_DIR / "cls.onnx"


def orientation_description() -> dict[str, Any]:
    """The orientation section of the shipped label-inspector description."""
    desc = json.loads((LABEL_DIR / "model.json").read_text())["head"]["orientation"]
    desc.pop("golden", None)
    return dict(desc)


def write_crops(root: Path, per_class: int = 12) -> Path:
    """Text crops of 45x162 pixels: class "0" upright, class "180" upside down."""
    rng = np.random.default_rng(7)
    for label in ("0", "180"):
        (root / label).mkdir(parents=True)
    for i in range(per_class):
        img = np.full((45, 162, 3), 235, np.uint8)
        text = f"LOT {rng.integers(1000, 9999)}-{rng.integers(10, 99)}"
        cv2.putText(img, text, (6, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2)
        cv2.imwrite(str(root / "0" / f"{i:03d}.png"), img)
        cv2.imwrite(str(root / "180" / f"{i:03d}.png"), cv2.rotate(img, cv2.ROTATE_180))
    return root


def orientation_bundle(kit: BundleKit, path: Path, preprocess: dict[str, Any]) -> Path:
    """A signed bundle of the orientation classifier with this preprocessing, written
    without the builder (which refuses a bad one): what a bundle from elsewhere holds."""
    model = CLS.read_bytes()
    desc = orientation_description()
    desc["preprocess"] = preprocess
    desc.pop("spec", None)
    desc["inputs"] = [
        {"name": "x", "dtype": "float32", "shape": [-1, 3, 48, 192], "layout": "NCHW"}
    ]
    manifest = kit.manifest(
        {"cls.onnx": model},
        **desc,
        bundle_id="text-orientation",
        hardware_ids=["laptop", "mcu-sim"],
    )
    return kit.write(path, [Member("cls.onnx", model)], manifest=manifest)


def _request(bundle: Path, data: Path, trust: Path, **kw: Any) -> ValidationRequest:
    return ValidationRequest(
        "local://", bundle, data, trust_dir=trust, budget_ms=1000, min_accuracy=0.5, **kw
    )


# -- validate ---------------------------------------------------------------------


def test_validate_refuses_an_image_model_without_preprocessing(
    bundle_kit: BundleKit, tmp_path: Path
) -> None:
    bundle = orientation_bundle(bundle_kit, tmp_path / "raw.ecb", {})
    job = ValidationJob(_request(bundle, write_crops(tmp_path / "crops"), bundle_kit.trust_dir()))
    with pytest.raises(ModelShapeError) as info:
        job.prepare()
    text = str(info.value)
    assert "image model with no preprocessing" in text and "?x3x48x192" in text
    assert '"raw": true' in text


def test_validate_refuses_preprocessing_that_keeps_each_crop_size(
    bundle_kit: BundleKit, tmp_path: Path
) -> None:
    pad = {**orientation_description()["preprocess"], "resize": "pad"}
    bundle = orientation_bundle(bundle_kit, tmp_path / "pad.ecb", pad)
    job = ValidationJob(_request(bundle, write_crops(tmp_path / "crops"), bundle_kit.trust_dir()))
    with pytest.raises(ModelShapeError) as info:
        job.prepare()
    text = str(info.value)
    assert "resize 'pad'" in text and "1x3x?x?" in text and "?x3x48x192" in text


def test_the_right_preprocessing_passes_and_the_report_shows_it(
    bundle_kit: BundleKit, tmp_path: Path
) -> None:
    pre = orientation_description()["preprocess"]
    assert pre["resize"] == "fit-height"  # the shipped description, as a copy would take it
    bundle = orientation_bundle(bundle_kit, tmp_path / "ok.ecb", pre)
    res = ValidationJob(
        _request(bundle, write_crops(tmp_path / "crops"), bundle_kit.trust_dir())
    ).run()
    d = res.data
    assert d["accuracy"] == 1.0 and d["verdict"] == "PASS", d["criteria"]
    fit = d["preprocessing"]
    assert fit["fits"] and fit["produces"] == "1x3x48x192"
    assert fit["text"].startswith("fit the height, pad right to 48x192")
    html = write_report(res, tmp_path / "r.html", keep_for_pack=False).html.read_text()
    assert "<h2>Preprocessing</h2>" in html and "fits the model" in html
    assert "none (FP32 as exported)" in html  # quantization in words, not a dict


def test_a_raw_model_fed_crops_of_another_size_scores_nothing_and_fails(
    bundle_kit: BundleKit, tmp_path: Path
) -> None:
    bundle = orientation_bundle(bundle_kit, tmp_path / "raw.ecb", {"raw": True})
    res = ValidationJob(
        _request(bundle, write_crops(tmp_path / "crops"), bundle_kit.trust_dir())
    ).run()
    d = res.data
    assert d["samples"]["scored"] == 0 and len(d["samples"]["unreadable"]) == 24
    error = d["samples"]["unreadable"][0]["error"]
    assert "45, 162" in error and "48, 192" in error, error  # both shapes named
    assert d["verdict"] == "FAIL"


def test_a_45x162_tensor_for_a_48x192_model_is_refused_naming_both() -> None:
    spec = ModelSpec.parse(
        {**orientation_description(), "preprocess": {"raw": True}}, None, where="t"
    )
    with pytest.raises(ModelShapeError) as info:
        check_tensor(spec, (1, 3, 45, 162))
    assert "1x3x45x162" in str(info.value) and "?x3x48x192" in str(info.value)
    check_tensor(spec, (1, 3, 48, 192))  # the right size goes through
    with pytest.raises(ModelShapeError, match="ONNX model takes 1x3x48x192"):
        check_tensor(spec, (2, 3, 48, 192), model_dims=(1, 3, 48, 192))


def test_fit_rules_unit() -> None:
    base = {**orientation_description()}
    fit = input_fit(ModelSpec.parse({**base, "preprocess": {}}, None))
    assert not fit.fits and "no preprocessing" in fit.problems[0]
    fit = input_fit(ModelSpec.parse({**base, "preprocess": {"raw": True}}, None))
    assert fit.fits and fit.produces == "1x3x?x? (follows each image)"
    gray = {
        "resize": "stretch",
        "size": [48, 192],
        "channel_order": "GRAY",
        "mean": [0],
        "std": [1],
    }
    fit = input_fit(ModelSpec.parse({**base, "preprocess": gray}, None))
    assert fit.problems == (
        "preprocessing produces 1x1x48x192 tensors, but the model description takes ?x3x48x192",
    )
    u8 = {"resize": "stretch", "size": [48, 192], "dtype": "uint8"}
    fit = input_fit(ModelSpec.parse({**base, "preprocess": u8}, None))
    assert fit.problems == ("preprocessing produces uint8, but the model takes float32",)
    # A vector model (telemetry windows) has no image rules; fed images, it has.
    digits = ModelSpec.parse(
        {**json.loads((DIGITS_MODEL / "model.json").read_text()), "preprocess": {}}, None
    )
    assert input_fit(digits).fits
    assert "no preprocessing" in input_fit(digits, images=True).problems[0]
    with pytest.raises(Exception, match="raw says"):
        ModelSpec.parse(
            {**base, "preprocess": {"raw": True, "resize": "stretch", "size": [4, 4]}}, None
        )


# -- minimum samples per class ------------------------------------------------------


def test_a_class_with_too_few_samples_cannot_pass_its_recall(tmp_path: Path) -> None:
    data = subset(DIGITS_SET, tmp_path / "d", 10)
    for extra in sorted((data / "3").iterdir())[4:]:
        extra.unlink()  # class 3: 4 samples (the "passed on 4 samples")
    lax = {"min_accuracy": 0.0, "min_recall": 0.0, "budget_ms": 1000.0}  # timing not judged
    req = ValidationRequest("local://", DIGITS_MODEL, data, **lax)
    d = ValidationJob(req).run().data
    recall = next(c for c in d["criteria"] if c["name"] == "recall, every class")
    assert not recall["passed"] and d["verdict"] == "FAIL"
    assert recall["note"] == "not enough samples: 3 (4 of 10 needed)"
    assert d["per_class"]["3"]["status"] == "not enough samples"
    assert d["per_class"]["3"]["why"] == "4 sample(s); a recall needs at least 10"
    assert d["per_class"]["1"]["status"] == "pass"
    # Configurable: a site that accepts 4 samples per class says so.
    req = ValidationRequest("local://", DIGITS_MODEL, data, min_samples=4, **lax)
    res = ValidationJob(req).run()
    assert res.data["verdict"] == "PASS", res.data["criteria"]
    assert res.data["thresholds"]["min_samples_per_class"] == 4


def test_report_says_why_a_class_has_not_enough_samples(tmp_path: Path) -> None:
    data = subset(DIGITS_SET, tmp_path / "d", 2)
    req = ValidationRequest("local://", DIGITS_MODEL, data, min_accuracy=0.0, min_recall=0.0)
    res = ValidationJob(req).run()
    html = write_report(res, tmp_path / "r.html", keep_for_pack=False).html.read_text()
    assert "not enough samples" in html and "a recall needs at least 10" in html


def test_min_samples_is_checked(tmp_path: Path) -> None:
    from edgeconsole.core.errors import ConfigError

    with pytest.raises(ConfigError, match="min-samples-per-class"):
        ValidationRequest("local://", DIGITS_MODEL, tmp_path, min_samples=0).check()


# -- build, flash, inspect -----------------------------------------------------------


def _build(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "bundle",
        "build",
        str(CLS),
        "--name",
        "text-orientation",
        "--version",
        "1",
        "--hardware-id",
        "laptop",
        "--sign",
        str(REPO / "sample_models" / "trust" / "DEMO-ONLY-signing.key"),
        "--out",
        str(tmp_path / "out.ecb"),
        *extra,
    ]


def _description_file(tmp_path: Path, **preprocess: Any) -> Path:
    folder = tmp_path / "desc"
    folder.mkdir(exist_ok=True)
    desc = orientation_description()
    desc["preprocess"] = {**desc["preprocess"], **preprocess}
    desc["golden"] = {
        "input": "cls_golden_input.npy",
        "output": "cls_golden_output.npy",
        "tolerance": 0.001,
    }
    for name in ("cls.onnx", "cls_golden_input.npy", "cls_golden_output.npy"):
        shutil.copyfile(LABEL_DIR / name, folder / name)
    (folder / "model.json").write_text(json.dumps(desc))
    return folder / "model.json"


def test_build_refuses_preprocessing_that_does_not_produce_the_model_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(_build(tmp_path, "--description", str(_description_file(tmp_path, resize="pad"))))
    err = capsys.readouterr().err
    assert rc == 1 and "resize 'pad'" in err and "?x3x48x192" in err, err
    assert not (tmp_path / "out.ecb").exists()


def test_build_keeps_the_declared_size_and_inspect_shows_the_preprocessing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_build(tmp_path, "--description", str(_description_file(tmp_path)))) == 0
    capsys.readouterr()
    assert main(["bundle", "inspect", str(tmp_path / "out.ecb"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    # The graph takes any height and width; the description's 48x192 is kept.
    pre = info["preprocessing"]
    assert pre["model_input"].startswith("?x3x48x192") and pre["fits"], pre
    assert main(["bundle", "inspect", str(tmp_path / "out.ecb")]) == 0
    out = capsys.readouterr().out
    assert "preprocessing: fit the height, pad right to 48x192 (with 128), BGR" in out
    assert "tensor per image 1x3x48x192; model input ?x3x48x192 (x, float32): fits" in out


def test_build_refuses_an_image_model_without_preprocessing_unless_raw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("0\n180\n")
    args = _build(tmp_path, "--head", "classify", "--labels", str(labels))
    assert main(args) == 1
    assert "image model with no preprocessing" in capsys.readouterr().err
    assert main([*args, "--preprocess", '{"raw": true}']) == 0


def test_inspect_shows_a_bundle_that_does_not_fit_and_flash_refuses_it(
    bundle_kit: BundleKit, serial_device: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = orientation_bundle(bundle_kit, tmp_path / "raw.ecb", {})
    assert main(["bundle", "inspect", str(bundle)]) == 0
    assert "DOES NOT FIT the model" in capsys.readouterr().out
    dev = serial_device()
    rc = main(["flash", str(dev.path), str(bundle), "--trust-dir", str(bundle_kit.trust_dir())])
    err = capsys.readouterr().err
    assert rc == 1 and "image model with no preprocessing" in err, err
    assert [s.state.value for s in dev.storage.table.slots] == ["confirmed", "empty"]


def test_inspect_window_shows_the_preprocessing(qtbot: Any, sample_bundle_dir: Path) -> None:
    from edgeconsole.session.workshop import inspect_bundle
    from edgeconsole.ui.bundles.inspect_view import InspectView

    view = InspectView()
    qtbot.addWidget(view)
    view.show_info(inspect_bundle(sample_bundle_dir / "digits-1.ecb", None))
    texts = view.texts()
    assert "Preprocessing" in texts
    assert any(t.startswith("stretch to 8x8, GRAY, inverted") for t in texts), texts
    assert "fits the model" in texts
