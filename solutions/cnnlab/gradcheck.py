"""Chapter 3 — numerical gradient checking (given code).

A backward pass is easy to get subtly wrong. Check it against the definition of the derivative:
nudge one input entry by ±eps, rerun the forward pass, and look at how the loss changes.

For an array function y = f(x) and an upstream gradient dy (dL/dy), the loss is L = sum(f(x) * dy),
so dL/dx — what a backward pass returns — is approximated entry by entry by the central difference

    dL/dx[i] ≈ (L(x + eps·e_i) - L(x - eps·e_i)) / (2·eps),

whose error shrinks like eps². Use float64 inputs: in float32, eps = 1e-6 is below the rounding
error and the difference is noise.
"""

import numpy as np


def numerical_gradient(f, x, dy=None, eps=1e-6):
    """Central-difference estimate of d/dx of sum(f(x) * dy).

    Inputs:
    - f: function of one array returning an array (any shape, the shape of dy).
    - x: array, the point where the gradient is taken (converted to float64; not modified).
    - dy: upstream gradient, same shape as f(x); None means all ones (the gradient of sum(f(x))).
    - eps: step size.

    Returns grad: float64 array of x's shape.
    """
    x = np.array(x, dtype=np.float64)  # a copy we are free to nudge
    if dy is None:
        dy = np.ones_like(f(x))
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        loss_plus = np.sum(f(x) * dy)
        x[index] = saved - eps
        loss_minus = np.sum(f(x) * dy)
        x[index] = saved
        grad[index] = (loss_plus - loss_minus) / (2 * eps)
    return grad


def relative_error(a, b):
    """Largest elementwise relative error max |a - b| / max(1e-12, |a| + |b|) (0 for a == b).

    In float64, around 1e-7 or below means a correct gradient (more if some entries are tiny:
    their roundoff error is relatively large); 1e-2 or above is a bug.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    return float(np.max(np.abs(a - b) / np.maximum(1e-12, np.abs(a) + np.abs(b)), initial=0.0))


def gradcheck(f, inputs, grads, dy=None, eps=1e-6):
    """Compare analytic gradients with numerical ones, one input at a time.

    Inputs:
    - f: function called as f(**inputs), returning an array.
    - inputs: dict name -> array, the point where gradients are checked (use float64).
    - grads: dict name -> analytic gradient dL/d(input) from your backward pass, for some or all
      of the inputs, with L = sum(f(**inputs) * dy).
    - dy: upstream gradient, the shape of f's output; None means all ones.
    - eps: step size of the central differences.

    Returns errors: dict name -> `relative_error(grads[name], numerical gradient)` for each name in
    grads. Example:

        dy = np.random.randn(*avgpool2d_forward(x, 2).shape)
        gradcheck(lambda x: avgpool2d_forward(x, 2), {"x": x},
                  {"x": avgpool2d_backward(dy, x, 2)}, dy)   # {'x': 3e-11}
    """
    errors = {}
    for name, analytic in grads.items():
        if name not in inputs:
            raise ValueError(f"grads has {name!r}, which is not one of the inputs {list(inputs)}")

        def f_of_one(value, name=name):
            return f(**{**inputs, name: value})

        errors[name] = relative_error(analytic, numerical_gradient(f_of_one, inputs[name], dy, eps))
    return errors
