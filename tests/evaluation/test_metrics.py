"""Hand-computed accuracy matrices for ACC, BWT, FWT and forgetting."""

import math
from pathlib import Path

import numpy as np
import pytest

from evaluation.metrics import (
    average_accuracy,
    backward_transfer,
    forgetting,
    forward_transfer,
    summarize,
)

# A hand-computed 3x3 matrix: R[i, j] = score on experience j after experience i.
R3 = [
    [0.9, 0.2, 0.1],
    [0.7, 0.8, 0.3],
    [0.6, 0.4, 0.95],
]
B3 = [0.1, 0.1, 0.1]


# ---- BWT (C11) ---------------------------------------------------------------------------------


def test_bwt_two_tasks():
    # 0.5 - 0.9 = -0.4 (continuum's off-by-one loop returned 0 here)
    assert backward_transfer([[0.9, 0.1], [0.5, 0.8]]) == pytest.approx(-0.4)


def test_bwt_three_tasks():
    # ((0.6 - 0.9) + (0.4 - 0.8)) / 2 = -0.35
    bwt = backward_transfer(R3)
    assert bwt == pytest.approx(-0.35)
    # Known wrong answers: task skipped / all-rows average, divided by T, old continuum code.
    for wrong in (-0.30, -0.7 / 3, -0.10):
        assert bwt != pytest.approx(wrong)


def test_bwt_single_task_is_nan():
    assert math.isnan(backward_transfer([[0.7]]))


def test_bwt_constant_columns_is_zero():
    R = np.tile([0.3, 0.6, 0.9], (3, 1))  # every column constant
    assert backward_transfer(R) == pytest.approx(0.0)


def test_bwt_positive_when_later_training_helps():
    assert backward_transfer([[0.5, 0.0], [0.7, 0.9]]) == pytest.approx(0.2)


# ---- FWT (C12) ---------------------------------------------------------------------------------


def test_fwt_three_tasks():
    # ((R[0,1] - b1) + (R[1,2] - b2)) / 2 = ((0.2 - 0.1) + (0.3 - 0.1)) / 2 = 0.15
    fwt = forward_transfer(R3, B3)
    assert fwt == pytest.approx(0.15)
    # Known wrong answers: lower-triangle mean, no baseline / T(T-1)/2, no baseline / (T-1).
    for wrong in (0.566667, 0.166667, 0.25):
        assert fwt != pytest.approx(wrong, abs=1e-4)


def test_fwt_without_baseline_is_nan():
    assert math.isnan(forward_transfer(R3, None))


def test_fwt_nan_in_baseline_is_nan():
    assert math.isnan(forward_transfer(R3, [0.1, np.nan, 0.1]))


def test_fwt_baseline_of_first_task_is_not_needed():
    assert forward_transfer(R3, [np.nan, 0.1, 0.1]) == pytest.approx(0.15)


def test_fwt_single_task_is_nan():
    assert math.isnan(forward_transfer([[0.5]], [0.1]))


def test_fwt_differs_between_runs_on_the_same_stream():
    # Renate #225: FWT must come from each run's own matrix.
    other = np.array(R3)
    other[0, 1], other[1, 2] = 0.5, 0.6
    # ((0.5 - 0.1) + (0.6 - 0.1)) / 2 = 0.45
    assert forward_transfer(other, B3) == pytest.approx(0.45)
    assert forward_transfer(other, B3) != pytest.approx(forward_transfer(R3, B3))


def test_fwt_baseline_shape_is_checked():
    with pytest.raises(ValueError, match=r"baseline must have shape \(T,\) = \(3,\)"):
        forward_transfer(R3, [0.1, 0.1])


# ---- ACC (C12) ---------------------------------------------------------------------------------


def test_acc_is_mean_of_last_row():
    # (0.6 + 0.4 + 0.95) / 3 = 0.65
    assert average_accuracy(R3) == pytest.approx(0.65)


def test_acc_single_task():
    assert average_accuracy([[0.7]]) == pytest.approx(0.7)


# ---- Forgetting (Chaudhry et al. 2018) ---------------------------------------------------------


def test_forgetting_three_tasks():
    # f_0 = max(R[0,0], R[1,0]) - R[2,0] = max(0.9, 0.7) - 0.6 = 0.3
    # f_1 = max(R[1,1])          - R[2,1] = 0.8 - 0.4           = 0.4
    # F = (0.3 + 0.4) / 2 = 0.35   (the last task is excluded, not counted as 0: not 0.7 / 3)
    assert forgetting(R3) == pytest.approx(0.35)


def test_forgetting_uses_best_score_not_diagonal():
    R = [
        [0.5, 0.0, 0.0],
        [0.9, 0.6, 0.0],
        [0.3, 0.2, 0.7],
    ]
    # f_0 = max(0.5, 0.9) - 0.3 = 0.6 ; f_1 = 0.6 - 0.2 = 0.4 ; F = 0.5
    # BWT = ((0.3 - 0.5) + (0.2 - 0.6)) / 2 = -0.3, so F != -BWT here.
    assert forgetting(R) == pytest.approx(0.5)
    assert backward_transfer(R) == pytest.approx(-0.3)


def test_forgetting_ignores_scores_before_training():
    R = np.array(R3)
    R[0, 1] = 0.99  # measured before experience 1 was trained: not a "best" to forget from
    assert forgetting(R) == pytest.approx(0.35)


def test_forgetting_single_task_is_nan():
    assert math.isnan(forgetting([[0.4]]))


def test_forgetting_zero_without_change():
    assert forgetting(np.tile([0.3, 0.6, 0.9], (3, 1))) == pytest.approx(0.0)


# ---- Shared rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [average_accuracy, backward_transfer, forgetting])
def test_unneeded_nan_cells_do_not_matter(fn):
    R = np.array(R3)
    R[0, 1] = R[0, 2] = R[1, 2] = np.nan  # upper triangle never measured
    assert fn(R) == pytest.approx(fn(R3))


@pytest.mark.parametrize("fn", [average_accuracy, backward_transfer, forgetting])
def test_needed_nan_cell_gives_nan(fn):
    R = np.array(R3)
    R[2, 0] = np.nan
    assert math.isnan(fn(R))


def test_fwt_needed_nan_cell_gives_nan():
    R = np.array(R3)
    R[1, 2] = np.nan
    assert math.isnan(forward_transfer(R, B3))


NOT_SQUARE = [[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], [0.1, 0.2], np.zeros((0, 0)), np.zeros((2, 2, 2))]
ALL_METRICS = [average_accuracy, backward_transfer, forgetting, lambda R: forward_transfer(R, None)]


@pytest.mark.parametrize("bad", NOT_SQUARE)
@pytest.mark.parametrize("fn", ALL_METRICS)
def test_non_square_R_raises(fn, bad):
    with pytest.raises(ValueError, match=r"R must be a square \(T, T\) matrix.*got shape"):
        fn(bad)


def test_results_are_python_floats():
    for value in summarize(R3, B3).values():
        assert type(value) is float


def test_summarize():
    out = summarize(R3, B3)
    assert set(out) == {"acc", "bwt", "fwt", "forgetting"}
    assert out["acc"] == pytest.approx(0.65)
    assert out["bwt"] == pytest.approx(-0.35)
    assert out["fwt"] == pytest.approx(0.15)
    assert out["forgetting"] == pytest.approx(0.35)
    assert math.isnan(summarize(R3)["fwt"])


def test_metrics_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import evaluation.metrics, sys; assert 'torch' not in sys.modules"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


# ---- learning-curve area, availability, bootstrap (issue 8) ------------------------------------

from evaluation.metrics import availability, bootstrap_ci, learning_curve_area, query_score_matrix  # noqa: E402


def test_lca_hand_computed():
    # Z_0 = (0 + 0.5) / 2 = 0.25, Z_1 = (1 + 1) / 2 = 1, Z_2 = (1 + 0) / 2 = 0.5
    S = [[0.0, 1.0, 1.0], [0.5, 1.0, 0.0]]
    assert learning_curve_area(S) == pytest.approx((0.25 + 1.0 + 0.5) / 3)
    assert learning_curve_area(S, beta=0) == pytest.approx(0.25)
    assert learning_curve_area(S, beta=1) == pytest.approx(0.625)


def test_lca_skips_missing_positions_and_is_nan_without_queries():
    # experience 1 had only one query: Z_1 = 1.0 from experience 0 alone
    assert learning_curve_area([[0.0, 1.0], [1.0, np.nan]]) == pytest.approx((0.5 + 1.0) / 2)
    assert math.isnan(learning_curve_area(np.zeros((3, 0))))
    with pytest.raises(ValueError, match="beta"):
        learning_curve_area([[1.0]], beta=-1)


def test_query_score_matrix_orders_by_experience_and_scores_missed_as_zero():
    recs = [
        {"kind": "study", "experience": 0, "reward": 0.0, "missed": False},
        {"kind": "query", "experience": 0, "reward": 1.0, "missed": False},
        {"kind": "query", "experience": 0, "reward": 0.5, "missed": False},
        {"kind": "sleep", "experience": 0, "reward": 0.0, "missed": False},
        {"kind": "query", "experience": 1, "reward": 1.0, "missed": True},  # asleep: not answered
    ]
    S = query_score_matrix(recs, n_experiences=3)
    assert S.shape == (3, 2)
    np.testing.assert_array_equal(S[0], [1.0, 0.5])
    assert S[1, 0] == 0.0 and math.isnan(S[1, 1])
    assert np.all(np.isnan(S[2]))


def test_availability():
    q = lambda missed: {"kind": "query", "missed": missed}  # noqa: E731
    assert availability([q(False), q(False), q(True), q(False)]) == pytest.approx(0.75)
    assert availability([q(False)] * 3) == 1.0
    assert math.isnan(availability([{"kind": "study", "missed": False}]))  # no query: undefined, not 1 or 0


def test_bootstrap_ci_is_reproducible_and_brackets_the_mean():
    vals = [0.2, 0.4, 0.9, 0.5]
    m, lo, hi = bootstrap_ci(vals)
    assert m == pytest.approx(0.5)
    assert 0.2 <= lo < m < hi <= 0.9
    assert bootstrap_ci(vals) == (m, lo, hi)  # fixed seed
    # hand check of the percentile method with a tiny resample count
    rng = np.random.default_rng(0)
    means = np.asarray(vals)[rng.integers(0, 4, size=(50, 4))].mean(axis=1)
    assert bootstrap_ci(vals, n_resamples=50)[1] == pytest.approx(np.quantile(means, 0.025))


def test_bootstrap_ci_undefined_cases():
    assert all(math.isnan(x) for x in bootstrap_ci([]))
    m, lo, hi = bootstrap_ci([0.7, np.nan])  # nan (undefined metric) dropped; one value: no interval
    assert m == pytest.approx(0.7) and math.isnan(lo) and math.isnan(hi)
    assert bootstrap_ci([0.3, 0.3, 0.3]) == pytest.approx((0.3, 0.3, 0.3))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0, 2.0], confidence=95)
