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

from ._parallel import parallel_for, to_channels_first, to_channels_last

# Rows per block of products: 256 KB of the input with C = 16, float32, so that the nine
# shifted blocks and their sum stay in the processor's cache. Measured (2-core AMD EPYC, C = 16,
# N = 32, 32x32, float32, forward + backward): 17 ms on 1 thread and 14.5 ms on 2 with 4096 or
# 8192 rows, 22 and 19 ms with 2048, against 27 and 22 ms for the im2col GEMM.
BLOCK = 4096
_DW_CHUNKS = 4  # dw is a sum of this many parts (fixed: the same result on any thread count)
_controller = None  # threadpoolctl's handle on the BLAS libraries, made on first use


def _blas_on_one_thread():
    """A context in which BLAS computes each product on its caller's thread only: inside it, the
    blocks of products run on `parallel_for`'s threads, numba.get_num_threads() of them, and no
    BLAS thread competes with them."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


# Measured on 2-core AMD EPYC, float32, one thread (benchmarks/bench.py): shifted products beat
# the im2col GEMM by about 1.5x at C = 16 and C = 32, and lose at C = 3. At C = O = 64 they lose
# on 16x16 images (36 against 30 ms on 2 threads, N = 32), where the padding's rows and columns
# are 27 % extra work, and win on 32x32 ones (13 %): 86 against 114 ms on 2 threads, 146 against
# 161 ms on one (N = 32); there the im2col copy, 9x the input, is what bounds the GEMM path.
MIN_CHANNELS, MAX_CHANNELS = 8, 32
MAX_CHANNELS_LARGE, LARGE_IMAGE = 64, 1024  # up to 64 channels on images of >= 1024 pixels
MIN_PIXELS = 4096  # N * OH * OW below this: a small layer, the GEMM path is as fast


def shifted_products_apply(x_shape, w_shape, stride, padding, dilation, groups):
    """Whether `conv2d_forward_shifted` / `conv2d_backward_shifted` handle this layer.

    Inputs: the shapes (N, C, H, W) and (O, C // groups, KH, KW) and the (h, w) pairs of a
    validated layer. True for groups 1, stride 1, dilation 1, odd kernels larger than 1x1 with
    "same" padding (K - 1) / 2, between MIN_CHANNELS and MAX_CHANNELS input and output channels
    (MAX_CHANNELS_LARGE on images of at least LARGE_IMAGE pixels) and at least MIN_PIXELS
    output pixels in the batch.
    """
    n, c, h, w = x_shape
    o, _, kh, kw = w_shape
    most = MAX_CHANNELS_LARGE if h * w >= LARGE_IMAGE else MAX_CHANNELS
    return (groups == 1 and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and kh % 2 == 1 and kw % 2 == 1 and kh * kw > 1
            and tuple(padding) == ((kh - 1) // 2, (kw - 1) // 2)
            and MIN_CHANNELS <= c <= most and MIN_CHANNELS <= o <= most
            and n * h * w >= MIN_PIXELS)


def _flat_padded(a, ph, pw):
    """(N, C, H, W) -> the zero-padded channels-last grid, flat: an array (N * Hp * Wp, C).
    The images are copied in parallel (`to_channels_last`)."""
    n, c, h, w = a.shape
    grid = np.zeros((n, h + 2 * ph, w + 2 * pw, c), a.dtype)
    to_channels_last(a, grid[:, ph : ph + h, pw : pw + w])
    return grid.reshape(-1, c)


def _to_nchw(grid, h, w, b=None):
    """The (N, H', W', O) channels-last grid's top-left H x W pixels as an (N, O, H, W) array,
    plus the bias b (O,) if given; the images in parallel (`to_channels_first`)."""
    n, o = grid.shape[0], grid.shape[3]
    return to_channels_first(grid[:, :h, :w], np.empty((n, o, h, w), grid.dtype), b)


def _correlate_flat(flat, taps, rows):
    """Rows 0 ... rows - 1 of sum over (shift, matrix) in taps of flat[q + shift] @ matrix.

    Inputs:
    - flat: array (R, C), a flat channels-last grid (`_flat_padded`).
    - taps: list of (shift, matrix (C, O)) pairs, shift + rows <= R.
    - rows: int, how many rows of the result to compute.

    Returns an array (R, O) whose rows from `rows` on are uninitialised. The blocks of BLOCK rows
    run in parallel (`parallel_for`), each product on one thread (`_blas_on_one_thread`): BLAS's
    own threads would split each small product at a cost larger than the product.
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

    with _blas_on_one_thread():
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
    # Output pixel (y, x) sits at grid (y, x); back to NCHW with the bias, in one pass.
    return _to_nchw(out.reshape(n, hp, wp, o), h, wd, b)


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
    dx = _to_nchw(_correlate_flat(grads, taps, rows).reshape(n, hp, wp, c), h, wd)
    # dw[:, :, i, j] = sum over output pixels q of dy[q] outer xpad[q + i * Wp + j]; dy of
    # output pixel (y, x) is grid row q + ph * Wp + pw of `grads`. By blocks of rows as well (in
    # parallel, each block's part of dw summed in the blocks' order, so on any thread count the
    # same result), which keeps the rows each product reads in the cache.
    centre = ph * wp + pw
    shifts = [i * wp + j for i in range(kh) for j in range(kw)]

    def blocks(first, last):  # the part of dw of blocks first ... last - 1, (KH * KW, O, C)
        part = np.zeros((kh * kw, o, c), x.dtype)
        product = np.empty((o, c), x.dtype)
        for start in range(first * BLOCK, min(last * BLOCK, rows), BLOCK):
            stop = min(start + BLOCK, rows)
            dy_rows = grads[centre + start : centre + stop].T  # zero on rows of no pixel
            for t, s in enumerate(shifts):
                np.matmul(dy_rows, flat[start + s : stop + s], out=product)
                part[t] += product
        return part

    with _blas_on_one_thread():
        dw = sum(parallel_for(-(-rows // BLOCK), blocks, chunks=_DW_CHUNKS))
    dw = dw.reshape(kh, kw, o, c)
    return dx, np.ascontiguousarray(dw.transpose(2, 3, 0, 1)), dy.sum(axis=(0, 2, 3))

