"""Grading feedback says which case failed, where, and expected vs got."""

import numpy as np
import pytest

from autograder.engine import Report, TestResult
from autograder.feedback import assert_close


def test_assert_close_accepts_a_match_within_dtype_tolerance():
    expected = np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)
    assert_close(expected * (1 + 1e-6), expected, "f(x)")


@pytest.mark.parametrize(("got", "message"), [
    (None, r"f\(x\) returned None \(a missing `return`\?\)"),
    ([[1.0, 2.0]], r"f\(x\) returned list, expected a numpy array"),
    (np.zeros((3, 2)), r"f\(x\): shape \(3, 2\), expected \(2, 3\)"),
    (np.zeros((2, 3), dtype=np.float32), r"f\(x\): dtype float32, expected float64"),
    (np.array([[0.0, 1, 2], [3, 4, 6]]),
     r"f\(x\): 1 of 6 values differ; first at index \(1, 2\): got 6\.0, expected 5\.0"),
])
def test_assert_close_explains_the_failure(got, message):
    expected = np.arange(6.0).reshape(2, 3)
    with pytest.raises(AssertionError, match=message):
        assert_close(got, expected, "f(x)")


def test_report_table_adds_points_per_exercise_and_lists_failures():
    report = Report("ch01_edges", package="/somewhere/cnnlab", results=[
        TestResult("t1", "correlate2d", 2.0, True, "worked example", passed=True, message=""),
        TestResult("t2", "correlate2d", 1.0, False, "random cases", passed=False,
                   message="correlate2d(...): shape (3, 3), expected (4, 4)"),
        TestResult("t3", "convolve2d", 1.5, True, "worked example", passed=True, message=""),
    ])
    assert report.points() == 3.5 and report.max_points() == 4.5
    assert report.points("correlate2d") == 2.0 and report.max_points("convolve2d") == 1.5
    table = report.table()
    assert "correlate2d   1/2     2.0 / 3.0" in table
    assert "total" in table and "3.5 / 4.5  (78 %)" in table
    assert "✘ [correlate2d] random cases (1 pt)\n      correlate2d(...): shape (3, 3)" in table
