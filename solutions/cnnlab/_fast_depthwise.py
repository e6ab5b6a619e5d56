"""Depthwise 3x3 convolution, stride 1, one channel plane at a time in the cache (reference only).

The reference `depthwise.depthwise_conv2d_forward` and `depthwise_conv2d_backward` choose this
path by shape (`fused_planes_apply`); everything else takes the chapter's kernels. It computes
exactly what they compute (PyTorch's `conv2d(..., groups=C)` and its gradients), summed in another
order.

Why. A depthwise layer does 9 multiply-adds per value it reads, so it is bound by memory, not
arithmetic: the chapter's kernels read an already padded copy of x, made by the wrapper, and the
backward pass also fills, crops and copies a padded dx. Here every (image, channel) plane is
padded, used and dropped while it sits in the processor's fastest cache, and out and dx are
written once each. All three use the trick of the chapter's stride-1 kernels, one loop over the
flat padded plane (Wp values a row), in which tap (i, j) of position q sits at q + i * dh * Wp +
j * dw; each loop does all 9 taps at once, the 9 weights held in registers:

- forward: out[y, x] = b + sum over i, j of w[i, j] * xpad[y + i * dh, x + j * dw] at q = y *
  Wp + x, then the OH x OW valid positions copied to out;
- dx, as a *gather* (each input pixel collects from the outputs it fed, instead of each output
  scattering into dxpad): dx[y, x] = sum over i, j of w[i, j] * dy[y + ph - i * dh, x + pw -
  j * dw], read from dy laid out in a flat plane with a zero border, at q = y * Wp + x;
- dw and db: 10 dot products of the flat dy with the flat padded plane, shifted by each tap.

Measured (2-core AMD EPYC, float32, forward + backward of (32, 64, 32, 32), CPU time of one
thread, benchmarks/bench.py): 6.0 ms, against 17.7 ms through the chapter's kernels and 11-14 ms
for PyTorch.

Work is split by input channel (`parallel_for`): the gradient of filter k is summed by one thread
over the images in order, so the result is the same on any number of threads.
"""

import numpy as np
from numba import njit

from ._parallel import parallel_for

VECTOR = 32  # loops run over whole multiples of this many values (see `_whole_vectors`)
MIN_PIXELS = 4096  # N * OH * OW below this: a small layer, the chapter's kernels are as fast


def fused_planes_apply(w_shape, stride, images, out_hw):
    """Whether this path computes the layer: 3x3 filters, stride 1, at least MIN_PIXELS output
    pixels in the batch (images * OH * OW, out_hw = (OH, OW)); any padding, dilation and channel
    multiplier."""
    pixels = images * out_hw[0] * out_hw[1]
    return tuple(w_shape[2:]) == (3, 3) and tuple(stride) == (1, 1) and pixels >= MIN_PIXELS


@njit(cache=True, nogil=True)
def _whole_vectors(length):
    """length rounded up to a multiple of VECTOR. The compiler runs a loop VECTOR values at a
    time (4 registers of 8 float32) and the last length % VECTOR values one by one, up to 8x
    slower; the buffers have room for the extra values, which are computed and never used."""
    return -(-length // VECTOR) * VECTOR


@njit(cache=True, nogil=True)
def _pad_into(image, ph, pw, plane):
    """Copy the (H, W) `image` into the inside of the flat padded `plane` (rows of W + 2 * pw
    values, ph rows of padding above), whose padding stays as it is (zeros)."""
    H, W = image.shape
    Wp = W + 2 * pw
    for y in range(H):
        row = plane[(y + ph) * Wp + pw :]
        for x in range(W):
            row[x] = image[y, x]


@njit(cache=True, nogil=True, fastmath={"contract"})
def _forward_planes(x, w, b, ph, pw, dh, dw, out, c0, c1):
    """out[:, k] for the filters k of input channels c0 ... c1 - 1 (out: (N, C * M, OH, OW))."""
    N, C, H, W = x.shape
    K, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    M = K // C
    Wp = W + 2 * pw
    span = _whole_vectors((OH - 1) * Wp + OW)  # output (y, x) at y * Wp + x of the flat plane
    plane = np.zeros((H + 2 * ph) * Wp + VECTOR, x.dtype)  # padded, flat; the border stays 0
    acc = np.empty(span, x.dtype)
    for c in range(c0, c1):
        for n in range(N):
            _pad_into(x[n, c], ph, pw, plane)
            for k in range(c * M, c * M + M):
                w00, w01, w02 = w[k, 0, 0, 0], w[k, 0, 0, 1], w[k, 0, 0, 2]
                w10, w11, w12 = w[k, 0, 1, 0], w[k, 0, 1, 1], w[k, 0, 1, 2]
                w20, w21, w22 = w[k, 0, 2, 0], w[k, 0, 2, 1], w[k, 0, 2, 2]
                t00, t01, t02 = plane, plane[dw:], plane[2 * dw :]
                t10, t11, t12 = plane[dh * Wp :], plane[dh * Wp + dw :], plane[dh * Wp + 2 * dw :]
                t20, t21, t22 = (plane[2 * dh * Wp :], plane[2 * dh * Wp + dw :],
                                 plane[2 * dh * Wp + 2 * dw :])
                for p in range(span):
                    acc[p] = (b[k] + w00 * t00[p] + w01 * t01[p] + w02 * t02[p]
                              + w10 * t10[p] + w11 * t11[p] + w12 * t12[p]
                              + w20 * t20[p] + w21 * t21[p] + w22 * t22[p])
                for y in range(OH):
                    row = acc[y * Wp :]
                    for x_ in range(OW):
                        out[n, k, y, x_] = row[x_]


@njit(cache=True, nogil=True, fastmath={"contract", "reassoc"})
def _backward_planes(dy, x, w, ph, pw, dh, dw, dx, dw_out, db, c0, c1):
    """dx[:, c], and dw_out[k], db[k] of their filters k, for input channels c0 ... c1 - 1.

    dy is laid out in `grad`, a flat plane of the padded input's row length Wp with a border of
    2 * dh zero rows above and 2 * dw zero columns on the left:
        grad[(y + 2 * dh) * Wp + x + 2 * dw] = dy[y, x]
    A dy row (OW = W + 2 * pw - 2 * dw values) then ends exactly at the end of its grad row, so
    every value that a tap reads outside dy (above, below, left or right of it) is a zero of that
    border. The dot products for dw read the same plane from its first dy value on, where
    grad[p] = dy[y, x] at p = y * Wp + x (and 0 between the rows), like the padded input plane.
    (reassoc: the dot products are summed several at a time, in an order that the compiler
    fixes: the same on every run and every number of threads.)
    """
    N, C, H, W = x.shape
    K, OH, OW = dy.shape[1], dy.shape[2], dy.shape[3]
    M = K // C
    Wp = W + 2 * pw
    top, left = 2 * dh, 2 * dw
    plane = np.zeros((H + 2 * ph) * Wp + VECTOR, x.dtype)  # x, padded, flat
    base = (ph + top) * Wp + pw + left  # where input pixel (0, 0)'s tap (0, 0) reads grad
    span = _whole_vectors((OH - 1) * Wp + OW)  # flat positions of dy values
    span_x = _whole_vectors((H - 1) * Wp + W)  # flat positions of input pixels
    grad = np.zeros((OH + 2 * top + 1) * Wp + 2 * VECTOR, x.dtype)  # room past the last row
    acc = np.empty(span_x, x.dtype)
    for c in range(c0, c1):
        for n in range(N):
            _pad_into(x[n, c], ph, pw, plane)
            for k in range(c * M, c * M + M):
                for y in range(OH):
                    row = grad[(y + top) * Wp + left :]
                    for x_ in range(OW):
                        row[x_] = dy[n, k, y, x_]
                # dw and db: sum over p of g[p] * (the padded plane shifted by tap (i, j)).
                g = grad[top * Wp + left :]
                r0, r1, r2 = plane, plane[dh * Wp :], plane[2 * dh * Wp :]
                r00, r01, r02 = r0, r0[dw:], r0[2 * dw :]
                r10, r11, r12 = r1, r1[dw:], r1[2 * dw :]
                r20, r21, r22 = r2, r2[dw:], r2[2 * dw :]
                s00 = s01 = s02 = s10 = s11 = s12 = s20 = s21 = s22 = s_b = dx.dtype.type(0)
                for p in range(span):
                    s_b += g[p]
                    s00 += g[p] * r00[p]
                    s01 += g[p] * r01[p]
                    s02 += g[p] * r02[p]
                    s10 += g[p] * r10[p]
                    s11 += g[p] * r11[p]
                    s12 += g[p] * r12[p]
                    s20 += g[p] * r20[p]
                    s21 += g[p] * r21[p]
                    s22 += g[p] * r22[p]
                db[k] += s_b
                dw_out[k, 0, 0, 0] += s00
                dw_out[k, 0, 0, 1] += s01
                dw_out[k, 0, 0, 2] += s02
                dw_out[k, 0, 1, 0] += s10
                dw_out[k, 0, 1, 1] += s11
                dw_out[k, 0, 1, 2] += s12
                dw_out[k, 0, 2, 0] += s20
                dw_out[k, 0, 2, 1] += s21
                dw_out[k, 0, 2, 2] += s22
                # dx, the gather: tap (i, j) of input pixel (y, x) reads grad at
                # base + y * Wp + x - i * dh * Wp - j * dw.
                w00, w01, w02 = w[k, 0, 0, 0], w[k, 0, 0, 1], w[k, 0, 0, 2]
                w10, w11, w12 = w[k, 0, 1, 0], w[k, 0, 1, 1], w[k, 0, 1, 2]
                w20, w21, w22 = w[k, 0, 2, 0], w[k, 0, 2, 1], w[k, 0, 2, 2]
                g22 = grad[base - 2 * dh * Wp - 2 * dw :]  # tap (2, 2) reads lowest
                g21, g20 = g22[dw:], g22[2 * dw :]
                g12, g11, g10 = g22[dh * Wp :], g22[dh * Wp + dw :], g22[dh * Wp + 2 * dw :]
                g02, g01, g00 = (g22[2 * dh * Wp :], g22[2 * dh * Wp + dw :],
                                 g22[2 * dh * Wp + 2 * dw :])
                for q in range(span_x):  # q = y * Wp + x: input pixel (y, x)
                    acc[q] = (w00 * g00[q] + w01 * g01[q] + w02 * g02[q]
                              + w10 * g10[q] + w11 * g11[q] + w12 * g12[q]
                              + w20 * g20[q] + w21 * g21[q] + w22 * g22[q])
                for y in range(H):
                    row = acc[y * Wp :]
                    if k == c * M:  # the first of channel c's M filters writes, the others add
                        for x_ in range(W):
                            dx[n, c, y, x_] = row[x_]
                    else:
                        for x_ in range(W):
                            dx[n, c, y, x_] += row[x_]


def forward(x, w, b, padding, dilation):
    """The layer's output, out (N, C * M, OH, OW), like `depthwise_conv2d_forward` (validated,
    one dtype, b an array). The channels in parallel."""
    (ph, pw), (dh, dw) = padding, dilation
    x, w, b = (np.ascontiguousarray(a) for a in (x, w, b))  # one compiled layout: C order
    n, c, h, wd = x.shape
    out = np.empty((n, w.shape[0], h + 2 * ph - 2 * dh, wd + 2 * pw - 2 * dw), x.dtype)
    parallel_for(c, lambda c0, c1: _forward_planes(x, w, b, ph, pw, dh, dw, out, c0, c1))
    return out


def backward(dy, x, w, padding, dilation):
    """(dx, dw, db) like `depthwise_conv2d_backward` (validated, one dtype). The channels in
    parallel; each filter's gradient is summed by one thread, whatever the number of threads."""
    (ph, pw), (dh, dw) = padding, dilation
    dy, x, w = (np.ascontiguousarray(a) for a in (dy, x, w))  # one compiled layout: C order
    dx = np.empty_like(x)
    dw_out, db = np.zeros_like(w), np.zeros(w.shape[0], x.dtype)
    parallel_for(x.shape[1], lambda c0, c1: _backward_planes(dy, x, w, ph, pw, dh, dw, dx, dw_out,
                                                             db, c0, c1))
    return dx, dw_out, db
