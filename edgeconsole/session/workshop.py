"""The bundle workshop as the window and the CLI reach it (``edgeconsole/workshop/``).

The window and the CLI import the session and the core only (import-linter); this is
their door to the trust store's key list, the library scan, inspection, the benchmark
and the build. Long work runs as a job on the session's job runner.
"""

from __future__ import annotations

from edgeconsole.inference.spec import CHANNEL_ORDERS, HEAD_TYPES, LAYOUTS
from edgeconsole.workshop.access import (
    default_library_dir,
    default_trust_dir,
    describe_manifest,
    is_bundle,
    open_verified,
    sample_models_dir,
)
from edgeconsole.workshop.bench import (
    BenchRequest,
    BenchTarget,
    bench_bundle,
    bench_model,
    compare_runtimes,
    load_bench_target,
)
from edgeconsole.workshop.build import (
    BuildOutcome,
    BuildRequest,
    Int8Comparison,
    build,
    check_request,
    compare_int8,
    golden_input,
    golden_tolerance,
    load_description,
    model_io,
    suggest_description,
)
from edgeconsole.workshop.inspection import inspect_bundle
from edgeconsole.workshop.library import (
    INCOMPATIBLE,
    REFUSED,
    TAMPERED,
    UNKNOWN_SIGNER,
    UNSIGNED,
    VERIFIED,
    BundleRow,
    check_bundle,
    scan_library,
)
from edgeconsole.workshop.trust_keys import (
    KeyRow,
    SigningKeyFiles,
    create_signing_key,
    demo_key_ids,
    ensure_trust_dir,
    import_trust_key,
    load_trust,
    remove_trust_key,
    trust_keys,
)

__all__ = [
    "CHANNEL_ORDERS",
    "HEAD_TYPES",
    "INCOMPATIBLE",
    "LAYOUTS",
    "REFUSED",
    "TAMPERED",
    "UNKNOWN_SIGNER",
    "UNSIGNED",
    "VERIFIED",
    "BenchRequest",
    "BenchTarget",
    "BuildOutcome",
    "BuildRequest",
    "BundleRow",
    "Int8Comparison",
    "KeyRow",
    "SigningKeyFiles",
    "bench_bundle",
    "bench_model",
    "build",
    "check_bundle",
    "check_request",
    "compare_int8",
    "compare_runtimes",
    "create_signing_key",
    "default_library_dir",
    "default_trust_dir",
    "demo_key_ids",
    "describe_manifest",
    "ensure_trust_dir",
    "golden_input",
    "golden_tolerance",
    "import_trust_key",
    "inspect_bundle",
    "is_bundle",
    "load_bench_target",
    "load_description",
    "load_trust",
    "model_io",
    "open_verified",
    "remove_trust_key",
    "sample_models_dir",
    "scan_library",
    "suggest_description",
    "trust_keys",
]
