"""evaluation.rundir: strict JSON and atomic writes."""

import json
import numpy as np
import pytest

from evaluation.rundir import atomic_save_npy, atomic_write_text, json_safe


def test_json_safe_turns_nan_and_inf_into_null_at_any_depth() -> None:
    data = {"a": float("nan"), "g": float("-inf"), "b": [1.0, float("nan"), (2, float("nan"))], "c": {"d": {"e": float("nan")}}, "f": "nan"}
    text = json.dumps(json_safe(data))
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {
        "a": None, "g": None, "b": [1.0, None, [2, None]], "c": {"d": {"e": None}}, "f": "nan"}
    assert json_safe(1.5) == 1.5 and json_safe(3) == 3 and json_safe(True) is True


def test_atomic_writes_replace_the_whole_file_and_leave_no_temporary(tmp_path) -> None:
    path = tmp_path / "sub" / "x.json"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and sorted(p.name for p in path.parent.iterdir()) == ["x.json"]
    arr = np.arange(6, dtype=np.float64).reshape(2, 3)
    atomic_save_npy(tmp_path / "R.npy", arr)
    np.testing.assert_array_equal(np.load(tmp_path / "R.npy"), arr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R.npy", "sub"]
