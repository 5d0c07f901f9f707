"""The stage bands' image: pixels per band from stacked times (numpy only, no paint)."""

from __future__ import annotations

import numpy as np

from edgeconsole.ui.stage_bands import band_index_image, peak_columns


def test_each_sample_is_a_bar_of_its_stacked_bands() -> None:
    x = np.array([10.0, 11.0, 12.0, 13.0])
    times = np.array([[1.0, 2, 1, 0], [0, 0, 0, 0], [2, 1, 1, 1]])  # band 1 never measured
    image = band_index_image(x, np.cumsum(times, axis=0), (10.0, 13.0, 4.0), 8, 8)
    expected = np.array(
        [
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [3, 3, 3, 3, 0, 0, 0, 0],
            [3, 3, 3, 3, 0, 0, 0, 0],
            [3, 1, 1, 1, 3, 3, 0, 0],
            [3, 1, 1, 1, 3, 3, 0, 0],
            [1, 1, 1, 1, 1, 1, 3, 3],
            [1, 1, 1, 1, 1, 1, 3, 3],
        ],
        dtype=np.uint8,
    )
    assert (image == expected).all()


def test_more_samples_than_columns_keep_each_columns_peak() -> None:
    n = 1000
    x = np.arange(n, dtype=np.float64)
    stacked = np.ones((2, n))
    stacked[1] = 2.0
    stacked[1, 517] = 9.0  # one spike, far narrower than a pixel
    image = band_index_image(x, stacked, (0.0, n - 1.0, 10.0), 100, 10)
    tall = np.flatnonzero((image == 2).sum(axis=0) >= 8)
    assert tall.size == 1 and abs(int(tall[0]) - 51) <= 1
    px, rows = peak_columns(x, stacked, 100)
    assert px.size == 100 and rows.shape == (2, 100) and rows[1].max() == 9.0
    assert (rows[1] >= rows[0]).all()  # stacked order survives the reduction
    assert peak_columns(x[:50], stacked[:, :50], 100)[0].size == 50  # nothing to reduce


def test_empty_odd_and_out_of_view_input_draw_nothing() -> None:
    empty = band_index_image(np.zeros(0), np.zeros((3, 0)), (0.0, 1.0, 1.0), 20, 10)
    assert empty.shape == (10, 20) and not empty.any()
    assert not band_index_image(np.array([5.0]), np.ones((1, 1)), (0.0, 1.0, 1.0), 0, 10).size
    outside = band_index_image(np.array([50.0, 51.0]), np.ones((1, 2)), (0.0, 10.0, 2.0), 20, 10)
    assert not outside.any()
    # Unsorted x (a replay's frame order) is drawn sorted; a top past the view is clipped.
    x = np.array([2.0, 0.0, 1.0])
    image = band_index_image(x, np.array([[30.0, 1.0, 1.0]]), (-0.5, 2.5, 2.0), 3, 4)
    assert (image[:, 2] == 1).all() and (image[:, 0] == [0, 0, 1, 1]).all()
