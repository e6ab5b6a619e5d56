"""Chapter 3 — max and average pooling, forward and backward, in NCHW layout.

Every function behaves exactly like its PyTorch counterpart with the default `dilation=1` and
`ceil_mode=False`:

- `maxpool2d_forward`  / `maxpool2d_backward`  ~ `torch.nn.functional.max_pool2d` and its autograd;
- `avgpool2d_forward`  / `avgpool2d_backward`  ~ `torch.nn.functional.avg_pool2d`
  (`count_include_pad=True`: padded zeros count in the average, the divisor is always KH*KW);
- `global_avgpool2d_forward` / `global_avgpool2d_backward` ~ `x.mean((2, 3), keepdim=True)`.

Shapes. An input x of shape (N, C, H, W) pooled with a KH×KW window, stride (SH, SW) and padding
(PH, PW) gives an output of shape (N, C, OH, OW) with

    OH = (H + 2*PH - KH) // SH + 1,    OW = (W + 2*PW - KW) // SW + 1.

Output window (oh, ow) covers the input rows oh*SH - PH ... oh*SH - PH + KH - 1 and the columns
ow*SW - PW ... ow*SW - PW + KW - 1; rows and columns outside 0..H-1 / 0..W-1 are padding: -inf for
max pooling (never chosen), zeros for average pooling (they count in the divisor).
"""

import numpy as np
from numba import njit

from ._parallel import parallel_for
from ._validate import (
    as_float_array,
    check_pool,
    common_dtype,
    prepare_pool,
    prepare_pool_backward,
)


def pool_output_shape(input_shape, kernel_size, stride=None, padding=0):
    """Output shape of a 2-D pooling of an (N, C, H, W) input (PyTorch's, with ceil_mode=False).

    Inputs:
    - input_shape: (N, C, H, W).
    - kernel_size: int or (KH, KW), each >= 1.
    - stride: int or (SH, SW), each >= 1; None means stride = kernel_size.
    - padding: int or (PH, PW), each 0 <= P <= K // 2 (PyTorch's limit).

    Returns (N, C, OH, OW) with OH = (H + 2*PH - KH) // SH + 1 and OW = (W + 2*PW - KW) // SW + 1.
    """
    return check_pool(tuple(input_shape), kernel_size, stride, padding)[3]


def _planes(a):
    """An (N, C, H, W) array as N * C single-channel images (N * C, 1, H, W), a view: pooling
    treats every (image, channel) plane on its own, so the planes can be split between threads
    (`parallel_for`)."""
    return a.reshape(-1, 1, *a.shape[2:])


# ------------------------------------------------------------------------------------------------
# Max pooling
# ------------------------------------------------------------------------------------------------


def maxpool2d_forward(x, kernel_size, stride=None, padding=0):
    """Max pooling: the largest value of every KH×KW window.

    y[n, c, oh, ow] = max_{i, j} xpad[n, c, oh*SH + i, ow*SW + j],  0 <= i < KH, 0 <= j < KW,

    where xpad is x padded with PH rows / PW columns of -inf on every side.

    Inputs:
    - x: (N, C, H, W) real array.
    - kernel_size: int or (KH, KW).
    - stride: int or (SH, SW); None (default) means stride = kernel_size.
    - padding: int or (PH, PW), at most half the kernel size.

    Returns y: (N, C, OH, OW) array of x's float dtype (see `pool_output_shape`).
    """
    x, (kh, kw), (sh, sw), (ph, pw), out_shape = prepare_pool(x, kernel_size, stride, padding)
    y = np.empty(out_shape, dtype=x.dtype)
    xs, ys = _planes(x), _planes(y)
    parallel_for(len(xs), lambda a, b: _maxpool2d_forward_kernel(
        xs[a:b], ys[a:b], kh, kw, sh, sw, ph, pw))
    return y


@njit(cache=True, nogil=True)
def _maxpool2d_forward_kernel(x, y, kh, kw, sh, sw, ph, pw):
    """Fill y (N, C, OH, OW) with the window maxima of x (N, C, H, W).

    Positions outside the input are padding (-inf): skip them. Ties go to the first maximum in
    row-major window order; a NaN wins over any number — both exactly as PyTorch.
    """
    n_batch, channels, h, w = x.shape
    out_h, out_w = y.shape[2], y.shape[3]
    ### BEGIN SOLUTION
    for n in range(n_batch):
        for c in range(channels):
            for oh in range(out_h):
                for ow in range(out_w):
                    best = -np.inf
                    for i in range(kh):
                        row = oh * sh - ph + i
                        if row < 0 or row >= h:
                            continue
                        for j in range(kw):
                            col = ow * sw - pw + j
                            if col < 0 or col >= w:
                                continue
                            value = x[n, c, row, col]
                            # `|`, not `or`: both tests always run, so the compiler can pick the
                            # maximum without a branch (three times faster on random data).
                            if (value > best) | np.isnan(value):
                                best = value
                    y[n, c, oh, ow] = best
    ### END SOLUTION


def maxpool2d_backward(dy, x, kernel_size, stride=None, padding=0):
    """Gradient of `maxpool2d_forward` with respect to x.

    Each window passes its upstream gradient dy[n, c, oh, ow] to the one input that was its
    maximum (the first one on ties, like PyTorch); every other input of the window gets nothing.
    Overlapping windows (stride < kernel) can pick the same input, whose gradients then add up.

    Inputs:
    - dy: (N, C, OH, OW) upstream gradient dL/dy, the shape of the forward output.
    - x: (N, C, H, W) the forward input (the argmax is recomputed, nothing is cached).
    - kernel_size, stride, padding: as in `maxpool2d_forward`.

    Returns dx: (N, C, H, W) gradient dL/dx, float dtype common to dy and x.
    """
    x, dy, (kh, kw), (sh, sw), (ph, pw) = prepare_pool_backward(dy, x, kernel_size, stride, padding)
    dx = np.zeros(x.shape, dtype=x.dtype)
    dys, xs, dxs = _planes(dy), _planes(x), _planes(dx)
    parallel_for(len(xs), lambda a, b: _maxpool2d_backward_kernel(
        dys[a:b], xs[a:b], dxs[a:b], kh, kw, sh, sw, ph, pw))
    return dx


@njit(cache=True, nogil=True)
def _maxpool2d_backward_kernel(dy, x, dx, kh, kw, sh, sw, ph, pw):
    """Add (+=) every dy[n, c, oh, ow] into dx (N, C, H, W), zeros on entry, at its window's argmax.

    The argmax is the position `_maxpool2d_forward_kernel` takes its maximum from: the first
    maximum in row-major window order (the last NaN if the window has any).
    """
    n_batch, channels, h, w = x.shape
    out_h, out_w = dy.shape[2], dy.shape[3]
    ### BEGIN SOLUTION
    for n in range(n_batch):
        for c in range(channels):
            for oh in range(out_h):
                for ow in range(out_w):
                    best = -np.inf
                    # Like PyTorch: a window of only -inf picks its first in-bounds position.
                    best_row, best_col = max(oh * sh - ph, 0), max(ow * sw - pw, 0)
                    for i in range(kh):
                        row = oh * sh - ph + i
                        if row < 0 or row >= h:
                            continue
                        for j in range(kw):
                            col = ow * sw - pw + j
                            if col < 0 or col >= w:
                                continue
                            value = x[n, c, row, col]
                            if value > best or np.isnan(value):
                                best, best_row, best_col = value, row, col
                    dx[n, c, best_row, best_col] += dy[n, c, oh, ow]
    ### END SOLUTION


# ------------------------------------------------------------------------------------------------
# Average pooling
# ------------------------------------------------------------------------------------------------


def avgpool2d_forward(x, kernel_size, stride=None, padding=0):
    """Average pooling: the mean of every KH×KW window, padded zeros included.

    y[n, c, oh, ow] = 1/(KH*KW) * sum_{i, j} xpad[n, c, oh*SH + i, ow*SW + j]

    where xpad is x padded with PH rows / PW columns of zeros on every side (PyTorch's default
    count_include_pad=True: the divisor is always KH*KW, even for windows that overlap padding).

    Inputs:
    - x: (N, C, H, W) real array.
    - kernel_size: int or (KH, KW).
    - stride: int or (SH, SW); None (default) means stride = kernel_size.
    - padding: int or (PH, PW), at most half the kernel size.

    Returns y: (N, C, OH, OW) array of x's float dtype (see `pool_output_shape`).
    """
    x, (kh, kw), (sh, sw), (ph, pw), out_shape = prepare_pool(x, kernel_size, stride, padding)
    y = np.empty(out_shape, dtype=x.dtype)
    xs, ys = _planes(x), _planes(y)
    parallel_for(len(xs), lambda a, b: _avgpool2d_forward_kernel(
        xs[a:b], ys[a:b], kh, kw, sh, sw, ph, pw))
    return y


@njit(cache=True, nogil=True)
def _avgpool2d_forward_kernel(x, y, kh, kw, sh, sw, ph, pw):
    """Fill y (N, C, OH, OW) with the window means of x (N, C, H, W), padding counted as zeros.

    Sums in x's dtype in row-major window order, then divides by KH*KW (as PyTorch does).
    """
    n_batch, channels, h, w = x.shape
    out_h, out_w = y.shape[2], y.shape[3]
    ### BEGIN SOLUTION
    area = kh * kw
    for n in range(n_batch):
        for c in range(channels):
            for oh in range(out_h):
                for ow in range(out_w):
                    total = x.dtype.type(0)
                    for i in range(kh):
                        row = oh * sh - ph + i
                        if row < 0 or row >= h:
                            continue  # a row of padding: zeros add nothing
                        for j in range(kw):
                            col = ow * sw - pw + j
                            if col < 0 or col >= w:
                                continue
                            total += x[n, c, row, col]
                    y[n, c, oh, ow] = total / area
    ### END SOLUTION


def avgpool2d_backward(dy, x, kernel_size, stride=None, padding=0):
    """Gradient of `avgpool2d_forward` with respect to x.

    Each window spreads its upstream gradient evenly: every input of the window gets
    dy[n, c, oh, ow] / (KH*KW) (padded positions get their share too, which is dropped).
    Overlapping windows add up.

    Inputs:
    - dy: (N, C, OH, OW) upstream gradient dL/dy, the shape of the forward output.
    - x: (N, C, H, W) the forward input (only its shape matters).
    - kernel_size, stride, padding: as in `avgpool2d_forward`.

    Returns dx: (N, C, H, W) gradient dL/dx, float dtype common to dy and x.
    """
    x, dy, (kh, kw), (sh, sw), (ph, pw) = prepare_pool_backward(dy, x, kernel_size, stride, padding)
    dx = np.zeros(x.shape, dtype=x.dtype)
    dys, dxs = _planes(dy), _planes(dx)
    parallel_for(len(dxs), lambda a, b: _avgpool2d_backward_kernel(
        dys[a:b], dxs[a:b], kh, kw, sh, sw, ph, pw))
    return dx


@njit(cache=True, nogil=True)
def _avgpool2d_backward_kernel(dy, dx, kh, kw, sh, sw, ph, pw):
    """Add (+=) dy[n, c, oh, ow] / (KH*KW) into dx (N, C, H, W), zeros on entry, at every
    in-bounds position of window (oh, ow).

    The share is computed in dy's dtype, as PyTorch does, so float32 results match it bit for bit.
    """
    n_batch, channels, h, w = dx.shape
    out_h, out_w = dy.shape[2], dy.shape[3]
    ### BEGIN SOLUTION
    area = dy.dtype.type(kh * kw)
    for n in range(n_batch):
        for c in range(channels):
            for oh in range(out_h):
                for ow in range(out_w):
                    share = dy[n, c, oh, ow] / area
                    for i in range(kh):
                        row = oh * sh - ph + i
                        if row < 0 or row >= h:
                            continue
                        for j in range(kw):
                            col = ow * sw - pw + j
                            if col < 0 or col >= w:
                                continue
                            dx[n, c, row, col] += share
    ### END SOLUTION


# ------------------------------------------------------------------------------------------------
# Global average pooling
# ------------------------------------------------------------------------------------------------


def global_avgpool2d_forward(x):
    """Global average pooling: the mean of every channel over all its H×W positions.

    y[n, c, 0, 0] = 1/(H*W) * sum_{h, w} x[n, c, h, w]   (like x.mean((2, 3), keepdim=True))

    Inputs:
    - x: (N, C, H, W) real array.

    Returns y: (N, C, 1, 1) array of x's float dtype.
    """
    x = as_float_array(x, "x", 4)
    ### BEGIN SOLUTION
    return x.mean(axis=(2, 3), keepdims=True)
    ### END SOLUTION


def global_avgpool2d_backward(dy, x):
    """Gradient of `global_avgpool2d_forward` with respect to x.

    Every one of the H*W inputs of channel (n, c) gets dy[n, c, 0, 0] / (H*W).

    Inputs:
    - dy: (N, C, 1, 1) upstream gradient dL/dy.
    - x: (N, C, H, W) the forward input (only its shape matters).

    Returns dx: (N, C, H, W) gradient dL/dx, float dtype common to dy and x.
    """
    x = as_float_array(x, "x", 4)
    dy = as_float_array(dy, "dy", 4)
    n, c, h, w = x.shape
    if dy.shape != (n, c, 1, 1):
        raise ValueError(
            f"dy must have the shape of the forward output {(n, c, 1, 1)} (x of shape "
            f"{x.shape}), got shape {dy.shape}"
        )
    dy = dy.astype(common_dtype(x, dy), copy=False)
    ### BEGIN SOLUTION
    return np.broadcast_to(dy / (h * w), x.shape).copy()
    ### END SOLUTION
