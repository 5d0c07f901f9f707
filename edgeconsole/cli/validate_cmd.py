"""``edgeconsole validate``: run a labelled set through a target and sign a report.

    edgeconsole validate TARGET --bundle B --dataset DIR --report OUT.html
        [--trust DIR] [--budget-ms X] [--line-rate PARTS_PER_MIN] [--pdf] [--json]
        [--site NAME] [--technician NAME] [--min-samples-per-class N]

TARGET: local://, gateway://HOST:PORT[?model=NAME] or serial:///dev/ttyX.
    edgeconsole validate verify REPORT.html [--pubkey PEM]

Exit codes: 0 the run passed every criterion (verify: signature valid), 1 it
failed a criterion or could not run, 3 the run was PARTIAL (target failed or
cancelled part way; the report says so on top).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

EXIT_PARTIAL = 3
#: Same default as the job's (commission.job.MIN_SAMPLES_PER_CLASS); the
#: session is imported lazily so `--help` stays fast.
MIN_SAMPLES_PER_CLASS = 10


def register(sub: Any) -> None:
    p = sub.add_parser(
        "validate",
        help="commission a target: labelled set -> accuracy, latency, signed report",
        description="Run every sample of a labelled dataset through the target (and through "
        "local:// as a shadow reference), judge accuracy, latency against the budget and the "
        "line rate, and write a signed self-contained HTML report. "
        "`edgeconsole validate verify REPORT` checks a report's signature.",
    )
    p.add_argument(
        "target",
        help="local://, gateway://HOST:PORT[?model=NAME], serial:///dev/ttyX (an SMP device "
        "running the bundle; `edgeconsole sim serial` prints one), or 'verify'",
    )
    p.add_argument("report_to_verify", nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--bundle", help="signed bundle (.ecb) or, for local runs, a model folder")
    p.add_argument("--dataset", help="folder with one subfolder per class, or a file,label CSV")
    p.add_argument(
        "--source",
        help="moving line: a video (or image folder, synthetic:conveyor?...) of the line; "
        "with --truth instead of --dataset",
    )
    p.add_argument(
        "--truth",
        help="moving line: parts.csv with header frame,label (the frame each part's centre "
        "crosses the trigger line, the verdict it should get)",
    )
    p.add_argument(
        "--trigger",
        default="line",
        help="moving line: where the line is (line, line:x=0.4, line:y=0.5, line:x=640px)",
    )
    p.add_argument("--report", help="where to write the HTML report")
    p.add_argument("--trust", help="trust store of bundle signing keys (needed for .ecb)")
    p.add_argument("--budget-ms", type=float, help="latency budget (default: the bundle's)")
    p.add_argument("--line-rate", type=float, help="parts per minute the line runs at")
    p.add_argument("--min-accuracy", type=float, default=0.95, help="default 0.95")
    p.add_argument("--min-recall", type=float, default=0.90, help="every class; default 0.90")
    p.add_argument("--min-agreement", type=float, default=0.99, help="shadow; default 0.99")
    p.add_argument(
        "--min-samples-per-class",
        type=int,
        default=MIN_SAMPLES_PER_CLASS,
        metavar="N",
        help=f"a class's recall passes only over at least N samples; default "
        f"{MIN_SAMPLES_PER_CLASS}",
    )
    p.add_argument("--no-shadow", action="store_true", help="skip the local:// shadow run")
    p.add_argument("--shadow-bundle", help="reference model for the shadow (default: same)")
    p.add_argument("--threads", type=int, help="onnxruntime threads on the laptop")
    p.add_argument("--token-file", help="gateway bearer token file (the agent's DATA/token)")
    p.add_argument("--pdf", action="store_true", help="also render the report to PDF (offline)")
    p.add_argument(
        "--plc",
        metavar="URL",
        help="moving line: also watch the line PLC's reject-gate handshake (read-only) and "
        "judge it: every part answered, trigger->result p99 within the map's budget, no "
        "mismatches (modbus://HOST:PORT or opc.tcp://HOST:PORT/PATH)",
    )
    p.add_argument("--plc-map", metavar="FILE", help="the PLC map file (.toml)")
    p.add_argument(
        "--plc-parts",
        type=int,
        default=20,
        metavar="N",
        help="watch the PLC until N triggers were seen (at most --plc-wait s); default 20",
    )
    p.add_argument("--plc-wait", type=float, default=120.0, metavar="S", help="default 120 s")
    p.add_argument(
        "--no-keep", action="store_true", help="do not keep a copy for the evidence pack"
    )
    p.add_argument(
        "--site",
        help="site name stamped on the report; remembered (as the window's Site dialog does)",
    )
    p.add_argument("--technician", help="technician stamped on the report; remembered like --site")
    p.add_argument("--pubkey", action="append", help="verify: the signer must be this key")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from edgeconsole.core.errors import ConfigError

    if args.target == "verify":
        if not args.report_to_verify:
            raise ConfigError("which report?", hint="edgeconsole validate verify REPORT.html")
        return _verify(args)
    if args.report_to_verify:
        raise ConfigError(f"unexpected argument {args.report_to_verify!r}")
    if args.source or args.truth:
        return _validate_line(args)
    missing = [n for n in ("bundle", "dataset", "report") if not getattr(args, n)]
    if missing:
        raise ConfigError(
            "missing " + ", ".join(f"--{m}" for m in missing),
            hint="edgeconsole validate TARGET --bundle B --dataset DIR --report OUT.html",
        )
    return _validate(args)


def _verify(args: argparse.Namespace) -> int:
    from edgeconsole.session.commissioning import verify_report

    outcome = verify_report(args.report_to_verify, args.pubkey)
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2))
    else:
        word = "VALID" if outcome.valid else "INVALID"
        print(f"{word}: {outcome.reason}")
        if outcome.key_fingerprint:
            who = (
                f" ({outcome.known_key})"
                if outcome.known_key
                else (
                    " (not this console's key: compare with the signing console's fingerprint)"
                    if outcome.valid
                    else ""
                )
            )
            print(f"signed by {outcome.key_fingerprint}{who}")
    return 0 if outcome.valid else 1


def _site(args: argparse.Namespace) -> None:
    """Remember --site/--technician (the same settings and audit entry as the window's
    Site dialog), or say once that the report will show them as not set."""
    from edgeconsole.session.evidence import SettingsStore, SiteSettings

    store = SettingsStore()
    current = store.load()
    if args.site is None and args.technician is None:
        if not current.complete:
            print(
                "edgeconsole: note: site and technician are not set, the report will say "
                "(not set); pass --site and --technician once (they are remembered)",
                file=sys.stderr,
            )
        return
    wanted = SiteSettings(
        site=current.site if args.site is None else args.site,
        technician=current.technician if args.technician is None else args.technician,
    )
    if wanted == current:
        return
    from edgeconsole.session.evidence import Journal

    journal = Journal.open()
    try:
        journal.set_site(wanted)
    finally:
        journal.close()


def _validate(args: argparse.Namespace) -> int:
    from edgeconsole.session.commissioning import ValidationJob, ValidationRequest

    _site(args)

    req = ValidationRequest(
        target=args.target,
        model=args.bundle,
        dataset=args.dataset,
        trust_dir=args.trust,
        budget_ms=args.budget_ms,
        line_rate=args.line_rate,
        min_accuracy=args.min_accuracy,
        min_recall=args.min_recall,
        min_agreement=args.min_agreement,
        min_samples=args.min_samples_per_class,
        shadow=False if args.no_shadow else None,
        shadow_model=args.shadow_bundle,
        threads=args.threads,
        token_file=args.token_file,
    )
    job = ValidationJob(req)
    job.prepare()
    if not args.json:
        assert job.dataset is not None and job.model is not None
        print(
            f"validating {job.model.label} on {args.target}: {len(job.dataset.samples)} samples "
            f"in {len(job.dataset.classes)} classes",
            file=sys.stderr,
        )
    return _finish(job, args, _print)


def _print(d: dict[str, Any], written: Any) -> None:
    print(f"verdict: {d['verdict']}")
    if d["partial"]:
        print(f"PARTIAL: {d['partial_reason']}")
    acc = d["accuracy"]
    print(
        f"accuracy {'-' if acc is None else f'{acc:.1%}'} over {d['samples']['scored']} samples; "
        f"unreadable {len(d['samples']['unreadable'])}"
    )
    e2e = d["latency"].get("e2e")
    if e2e:
        print(
            f"latency ms  p50 {e2e['p50']:.2f}  p95 {e2e['p95']:.2f}  p99 {e2e['p99']:.2f}  "
            f"max {e2e['max']:.2f}  (budget {d['thresholds']['budget_ms']})"
        )
    if d["line_rate"]:
        print(d["line_rate"])
    if d["shadow"] is not None:
        sh = d["shadow"]
        rate = sh["agreement"]
        print(
            f"shadow agreement {'-' if rate is None else f'{rate:.1%}'} "
            f"({len(sh['disagreements'])} disagreements)"
        )
    pre = d.get("preprocessing") or {}
    if pre:
        print(f"preprocessing: {pre['text']} -> {pre['produces']} (model {pre['model_input']})")
    _print_criteria_and_files(d, written)


def _validate_line(args: argparse.Namespace) -> int:
    """A video of the moving line and the truth of its parts (``line_job.py``)."""
    from edgeconsole.core.errors import ConfigError
    from edgeconsole.session.api import TriggerConfig
    from edgeconsole.session.commissioning import (
        LineValidationJob,
        LineValidationRequest,
    )

    if args.dataset:
        raise ConfigError(
            "--dataset and --source/--truth are two kinds of run",
            hint="give a labelled set (--dataset) or a video of the line (--source, --truth)",
        )
    missing = [n for n in ("bundle", "source", "truth", "report") if not getattr(args, n)]
    if missing:
        raise ConfigError(
            "missing " + ", ".join(f"--{m}" for m in missing),
            hint="edgeconsole validate TARGET --bundle B --source VIDEO --truth parts.csv "
            "--report OUT.html",
        )
    plc = None
    if args.plc is not None or args.plc_map is not None:
        from edgeconsole.session.commissioning import PlcCheckRequest

        if not (args.plc and args.plc_map):
            raise ConfigError("--plc and --plc-map go together", hint="give both, or neither")
        if args.plc_parts < 1 or not 0 < args.plc_wait <= 86400:
            raise ConfigError("--plc-parts must be 1 or more and --plc-wait 0..86400 s")
        plc = PlcCheckRequest(args.plc, args.plc_map, args.plc_parts, args.plc_wait)
    req = LineValidationRequest(
        target=args.target,
        model=args.bundle,
        source=args.source,
        truth=args.truth,
        trust_dir=args.trust,
        budget_ms=args.budget_ms,
        line_rate=args.line_rate,
        min_accuracy=args.min_accuracy,
        trigger=TriggerConfig.parse(args.trigger),
        threads=args.threads,
        token_file=args.token_file,
        plc=plc,
    )
    job = LineValidationJob(req)
    job.prepare()
    if not args.json:
        assert job.model is not None
        frames = "?" if job.frames_total is None else str(job.frames_total)
        print(
            f"validating {job.model.label} on {args.target}: {len(job.truth)} parts in "
            f"{frames} frames of {args.source}",
            file=sys.stderr,
        )
    return _finish(job, args, _print_line)


def _print_line(d: dict[str, Any], written: Any) -> None:
    print(f"verdict: {d['verdict']}")
    if d["partial"]:
        print(f"PARTIAL: {d['partial_reason']}")
    p = d["parts"]
    acc = d["accuracy"]
    print(
        f"parts: {p['truth']} in the truth, {p['decided']} decided, {p['matched']} matched, "
        f"{len(p['missed'])} missed, {len(p['extra'])} extra; per-part accuracy "
        f"{'-' if acc is None else f'{acc:.1%}'}"
    )
    e2e = d["latency"].get("e2e")
    if e2e:
        print(
            f"decision ms  p50 {e2e['p50']:.2f}  p95 {e2e['p95']:.2f}  p99 {e2e['p99']:.2f}  "
            f"max {e2e['max']:.2f}  (budget {d['thresholds']['budget_ms']})"
        )
    if d["line_rate"]:
        print(d["line_rate"])
    plc = d.get("plc")
    if plc:
        c, t2r = plc["counters"], plc["trigger_to_result_ms"]
        print(
            f"PLC {plc['plc']}: {c['triggers']} triggers, {c['answered']} answered, "
            f"{c['missed_triggers']} missed, {c['missing_acks']} missing acks, "
            f"{c['mismatches']} mismatches; trigger->result p99 {t2r['p99']} ms "
            f"(budget {plc['budget_ms']} ms)"
        )
    _print_criteria_and_files(d, written)


def _print_criteria_and_files(d: dict[str, Any], written: Any) -> None:
    for c in d["criteria"]:
        print(
            f"  {'PASS' if c['passed'] else 'FAIL'}  {c['name']}: {c['value']} "
            f"(required {c['limit']}, margin {c['margin']})"
            + (f": {c['note']}" if c.get("note") and not c["passed"] else "")
        )
    print(f"report: {written.html}")
    if written.pdf is not None:
        print(f"pdf: {written.pdf}")
    elif written.pdf_error:
        print(f"pdf not written: {written.pdf_error}")


def _finish(job: Any, args: argparse.Namespace, show: Callable[[dict[str, Any], Any], None]) -> int:
    """Run a prepared validation job, write its report, print it (JSON or text)."""
    from edgeconsole.session.commissioning import write_report

    res = job.run()
    written = write_report(res, args.report, pdf=args.pdf, keep_for_pack=not args.no_keep)
    d = res.data
    if args.json:
        out = {k: v for k, v in d.items() if k != "records"}
        out["report"] = str(written.html)
        out["pdf"] = None if written.pdf is None else str(written.pdf)
        out["pdf_error"] = written.pdf_error or None
        print(json.dumps(out, indent=2, default=str))
    else:
        show(d, written)
    if d["verdict"] == "PARTIAL":
        return EXIT_PARTIAL
    return 0 if d["verdict"] == "PASS" else 1
