"""Fuzz modes. Quick (default run): a few hundred derandomised examples per test, so
the whole folder stays well under 30 s. Long: ``EDGECONSOLE_FUZZ=long`` runs at least
100,000 examples per test (``EDGECONSOLE_FUZZ_EXAMPLES`` overrides), random seeds,
a 10 s deadline per example to catch hangs (``./run fuzz``)."""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

LONG = os.environ.get("EDGECONSOLE_FUZZ", "").lower() == "long"
LONG_EXAMPLES = int(os.environ.get("EDGECONSOLE_FUZZ_EXAMPLES", "100000"))

#: Examples actually executed per test (reported at the end of the session).
COUNTS: Counter[str] = Counter()


def fuzz(quick: int = 200) -> settings:
    if LONG:
        return settings(
            max_examples=LONG_EXAMPLES,
            deadline=10_000,
            derandomize=False,
            database=None,
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        )
    return settings(
        max_examples=quick,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def count(name: str) -> None:
    COUNTS[name] += 1
