"""Latency statistics: the percentiles a snapshot reports."""

from __future__ import annotations

import numpy as np

from edgeconsole.inference.latency import higher_percentiles


def test_higher_percentiles_are_numpys_own_numbers() -> None:
    """The snapshot takes its rolling percentiles from one sort (issue 15: five calls
    of np.percentile per series on every poll cost the window's thread ~4 ms a poll);
    they must be exactly numpy's method="higher", ties and tiny windows included."""
    rng = np.random.default_rng(7)
    ps = [50.0, 90.0, 99.0, 95.0, 99.9, 0.0, 1.0, 33.3, 99.99, 100.0]
    for n in [*range(1, 320), 1000]:
        values = rng.exponential(5.0, n)
        if n % 3 == 0:
            values = np.round(values)  # ties
        expected = [float(v) for v in np.percentile(values, ps, method="higher")]
        assert higher_percentiles(np.sort(values), ps) == expected, n
