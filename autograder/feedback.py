"""Readable failure messages for the grading suites: which case, where, expected vs got."""

import numpy as np


def tolerances(dtype):
    """(rtol, atol) for comparing a result of `dtype` with the reference."""
    return (1e-4, 1e-5) if np.dtype(dtype) == np.float32 else (1e-9, 1e-10)


def assert_close(got, expected, call, rtol=None, atol=None):
    """Fail with a message naming `call`, unless `got` matches `expected` in shape, dtype, values.

    `call` describes the case, e.g. "correlate2d(image 5x7, kernel 3x2, mode='same')".
    Tolerances default to the expected dtype's (`tolerances`), scaled by the size of the values.
    """
    expected = np.asarray(expected)
    if got is None:
        raise AssertionError(f"{call} returned None (a missing `return`?)")
    if not isinstance(got, np.ndarray):
        raise AssertionError(f"{call} returned {type(got).__name__}, expected a numpy array")
    if got.shape != expected.shape:
        raise AssertionError(f"{call}: shape {got.shape}, expected {expected.shape}")
    if got.dtype != expected.dtype:
        raise AssertionError(f"{call}: dtype {got.dtype}, expected {expected.dtype}")
    default_rtol, default_atol = tolerances(expected.dtype)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    bad = ~np.isclose(got, expected, rtol=rtol, atol=atol * scale, equal_nan=True)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"{call}: {int(bad.sum())} of {bad.size} values differ; first at index {where}: "
            f"got {got[where].item()!r}, expected {expected[where].item()!r}"
            + (f"\n  got:\n{_show(got)}\n  expected:\n{_show(expected)}" if got.size <= 36 else "")
        )


def _show(a):
    text = np.array2string(np.asarray(a), precision=4, suppress_small=True)
    return "\n".join("    " + line for line in text.splitlines())


def describe_array(a):
    """'5x7 float32' — how a case names its arrays."""
    return "x".join(map(str, np.shape(a))) + f" {np.asarray(a).dtype}"
