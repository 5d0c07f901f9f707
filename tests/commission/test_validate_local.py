"""Validation on local:// with the real sample bundles, models and datasets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edgeconsole.commission import (
    ValidationJob,
    ValidationRequest,
    verify_report,
    write_report,
)
from edgeconsole.core.errors import BundleError, ConfigError, DeviceError
from edgeconsole.journal.keys import ConsoleKey
from edgeconsole.journal.settings import SettingsStore, SiteSettings
from tests.commission.helpers import (
    DIGITS_BUNDLE,
    DIGITS_MODEL,
    DIGITS_SET,
    LABEL_MODEL,
    LABEL_SET,
    TRUST,
    subset,
)


def _results_json(html: Path) -> dict:  # type: ignore[type-arg]
    text = html.read_text()
    m = re.search(r'<script type="application/json" id="edgeconsole-results">(.*?)</script>', text)
    assert m is not None
    return json.loads(m.group(1).replace("<\\/", "</"))  # type: ignore[no-any-return]


def test_digits_bundle_full_set_report_verifies(tmp_path: Path) -> None:
    SettingsStore().save(SiteSettings(site="Plant 4 <line B>", technician="A. Tech"))
    req = ValidationRequest("local://", DIGITS_BUNDLE, DIGITS_SET, trust_dir=TRUST, line_rate=600)
    res = ValidationJob(req).run()
    d = res.data
    assert d["samples"] == {"total": 200, "run": 200, "scored": 200, "unreadable": []}
    # The digits model's held-out accuracy is 0.9722; this 200-image held-out subset: 0.975.
    assert d["accuracy"] == pytest.approx(0.975)
    assert sum(sum(r) for r in d["confusion"]["matrix"]) == 200
    assert d["bundle"]["kind"] == "bundle" and d["bundle"]["trusted"] is True
    assert len(d["bundle"]["bundle_sha256"]) == 64
    assert d["thresholds"]["budget_ms"] == 5  # the bundle's own budget
    assert d["latency"]["count"] == 199 and d["latency"]["first_inference_ms"] is not None
    assert d["line_rate"].startswith("At 600 parts/min a part arrives every 100 ms.")
    assert "5 ms decision budget" in d["line_rate"]
    assert d["shadow"] is None  # local:// is its own reference
    assert d["verdict"] in ("PASS", "FAIL")  # timing on a shared machine is not asserted
    accuracy = next(c for c in d["criteria"] if c["name"] == "accuracy")
    assert accuracy["passed"] and accuracy["margin"] == "+2.5 pts"

    written = write_report(res, tmp_path / "digits.html")
    html = written.html.read_text()
    assert "Plant 4 &lt;line B&gt;" in html and "A. Tech" in html  # escaped, stamped
    assert "<svg" in html and "data:image/png;base64," in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing external
    assert _results_json(written.html)["accuracy"] == pytest.approx(0.975)
    out = verify_report(written.html)
    assert out.valid and out.known_key == "this console"
    assert out.key_fingerprint == ConsoleKey.load_or_create().fingerprint
    # a kept copy goes to the reports folder the evidence pack takes
    assert [p.suffix for p in written.kept] == [".html", ".json"]
    # an edited figure fails verification
    edited = tmp_path / "edited.html"
    edited.write_text(html.replace("97.5%", "99.5%", 1))
    assert not verify_report(edited).valid


def test_label_inspector_folder_maps_verdicts_to_classes(tmp_path: Path) -> None:
    data = subset(LABEL_SET, tmp_path / "li", 3)
    res = ValidationJob(
        ValidationRequest("local://", LABEL_MODEL, data, budget_ms=1000, line_rate=60)
    ).run()
    d = res.data
    assert d["confusion"]["rows"] == ["upright", "rotated", "missing", "smudged"]
    assert d["accuracy"] == 1.0, d["records"]
    assert d["bundle"]["kind"] == "folder" and d["bundle"]["trusted"] is False
    assert d["dominant_stage"]["stage"] in ("infer", "postprocess")
    written = write_report(res, tmp_path / "li.html", keep_for_pack=False)
    assert written.kept == [] and verify_report(written.html).valid


def test_unreadable_images_are_counted_and_listed_not_fatal(tmp_path: Path) -> None:
    data = subset(DIGITS_SET, tmp_path / "d", 2)
    (data / "3" / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    good = (data / "4" / "4_000.png").read_bytes()
    (data / "4" / "truncated.png").write_bytes(good[: len(good) // 2])
    (data / "5" / "empty.jpg").write_bytes(b"")
    res = ValidationJob(ValidationRequest("local://", DIGITS_MODEL, data)).run()
    d = res.data
    assert d["samples"]["total"] == 23 and d["samples"]["scored"] == 20
    bad = {u["file"]: u["error"] for u in d["samples"]["unreadable"]}
    assert set(bad) == {"3/garbage.png", "4/truncated.png", "5/empty.jpg"}
    assert bad["5/empty.jpg"] == "empty file"
    assert not d["partial"]
    # Counted, shown, and the run cannot pass: "run complete" says 20/23 scored.
    complete = next(c for c in d["criteria"] if c["name"] == "run complete")
    assert not complete["passed"] and complete["value"] == "20/23 samples scored (3 unreadable)"
    assert "3/garbage.png" in complete["note"] and d["verdict"] == "FAIL"
    html = write_report(res, tmp_path / "r.html").html.read_text()
    assert "Unreadable samples" in html and "3/garbage.png" in html


def test_labels_the_model_does_not_know_are_refused_before_any_inference(
    tmp_path: Path,
) -> None:
    data = subset(DIGITS_SET, tmp_path / "d", 1)
    (data / "3").rename(data / "three")
    job = ValidationJob(ValidationRequest("local://", DIGITS_MODEL, data))
    with pytest.raises(ConfigError, match="'three' are not outputs of the model"):
        job.run()
    assert job.records == [] and job.runner is None
    # label inspector: a digits set makes no sense either
    with pytest.raises(ConfigError, match="the model knows: upright, rotated, missing, smudged"):
        ValidationJob(ValidationRequest("local://", LABEL_MODEL, data)).prepare()


def test_empty_dataset_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty" / "0").mkdir(parents=True)
    with pytest.raises(ConfigError, match="dataset has no images"):
        ValidationJob(ValidationRequest("local://", DIGITS_MODEL, tmp_path / "empty")).prepare()


def test_bundle_needs_trust_and_a_tampered_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="signature is checked"):
        ValidationJob(ValidationRequest("local://", DIGITS_BUNDLE, DIGITS_SET)).prepare()
    bad = tmp_path / "digits-1.ecb"
    data = bytearray(DIGITS_BUNDLE.read_bytes())
    data[-2000] ^= 0xFF  # inside the payload
    bad.write_bytes(bytes(data))
    with pytest.raises(BundleError):
        ValidationJob(ValidationRequest("local://", bad, DIGITS_SET, trust_dir=TRUST)).prepare()


def test_serial_target_without_a_port_is_refused_with_the_reason(tmp_path: Path) -> None:
    # Serial devices run samples now (test_serial_validate.py); a missing port is explained.
    with pytest.raises(DeviceError, match="no such port"):
        ValidationJob(
            ValidationRequest("serial:///dev/ttyACM0", DIGITS_MODEL, DIGITS_SET)
        ).prepare()
    with pytest.raises(ConfigError, match="not a target URL"):
        ValidationJob(ValidationRequest("nowhere", DIGITS_MODEL, DIGITS_SET)).prepare()


@pytest.mark.parametrize(
    ("field", "value"),
    [("budget_ms", -1.0), ("line_rate", 0.0), ("min_accuracy", 1.5), ("budget_ms", float("nan"))],
)
def test_bad_thresholds_are_refused(field: str, value: float) -> None:
    kw = {field: value}
    with pytest.raises(ConfigError):
        ValidationJob(ValidationRequest("local://", DIGITS_MODEL, DIGITS_SET, **kw))  # type: ignore[arg-type]


def test_shadow_against_another_model_lists_disagreements(tmp_path: Path) -> None:
    """A shadow reference that preprocesses differently (no inversion: the classic
    device bug) disagrees, and the report lists where."""
    broken = tmp_path / "broken"
    broken.mkdir()
    desc = json.loads((DIGITS_MODEL / "model.json").read_text())
    desc["preprocess"]["invert"] = False
    (broken / "model.json").write_text(json.dumps(desc))
    (broken / "model.onnx").write_bytes((DIGITS_MODEL / "model.onnx").read_bytes())
    data = subset(DIGITS_SET, tmp_path / "d", 2)
    res = ValidationJob(
        ValidationRequest("local://", DIGITS_MODEL, data, shadow_model=broken)
    ).run()
    sh = res.data["shadow"]
    assert sh["compared"] == 20 and sh["agreement"] < 0.5
    assert len(sh["disagreements"]) == 20 - sh["agreed"]
    crit = next(c for c in res.data["criteria"] if c["name"].startswith("shadow"))
    assert not crit["passed"] and res.data["verdict"] == "FAIL"


def test_cancel_gives_a_partial_report(tmp_path: Path) -> None:
    data = subset(DIGITS_SET, tmp_path / "d", 3)
    job: ValidationJob

    def stop_after_five(rec: object, done: int, total: int) -> None:
        if done == 5:
            job.cancel()

    job = ValidationJob(
        ValidationRequest("local://", DIGITS_MODEL, data), on_sample=stop_after_five
    )
    res = job.run()
    assert res.partial and res.data["verdict"] == "PARTIAL"
    assert res.data["samples"]["run"] == 5
    assert res.data["partial_reason"] == "cancelled by the person"
    html = write_report(res, tmp_path / "p.html").html.read_text()
    assert "PARTIAL RUN" in html
