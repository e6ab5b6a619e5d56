"""Input validation shared by every public function (given code, not an exercise).

Public functions validate here, in plain Python, before any Numba kernel runs: a kernel fed the
wrong shape would index out of bounds (a segfault or garbage), so every bad input must stop here
with a ValueError/TypeError that names the offending parameter and shapes.
"""

import numpy as np


def as_float_array(x, name, ndim):
    """Return `x` as a C-contiguous float32/float64 array with `ndim` dimensions.

    Integers and booleans become float64 (so worked examples typed as ints just work); float32
    stays float32, so the output dtype follows the input.
    """
    arr = np.asarray(x)
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape} ({arr.ndim}-D)")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    return np.ascontiguousarray(arr, dtype=dtype)


def common_dtype(*arrays):
    """The float dtype of a result computed from `arrays`: float32 only if all are float32."""
    return np.result_type(*[a.dtype for a in arrays], np.float32)


def pair(value, name, minimum=0):
    """Turn an int or an (h, w) pair into a tuple of two ints >= `minimum` (PyTorch's `_pair`)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        values = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a pair of ints (h, w), got {value!r}")
    if min(values) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return values


def check_choice(value, name, choices):
    """Raise a ValueError unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value
