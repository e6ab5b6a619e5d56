"""Convolution as shifted matrix products, for layers with few channels (given code).

The reference `conv.conv2d_forward_gemm` and `conv.conv2d_backward_gemm` choose this path by
shape (`shifted_products_apply`); everything else takes their im2col-style GEMM. It computes
exactly what they compute (PyTorch's `conv2d` and its gradients), summed in another order.

Why. With C = 16 input channels and a 3x3 kernel, im2col copies every input value nine times
into a (N * OH * OW, 144) matrix and multiplies it by a (144, O) one: the copy and the thin
product both move nine times the input through memory. Stride 1 and "same" padding allow
another way. Lay the padded input out channels-last and flat, one row of C values per pixel:

    flat[(n * Hp + y) * Wp + x, c] = xpad[n, c, y, x]          (Hp, Wp: the padded size)

Output pixel (y, x) of image n, placed at row q = (n * Hp + y) * Wp + x of the same grid, reads
tap (i, j) from row q + i * Wp + j. So the whole layer is KH * KW products of *shifted views*
of one matrix, with no copy at all:

    out[q] = b + sum over i, j of flat[q + i * Wp + j] @ W[:, :, i, j].T

Rows q that are no output pixel (the padding columns and rows of the grid) are computed and
dropped: (Hp * Wp) / (OH * OW) - 1 extra work, 13 % at 32x32. The products run on blocks of
`BLOCK` rows, so that the nine shifted blocks and their sum stay in the processor's cache.

The backward pass is made of the same pieces. With "same" padding (p = (K - 1) / 2) the input's
gradient is the forward pass of dy with the filters flipped and transposed (a full correlation),
and dW[:, :, i, j] = sum over q of dy[q] outer flat[q + i * Wp + j], one more shifted product
per tap. BLAS runs the products.
"""

import numpy as np
from numba import njit

from ._parallel import parallel_for

# Rows per block of products: 256 KB of the input with C = 16, float32, so that the nine
# shifted blocks and their sum stay in the processor's cache. Measured (2-core AMD EPYC, C = 16,
# N = 32, 32x32, float32, forward + backward): 17 ms on 1 thread and 14.5 ms on 2 with 4096 or
# 8192 rows, 22 and 19 ms with 2048, against 27 and 22 ms for the im2col GEMM.
BLOCK = 4096
# Measured on 2-core AMD EPYC, float32, one thread (benchmarks/bench.py): shifted products beat
# the im2col GEMM by about 1.5x at C = 16 and C = 32, and lose at C = 3 and C = 64.
MIN_CHANNELS, MAX_CHANNELS = 8, 32
MIN_PIXELS = 4096  # N * OH * OW below this: a small layer, the GEMM path is as fast


def shifted_products_apply(x_shape, w_shape, stride, padding, dilation, groups):
    """Whether `conv2d_forward_shifted` / `conv2d_backward_shifted` handle this layer.

    Inputs: the shapes (N, C, H, W) and (O, C // groups, KH, KW) and the (h, w) pairs of a
    validated layer. True for groups 1, stride 1, dilation 1, odd kernels larger than 1x1 with
    "same" padding (K - 1) / 2, between MIN_CHANNELS and MAX_CHANNELS input and output channels
    and at least MIN_PIXELS output pixels in the batch.
    """
    n, c, h, w = x_shape
    o, _, kh, kw = w_shape
    return (groups == 1 and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and kh % 2 == 1 and kw % 2 == 1 and kh * kw > 1
            and tuple(padding) == ((kh - 1) // 2, (kw - 1) // 2)
            and MIN_CHANNELS <= c <= MAX_CHANNELS and MIN_CHANNELS <= o <= MAX_CHANNELS
            and n * h * w >= MIN_PIXELS)


def _flat_padded(a, ph, pw):
    """(N, C, H, W) -> the zero-padded channels-last grid, flat: an array (N * Hp * Wp, C)."""
    n, c, h, w = a.shape
    grid = np.zeros((n, h + 2 * ph, w + 2 * pw, c), a.dtype)
    grid[:, ph : ph + h, pw : pw + w] = a.transpose(0, 2, 3, 1)
    return grid.reshape(-1, c)


def _correlate_flat(flat, taps, rows):
    """Rows 0 ... rows - 1 of sum over (shift, matrix) in taps of flat[q + shift] @ matrix.

    Inputs:
    - flat: array (R, C), a flat channels-last grid (`_flat_padded`).
    - taps: list of (shift, matrix (C, O)) pairs, shift + rows <= R.
    - rows: int, how many rows of the result to compute.

    Returns an array (R, O) whose rows from `rows` on are uninitialised. The blocks of BLOCK rows
    run in parallel (`parallel_for`, each block in one thread; BLAS computes a product this small
    in its caller's thread or splits it, as it likes): unlike one BLAS call per product, which
    OpenBLAS splits between its threads at a cost larger than the product, this uses every core.
    """
    out = np.empty((flat.shape[0], taps[0][1].shape[1]), flat.dtype)

    def blocks(first, last):  # blocks first ... last - 1
        scratch = np.empty((BLOCK, out.shape[1]), flat.dtype)
        for start in range(first * BLOCK, min(last * BLOCK, rows), BLOCK):
            stop = min(start + BLOCK, rows)
            block, part = out[start:stop], scratch[: stop - start]
            (s, matrix), *rest = taps
            np.matmul(flat[start + s : stop + s], matrix, out=block)
            for s, matrix in rest:
                np.matmul(flat[start + s : stop + s], matrix, out=part)
                block += part

    parallel_for(-(-rows // BLOCK), blocks)
    return out


def conv2d_forward_shifted(x, w, b):
    """`conv2d(x, w, b, padding=((KH - 1) // 2, (KW - 1) // 2))` of a layer for which
    `shifted_products_apply` holds: x (N, C, H, W), w (O, C, KH, KW), b (O,) or None, one float
    dtype. Returns out, an array (N, O, H, W)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    hp, wp = h + 2 * ph, wd + 2 * pw
    flat = _flat_padded(x, ph, pw)
    filters = w.transpose(2, 3, 1, 0)  # (KH, KW, C, O): tap (i, j) is a (C, O) matrix
    taps = [(i * wp + j, np.ascontiguousarray(filters[i, j]))
            for i in range(kh) for j in range(kw)]
    out = _correlate_flat(flat, taps, flat.shape[0] - (kh - 1) * wp - (kw - 1))
    out = out.reshape(n, hp, wp, o)[:, :h, :wd]  # output pixel (y, x) sits at grid (y, x)
    if b is None:
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
    # Back to NCHW and the bias added in one pass over the output.
    return np.add(out.transpose(0, 3, 1, 2), b[:, None, None],
                  out=np.empty((n, o, h, wd), x.dtype))


def conv2d_backward_shifted(dy, x, w):
    """The gradients (dx, dw, db) of `conv2d_forward_shifted(x, w, b)` for the upstream gradient
    dy (N, O, H, W): arrays (N, C, H, W), (O, C, KH, KW) and (O,) of x's dtype."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    hp, wp = h + 2 * ph, wd + 2 * pw
    rows = n * hp * wp - (kh - 1) * wp - (kw - 1)  # grid rows with a whole window below them
    flat = _flat_padded(x, ph, pw)
    # dy on the same padded grid: dy[n, :, y, x] at grid (y + ph, x + pw), zeros around it.
    grads = _flat_padded(dy, ph, pw)
    # dx[y, x] = sum over i, j of w[:, :, i, j].T @ dy[y + ph - i, x + pw - j]: grid row q of
    # pixel (y, x) meets dy at q + (KH - 1 - i) * Wp + (KW - 1 - j), a correlation of the
    # padded dy with the flipped filters, each tap a (O, C) matrix.
    flipped = w.transpose(2, 3, 0, 1)[::-1, ::-1]  # (KH, KW, O, C)
    taps = [(i * wp + j, np.ascontiguousarray(flipped[i, j]))
            for i in range(kh) for j in range(kw)]
    dx = _correlate_flat(grads, taps, rows).reshape(n, hp, wp, c)[:, :h, :wd]
    # dw[:, :, i, j] = sum over output pixels q of dy[q] outer xpad[q + i * Wp + j]; dy of
    # output pixel (y, x) is grid row q + ph * Wp + pw of `grads`.
    centre = ph * wp + pw
    dy_rows = grads[centre : centre + rows].T  # (O, rows); zero on the rows of no pixel
    dw = np.empty((kh, kw, o, c), x.dtype)
    for i in range(kh):
        for j in range(kw):
            s = i * wp + j
            np.matmul(dy_rows, flat[s : s + rows], out=dw[i, j])
    return (np.ascontiguousarray(dx.transpose(0, 3, 1, 2)),
            np.ascontiguousarray(dw.transpose(2, 3, 0, 1)), dy.sum(axis=(0, 2, 3)))


# ----------------------------------------------------------------------------------------------
# Depthwise 3x3, stride 1: the reference kernels' sums, with the nine taps written out
# ----------------------------------------------------------------------------------------------
# The reference depthwise kernels (`depthwise._depthwise_*_kernel`) hand their stride-1 3x3 planes
# to these. They compute the same sums in the same order on the same flattened padded planes (see
# `depthwise._depthwise_forward_kernel`), so the results are identical; with the nine taps as nine
# named slices, one loop over the plane does all of them, instead of one loop per tap that loads
# and stores a partial sum each time.


@njit(cache=True, nogil=True)
def depthwise3x3_forward(xpad, w, b, out):
    """`depthwise._depthwise_forward_kernel` for 3x3 filters, stride 1 and dilation 1: fill out
    (N, C * M, OH, OW) from xpad (N, C, OH + 2, OW + 2), w (C * M, 1, 3, 3) and b (C * M,)."""
    N, K, OH, OW = out.shape
    C, Hp, Wp = xpad.shape[1], xpad.shape[2], xpad.shape[3]
    M = K // C
    span = (OH - 1) * Wp + OW
    acc = np.empty(span, out.dtype)
    for n in range(N):
        for k in range(K):
            p = xpad[n, k // M].reshape(Hp * Wp)
            t00, t01, t02 = p[0:], p[1:], p[2:]  # tap (i, j) of output q is p[q + i * Wp + j]
            t10, t11, t12 = p[Wp:], p[Wp + 1 :], p[Wp + 2 :]
            t20, t21, t22 = p[2 * Wp :], p[2 * Wp + 1 :], p[2 * Wp + 2 :]
            w00, w01, w02 = w[k, 0, 0, 0], w[k, 0, 0, 1], w[k, 0, 0, 2]
            w10, w11, w12 = w[k, 0, 1, 0], w[k, 0, 1, 1], w[k, 0, 1, 2]
            w20, w21, w22 = w[k, 0, 2, 0], w[k, 0, 2, 1], w[k, 0, 2, 2]
            bias = b[k]
            for q in range(span):
                acc[q] = (bias + w00 * t00[q] + w01 * t01[q] + w02 * t02[q]
                          + w10 * t10[q] + w11 * t11[q] + w12 * t12[q]
                          + w20 * t20[q] + w21 * t21[q] + w22 * t22[q])
            for y in range(OH):
                for x in range(OW):
                    out[n, k, y, x] = acc[y * Wp + x]


@njit(cache=True, nogil=True)
def depthwise3x3_backward_input(dy, w, dxpad):
    """`depthwise._depthwise_backward_input_kernel` for 3x3 filters, stride 1 and dilation 1:
    add dL/dxpad into dxpad (N, C, OH + 2, OW + 2) from dy (N, C * M, OH, OW) and w.

    Gathered instead of scattered: padded pixel q of the flat plane receives w[k, 0, i, j] *
    grad[q - i * Wp - j] from each tap, grad being dy on the flat plane (zeros between its rows)
    behind 2 * Wp + 2 zeros, so that every index is >= 0. Each pixel adds the same products in
    the same order as the reference's scatter (tap by tap), so the result is the same."""
    N, K, OH, OW = dy.shape
    C, Hp, Wp = dxpad.shape[1], dxpad.shape[2], dxpad.shape[3]
    M = K // C
    lead = 2 * Wp + 2
    grad = np.zeros(lead + Hp * Wp, dxpad.dtype)
    for n in range(N):
        for k in range(K):
            for y in range(OH):
                for x in range(OW):
                    grad[lead + y * Wp + x] = dy[n, k, y, x]
            g00, g01, g02 = grad[lead:], grad[lead - 1 :], grad[lead - 2 :]
            g10, g11, g12 = grad[lead - Wp :], grad[lead - Wp - 1 :], grad[lead - Wp - 2 :]
            g20, g21, g22 = grad[2:], grad[1:], grad[0:]
            w00, w01, w02 = w[k, 0, 0, 0], w[k, 0, 0, 1], w[k, 0, 0, 2]
            w10, w11, w12 = w[k, 0, 1, 0], w[k, 0, 1, 1], w[k, 0, 1, 2]
            w20, w21, w22 = w[k, 0, 2, 0], w[k, 0, 2, 1], w[k, 0, 2, 2]
            p = dxpad[n, k // M].reshape(Hp * Wp)  # a view: += writes into dxpad
            for q in range(Hp * Wp):
                p[q] = (p[q] + w00 * g00[q] + w01 * g01[q] + w02 * g02[q]
                        + w10 * g10[q] + w11 * g11[q] + w12 * g12[q]
                        + w20 * g20[q] + w21 * g21[q] + w22 * g22[q])


@njit(cache=True, nogil=True)
def depthwise3x3_backward_weight(dy, xpad, dw_out):
    """`depthwise._depthwise_backward_weight_kernel` for 3x3 filters, stride 1 and dilation 1:
    add dL/dw into dw_out (C * M, 1, 3, 3) from dy (N, C * M, OH, OW) and xpad (N, C, OH + 2,
    OW + 2).

    As in the reference kernel, one partial sum per tap and position of the flat plane,
    accumulated over the images (elementwise, which the processor does several at a time); then
    the rows of each tap's partial sums are added up elementwise into one row, and that row
    summed: the same products, summed in another order (within rounding of the reference)."""
    N, K, OH, OW = dy.shape
    C, Hp, Wp = xpad.shape[1], xpad.shape[2], xpad.shape[3]
    M = K // C
    span = (OH - 1) * Wp + OW
    acc = np.empty((9, span), dw_out.dtype)
    grad = np.zeros(span, dw_out.dtype)
    lanes = np.empty(Wp, dw_out.dtype)
    for k in range(K):
        acc[:] = 0
        a00, a01, a02, a10, a11, a12, a20, a21, a22 = (
            acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7], acc[8])
        for n in range(N):
            for y in range(OH):
                for x in range(OW):
                    grad[y * Wp + x] = dy[n, k, y, x]  # between the rows: zeros
            p = xpad[n, k // M].reshape(Hp * Wp)
            t00, t01, t02 = p[0:], p[1:], p[2:]  # tap (i, j) of output q is p[q + i * Wp + j]
            t10, t11, t12 = p[Wp:], p[Wp + 1 :], p[Wp + 2 :]
            t20, t21, t22 = p[2 * Wp :], p[2 * Wp + 1 :], p[2 * Wp + 2 :]
            for q in range(span):
                g = grad[q]
                a00[q] += g * t00[q]
                a01[q] += g * t01[q]
                a02[q] += g * t02[q]
                a10[q] += g * t10[q]
                a11[q] += g * t11[q]
                a12[q] += g * t12[q]
                a20[q] += g * t20[q]
                a21[q] += g * t21[q]
                a22[q] += g * t22[q]
        for t in range(9):
            lanes[:] = 0
            for y in range(OH):
                row = acc[t, y * Wp : min(span, (y + 1) * Wp)]
                for x in range(row.size):
                    lanes[x] += row[x]
            dw_out[k, 0, t // 3, t % 3] += lanes.sum()
