"""Central-difference gradients for the grading suites (trusted side).

The suites' public checks compare a learner's backward pass with these numbers, computed from a
forward pass written in the suite itself (NumPy oracles), never from the learner's code and
without the reference package (a learner's machine may not have it). The arithmetic is that of
the given `cnnlab.gradcheck`, which the notebooks use.
"""

import numpy as np

# Numerical gradients agree with exact ones to about 1e-9 in the suites' cases (float64,
# eps = 1e-6): the tolerance of a comparison with them.
NUMERICAL = dict(rtol=1e-6, atol=1e-7)


def numerical_gradient(f, x, dy, eps=1e-6):
    """Central differences of sum(f(x) * dy) with respect to x, in float64.

    Inputs:
    - f: function of one array returning an array of dy's shape.
    - x: array, the point where the gradient is taken (copied as float64; not modified).
    - dy: array, the upstream gradient.
    - eps: float, the step.

    Returns grad, a float64 array of x's shape.
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        plus = np.sum(f(x) * dy)
        x[index] = saved - eps
        minus = np.sum(f(x) * dy)
        x[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def numerical_grads(forward, x, w, b, dy):
    """[dL/dx, dL/dw, dL/db] of L = sum(forward(x, w, b) * dy) by central differences (without
    dL/db when b is None)."""
    grads = [numerical_gradient(lambda x: forward(x, w, b), x, dy),
             numerical_gradient(lambda w: forward(x, w, b), w, dy)]
    if b is not None:
        grads.append(numerical_gradient(lambda b: forward(x, w, b), b, dy))
    return grads
