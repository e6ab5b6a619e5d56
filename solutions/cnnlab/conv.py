"""Multi-channel 2-D convolution in NCHW layout: forward, im2col/col2im, and backward.

Every public function computes exactly what its PyTorch counterpart does:

| here                     | PyTorch                                               |
| ------------------------ | ----------------------------------------------------- |
| `conv2d_forward`         | `torch.nn.functional.conv2d`                          |
| `conv2d_forward_gemm`    | `torch.nn.functional.conv2d`                          |
| `im2col`                 | `torch.nn.functional.unfold`                          |
| `col2im`                 | `torch.nn.functional.fold`                            |
| `conv2d_backward_input`  | `torch.nn.grad.conv2d_input`                          |
| `conv2d_backward_weight` | `torch.nn.grad.conv2d_weight`                         |
| `conv2d_backward_bias`   | the bias gradient autograd gives, `dy.sum((0, 2, 3))` |
| `conv2d_backward`        | the three gradients autograd gives for `conv2d`       |

The grouped paths (`groups` > 1, chapter 4) run chapters 2-3's kernels once per group.

Like PyTorch (and cs231n), "convolution" here is cross-correlation: the kernel is not flipped.
Shapes: N images, C input channels, O output channels (filters), H x W input, KH x KW kernel,
OH x OW output. `stride`, `padding` and `dilation` are an int or an (h, w) pair.

`groups` (chapter 4) splits the channels as PyTorch's `groups` does: the C inputs and the O
outputs are cut into `groups` equal consecutive blocks, output block g sees input block g only,
and the filters have shape (O, C // groups, KH, KW). groups=1 is the ordinary convolution,
groups=C the depthwise one.

The public functions are Python wrappers that validate, pad with zeros, allocate the output and
call a Numba kernel; the kernels are plain loops that read like the math.
"""

import numpy as np
from numba import njit

from . import _fast
from ._parallel import parallel_for, to_channels_first, to_channels_last
from ._validate import (
    as_float_array,
    as_shape,
    check_backward,
    check_bias,
    check_conv,
    check_gemm,
    common_dtype,
    hyper_pairs,
    output_hw,
    pair,
)

# ----------------------------------------------------------------------------------------------
# Padding (given code; the validation helpers are in `_validate.py`)
# ----------------------------------------------------------------------------------------------


def _pad(x, padding):
    """Zero-pad the last two axes of `x` by padding = (ph, pw) on both sides."""
    ph, pw = padding
    n, c, h, w = x.shape
    xpad = np.zeros((n, c, h + 2 * ph, w + 2 * pw), x.dtype)  # faster than np.pad
    xpad[:, :, ph : ph + h, pw : pw + w] = x
    return xpad


# ----------------------------------------------------------------------------------------------
# Forward pass: direct loops
# ----------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _conv2d_forward_loops(xpad, w, b, sh, sw, dil_h, dil_w, out):
    """Fill `out` with the convolution of the already padded input.

    Inputs:
    - xpad: array (N, C, H + 2 * ph, W + 2 * pw), the zero-padded input.
    - w: array (O, C, KH, KW), the filters.
    - b: array (O,), the biases (zeros when the layer has none).
    - sh, sw: ints, stride along the height and the width.
    - dil_h, dil_w: ints, dilation along the height and the width.
    - out: array (N, O, OH, OW) to fill:
        out[n, o, y, x] = b[o] + sum over c, i, j of
                          w[o, c, i, j] * xpad[n, c, y * sh + i * dil_h, x * sw + j * dil_w]
    """
    N, O, OH, OW = out.shape
    C, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    ### BEGIN SOLUTION
    # The same sum, looped so that the innermost loop walks along a row of the output: memory
    # is read in order, about 1.5x faster (1.05x-1.8x measured, one thread) than summing one
    # output at a time into a local variable (n, o, y, x, then c, i, j).
    for n in range(N):
        for o in range(O):
            out[n, o] = b[o]
            for c in range(C):
                for i in range(KH):
                    for j in range(KW):
                        weight = w[o, c, i, j]
                        for y in range(OH):
                            for x in range(OW):
                                yi = y * sh + i * dil_h  # input pixel under tap (i, j)
                                xj = x * sw + j * dil_w
                                out[n, o, y, x] += weight * xpad[n, c, yi, xj]
    ### END SOLUTION


def _conv2d_forward_grouped(xpad, w, b, groups, stride, dilation, out):
    """Fill `out` with a grouped convolution: `groups` independent convolutions side by side.

    Inputs:
    - xpad: array (N, C, Hp, Wp), the zero-padded input.
    - w: array (O, C // groups, KH, KW), the filters; filters g * O/groups ... (g+1) * O/groups - 1
      form group g.
    - b: array (O,), the biases (zeros when the layer has none).
    - groups: int >= 1 dividing C and O.
    - stride, dilation: (h, w) int pairs.
    - out: array (N, O, OH, OW) to fill. Group g's output channels
      g * O/groups ... (g+1) * O/groups - 1 are the convolution (chapter 2's
      `_conv2d_forward_loops`) of input channels g * C/groups ... (g+1) * C/groups - 1 with the
      filters of group g; they see no other input channel.
    """
    cg, og = xpad.shape[1] // groups, w.shape[0] // groups  # channels per group: in, out
    ### BEGIN SOLUTION
    for g in range(groups):
        inputs, outputs = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
        part = np.zeros_like(out[:, outputs])  # a contiguous (N, O/groups, OH, OW) block
        _conv2d_forward_loops(np.ascontiguousarray(xpad[:, inputs]), w[outputs], b[outputs],
                              *stride, *dilation, part)
        out[:, outputs] = part
    ### END SOLUTION


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Forward pass of a convolutional layer, like `torch.nn.functional.conv2d`.

    Inputs:
    - x: array (N, C, H, W), the input images.
    - w: array (O, C // groups, KH, KW), the filters.
    - b: array (O,) of biases, or None for no bias.
    - stride: int or (sh, sw) >= 1, step between two kernel positions.
    - padding: int or (ph, pw) >= 0, zeros added on both sides of each spatial axis.
    - dilation: int or (dh, dw) >= 1, spacing between kernel taps.
    - groups: int >= 1 dividing C and O; output channel o sees only the C // groups input
      channels of its group g = o // (O // groups).

    Returns out, an array (N, O, OH, OW) with
        OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1  (same for OW), and (for groups=1)
        out[n, o, y, x] = b[o] + sum over c, i, j of
                          w[o, c, i, j] * xpad[n, c, y * sh + i * dh, x * sw + j * dw]
    where xpad is x zero-padded; with groups, c runs over group g's channels only:
    xpad[n, g * C // groups + c, ...] for c < C // groups. float32 inputs give float32, anything
    else float64.
    """
    x, w, stride, padding, dilation, (oh, ow) = check_conv(x, w, stride, padding, dilation,
                                                           groups)
    b = check_bias(b, w)
    dtype = common_dtype(x, w) if b is None else common_dtype(x, w, b)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    b = np.zeros(w.shape[0], dtype) if b is None else b.astype(dtype, copy=False)
    xpad = _pad(x, padding)
    out = np.zeros((x.shape[0], w.shape[0], oh, ow), dtype)
    if groups == 1:
        # One chunk of images per thread.
        parallel_for(len(x), lambda a, z: _conv2d_forward_loops(
            xpad[a:z], w, b, *stride, *dilation, out[a:z]))
    else:
        _conv2d_forward_grouped(xpad, w, b, int(groups), stride, dilation, out)
    return out


# ----------------------------------------------------------------------------------------------
# im2col / col2im and the forward pass as one matrix product
# ----------------------------------------------------------------------------------------------


@njit(cache=True)
def _im2col_kernel(xpad, KH, KW, sh, sw, dil_h, dil_w, OH, OW, cols):
    """Copy every receptive field of the padded input into a column of `cols`.

    Inputs:
    - xpad: array (N, C, Hp, Wp), the zero-padded input.
    - KH, KW: ints, kernel size.
    - sh, sw: ints, stride.
    - dil_h, dil_w: ints, dilation.
    - OH, OW: ints, output size (number of kernel positions along each axis).
    - cols: array (N, C * KH * KW, OH * OW) to fill. Row (c * KH + i) * KW + j, column
      y * OW + x holds xpad[n, c, y * sh + i * dil_h, x * sw + j * dil_w].
    """
    N, C = xpad.shape[0], xpad.shape[1]
    ### BEGIN SOLUTION
    for n in range(N):
        for c in range(C):
            for i in range(KH):
                for j in range(KW):
                    row = (c * KH + i) * KW + j
                    for y in range(OH):
                        for x in range(OW):
                            yi = y * sh + i * dil_h  # input pixel under tap (i, j)
                            xj = x * sw + j * dil_w
                            cols[n, row, y * OW + x] = xpad[n, c, yi, xj]
    ### END SOLUTION


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Unfold every receptive field of `x` into a column, like `torch.nn.functional.unfold`.

    Inputs:
    - x: array (N, C, H, W).
    - kernel_size: int or (KH, KW).
    - stride, padding, dilation: int or (h, w) pair, as for `conv2d_forward`.

    Returns cols, an array (N, C * KH * KW, OH * OW). Column y * OW + x holds the receptive field
    of output pixel (y, x), its rows ordered by channel, then kernel row, then kernel column:
        cols[n, (c * KH + i) * KW + j, y * OW + x] = xpad[n, c, y * sh + i * dh, x * sw + j * dw]
    """
    x = as_float_array(x, "x", 4)
    kh, kw = pair(kernel_size, "kernel_size", minimum=1)
    stride, padding, dilation = hyper_pairs(stride, padding, dilation)
    oh, ow = output_hw(x.shape[2:], (kh, kw), stride, padding, dilation, f"x of shape {x.shape}")
    xpad = _pad(x, padding)
    cols = np.zeros((x.shape[0], x.shape[1] * kh * kw, oh * ow), x.dtype)
    _im2col_kernel(xpad, kh, kw, *stride, *dilation, oh, ow, cols)
    return cols


@njit(cache=True)
def _col2im_kernel(cols, KH, KW, sh, sw, dil_h, dil_w, OH, OW, xpad):
    """Add every column of `cols` back onto the receptive field it came from (im2col reversed).

    Inputs:
    - cols: array (N, C * KH * KW, OH * OW), laid out as `im2col` makes it.
    - KH, KW, sh, sw, dil_h, dil_w, OH, OW: ints, as for `_im2col_kernel`.
    - xpad: array (N, C, Hp, Wp) of zeros, the padded image to accumulate into. Pixels covered
      by several receptive fields receive the sum of all their copies.
    """
    N, C = xpad.shape[0], xpad.shape[1]
    ### BEGIN SOLUTION
    for n in range(N):
        for c in range(C):
            for i in range(KH):
                for j in range(KW):
                    row = (c * KH + i) * KW + j
                    for y in range(OH):
                        for x in range(OW):
                            yi = y * sh + i * dil_h  # input pixel under tap (i, j)
                            xj = x * sw + j * dil_w
                            xpad[n, c, yi, xj] += cols[n, row, y * OW + x]
    ### END SOLUTION


def col2im(cols, input_size, kernel_size, stride=1, padding=0, dilation=1):
    """Fold columns back into images, like `torch.nn.functional.fold` (the adjoint of im2col).

    Inputs:
    - cols: array (N, C * KH * KW, L) with L = OH * OW, laid out as `im2col` makes it.
    - input_size: int or (H, W), the spatial size of the images to rebuild.
    - kernel_size: int or (KH, KW).
    - stride, padding, dilation: int or (h, w) pair, as for `im2col`.

    Returns x, an array (N, C, H, W). Overlapping entries add up, so col2im(im2col(x)) is x times
    the number of receptive fields covering each pixel, not x.
    """
    cols = as_float_array(cols, "cols", 3)
    h, w = pair(input_size, "input_size", minimum=1)
    kh, kw = pair(kernel_size, "kernel_size", minimum=1)
    stride, padding, dilation = hyper_pairs(stride, padding, dilation)
    n, rows, length = cols.shape
    if rows % (kh * kw):
        raise ValueError(
            f"cols of shape {cols.shape} must have C * KH * KW rows, a multiple of "
            f"KH * KW = {kh * kw} for kernel_size {(kh, kw)}"
        )
    oh, ow = output_hw((h, w), (kh, kw), stride, padding, dilation, f"input_size {(h, w)}")
    if length != oh * ow:
        raise ValueError(
            f"cols of shape {cols.shape} must have OH * OW = {oh} * {ow} = {oh * ow} columns "
            f"for input_size {(h, w)}, kernel_size {(kh, kw)}, stride {stride}, "
            f"padding {padding}, dilation {dilation}; got {length}"
        )
    ph, pw = padding
    xpad = np.zeros((n, rows // (kh * kw), h + 2 * ph, w + 2 * pw), cols.dtype)
    _col2im_kernel(cols, kh, kw, *stride, *dilation, oh, ow, xpad)
    return np.ascontiguousarray(xpad[:, :, ph : ph + h, pw : pw + w])


# ----------------------------------------------------------------------------------------------
# The fast path: the windows of the whole batch as the rows of one matrix, channels-last
# ----------------------------------------------------------------------------------------------
# `im2col` makes one (C*KH*KW, OH*OW) matrix per image, laid out like torch's `unfold`: with small
# images that means many small products, and copies along short NCHW rows. The fast path stacks
# the windows of every image as the rows of one matrix per group of channels, channels-last
# (the transpose of im2col's columns, so the math is unchanged):
#
#     rows[g, n, y, x, i, j, c] = xpad[n, y * sh + i * dh, x * sw + j * dw, g * Cg + c]
#
# viewed as a (N*OH*OW, KH*KW*Cg) matrix per group, with xpad the padded input in (N, H, W, C)
# layout. Its innermost copies are runs of Cg neighbouring channels, and one matrix product per
# group then does the whole layer. The kernels run on chunks of the images in parallel
# (`parallel_for`); each image is copied (or accumulated) by one thread.


@njit(cache=True, nogil=True)
def _im2row_kernel(xpad, sh, sw, dil_h, dil_w, rows):
    """Copy every receptive field of the padded channels-last input into a row of `rows`.

    Inputs:
    - xpad: array (N, Hp, Wp, C), the zero-padded input, channels last.
    - sh, sw, dil_h, dil_w: ints, stride and dilation.
    - rows: array (G, N, OH, OW, KH, KW, Cg) to fill, Cg = C // G:
        rows[g, n, y, x, i, j, c] = xpad[n, y * sh + i * dil_h, x * sw + j * dil_w, g * Cg + c]
    """
    G, N, OH, OW, KH, KW, Cg = rows.shape
    ### BEGIN SOLUTION
    for n in range(N):
        for g in range(G):
            for y in range(OH):
                for x in range(OW):
                    for i in range(KH):
                        for j in range(KW):
                            yi = y * sh + i * dil_h  # input pixel under tap (i, j)
                            xj = x * sw + j * dil_w
                            for c in range(Cg):
                                rows[g, n, y, x, i, j, c] = xpad[n, yi, xj, g * Cg + c]
    ### END SOLUTION


def _im2row(x, kernel_hw, stride, padding, dilation, groups, out_hw):
    """The windows of x (N, C, H, W) as G matrices, an array (G, N * OH * OW, KH * KW * Cg).

    Row (n * OH + y) * OW + x of matrix g holds the receptive field of output pixel (y, x) of
    image n in the channels of group g, ordered by kernel row, kernel column, then channel.
    """
    (N, C, H, W), (ph, pw), (oh, ow) = x.shape, padding, out_hw
    xpad = np.zeros((N, H + 2 * ph, W + 2 * pw, C), x.dtype)
    to_channels_last(x, xpad[:, ph : ph + H, pw : pw + W])
    rows = np.empty((groups, N, oh, ow, *kernel_hw, C // groups), x.dtype)
    parallel_for(N, lambda a, z: _im2row_kernel(xpad[a:z], *stride, *dilation, rows[:, a:z]))
    return rows.reshape(groups, N * oh * ow, -1)


def _weight_matrices(w, groups):
    """The filters (O, Cg, KH, KW) as G matrices (G, O // G, KH * KW * Cg), columns ordered like
    the rows of `_im2row` (kernel row, kernel column, channel)."""
    O, Cg, KH, KW = w.shape
    return w.reshape(groups, O // groups, Cg, KH, KW).transpose(0, 1, 3, 4, 2).reshape(
        groups, O // groups, KH * KW * Cg)


def _rows_to_nchw(a, N, OH, OW):
    """(G, N * OH * OW, Og) per-group matrices -> an (N, G * Og, OH, OW) array."""
    G, _, Og = a.shape
    a = a.reshape(G, N, OH, OW, Og)
    out = np.empty((N, G * Og, OH, OW), a.dtype)
    for g in range(G):  # the images in parallel
        to_channels_first(a[g], out[:, g * Og : (g + 1) * Og])
    return out


def _nchw_to_rows(a, groups):
    """(N, G * Og, OH, OW) -> (G, N * OH * OW, Og) per-group matrices (the inverse of
    `_rows_to_nchw`)."""
    N, O, OH, OW = a.shape
    Og = O // groups
    out = np.empty((groups, N, OH, OW, Og), a.dtype)
    for g in range(groups):  # the images in parallel
        to_channels_last(a[:, g * Og : (g + 1) * Og], out[g])
    return out.reshape(groups, N * OH * OW, Og)


def conv2d_forward_gemm(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Forward pass of a convolutional layer as matrix products (im2col + GEMM).

    Same inputs and output as `conv2d_forward`: x (N, C, H, W), w (O, C // groups, KH, KW),
    b (O,) or None; returns out (N, O, OH, OW). With groups = G, the channels split into G groups
    of C // G and the filters into G groups of O // G; filter group g sees only channel group g
    (like `torch.nn.functional.conv2d`; groups = C is a depthwise convolution). Per image, the
    filters reshaped to an (O, C * KH * KW) matrix multiply the (C * KH * KW, OH * OW) im2col
    matrix.
    """
    x, w, stride, padding, dilation, groups, (oh, ow) = check_gemm(
        x, w, stride, padding, dilation, groups)
    b = check_bias(b, w)
    dtype = common_dtype(x, w) if b is None else common_dtype(x, w, b)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    if b is not None:
        b = b.astype(dtype, copy=False)
    N, O, KH, KW = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    ### BEGIN SOLUTION
    chunks = _fast.image_chunks(x.shape, w.shape, stride, groups, (oh, ow), x.itemsize)
    if chunks:  # a few images at a time, the chunks in parallel (their windows stay in cache)
        weights = _weight_matrices(w, 1)[0]  # (O, K)
        out = np.empty((N, O, oh * ow), dtype)

        def images(a, z):  # out[n] = weights · cols[n], cols[n] = rows[n]ᵀ, straight into NCHW
            rows = _im2row(x[a:z], (KH, KW), stride, padding, dilation, 1, (oh, ow))
            np.matmul(weights, rows.reshape(z - a, oh * ow, -1).transpose(0, 2, 1), out=out[a:z])
            if b is not None:
                out[a:z] += b[:, None]

        _fast.run_chunks(N, images, chunks)
        return out.reshape(N, O, oh, ow)
    # The product of the im2col matrix of every image, transposed into rows and stacked, with
    # the filters: one large product per group for the whole batch instead of one per image.
    rows = _im2row(x, (KH, KW), stride, padding, dilation, groups, (oh, ow))  # (G, N*OH*OW, K)
    out = _fast.matmul(rows, _weight_matrices(w, groups).transpose(0, 2, 1))  # (G, N*OH*OW, Og)
    if b is not None:
        out += b.reshape(groups, 1, O // groups)
    return _rows_to_nchw(out, N, oh, ow)
    ### END SOLUTION


# ----------------------------------------------------------------------------------------------
# Backward pass
# ----------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _conv2d_backward_input(dy, w, sh, sw, dil_h, dil_w, dxpad):
    """Accumulate the gradient of the loss with respect to the padded input.

    Inputs:
    - dy: array (N, O, OH, OW), upstream gradient dL/dout.
    - w: array (O, C, KH, KW), the filters.
    - sh, sw, dil_h, dil_w: ints, stride and dilation.
    - dxpad: array (N, C, Hp, Wp) of zeros, to accumulate dL/dxpad into. Every output
      out[n, o, y, x] used xpad[n, c, y * sh + i * dil_h, x * sw + j * dil_w] with weight
      w[o, c, i, j], so that input pixel receives w[o, c, i, j] * dy[n, o, y, x].
    """
    N, O, OH, OW = dy.shape
    C, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    ### BEGIN SOLUTION
    # `+=`, not `=`: with overlapping windows one input pixel feeds several outputs.
    # Innermost loop along a row of dy, so memory is read in order (as in the forward pass).
    for n in range(N):
        for o in range(O):
            for c in range(C):
                for i in range(KH):
                    for j in range(KW):
                        weight = w[o, c, i, j]
                        for y in range(OH):
                            for x in range(OW):
                                yi = y * sh + i * dil_h  # input pixel under tap (i, j)
                                xj = x * sw + j * dil_w
                                dxpad[n, c, yi, xj] += weight * dy[n, o, y, x]
    ### END SOLUTION


def _conv2d_backward_input_grouped(dy, w, groups, stride, dilation, dxpad):
    """Accumulate dL/dxpad of a grouped convolution, one group at a time.

    Inputs:
    - dy: array (N, O, OH, OW), upstream gradient dL/dout.
    - w: array (O, C // groups, KH, KW), the filters.
    - groups: int >= 1 dividing C and O.
    - stride, dilation: (h, w) int pairs.
    - dxpad: array (N, C, Hp, Wp) of zeros, to accumulate dL/dxpad into. Input channels
      g * C/groups ... (g+1) * C/groups - 1 fed only the outputs of group g, so their gradient
      is chapter 3's `_conv2d_backward_input` of dy's group-g channels with group g's filters.
    """
    cg, og = dxpad.shape[1] // groups, w.shape[0] // groups  # channels per group: in, out
    ### BEGIN SOLUTION
    for g in range(groups):
        inputs, outputs = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
        part = np.zeros_like(dxpad[:, inputs])  # a contiguous (N, C/groups, Hp, Wp) block
        _conv2d_backward_input(np.ascontiguousarray(dy[:, outputs]), w[outputs], *stride,
                               *dilation, part)
        dxpad[:, inputs] += part
    ### END SOLUTION


def conv2d_backward_input(dy, x_shape, w, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of a convolution with respect to its input, like `torch.nn.grad.conv2d_input`.

    Inputs:
    - dy: array (N, O, OH, OW), upstream gradient dL/dout of out = conv2d_forward(x, w, b, ...).
    - x_shape: tuple (N, C, H, W), the shape of the forward input x. The input itself is not
      needed (out is linear in x), but its shape is: with stride > 1, several input sizes give
      the same output size.
    - w: array (O, C // groups, KH, KW), the filters of the forward pass.
    - stride, padding, dilation, groups: as in the forward pass.

    Returns dx, an array (N, C, H, W), dL/dx: for groups=1
        dx[n, c, y * sh + i * dh - ph, x * sw + j * dw - pw] += w[o, c, i, j] * dy[n, o, y, x]
    over every n, o, y, x, c, i, j (gradients landing in the padding are dropped); with groups,
    each group's input channels receive the gradient of that group's outputs only.
    float32 inputs give float32, anything else float64.
    """
    x_shape = as_shape(x_shape, "x_shape", "(N, C, H, W)")
    w = as_float_array(w, "w", 4)
    dy, stride, padding, dilation = check_backward(dy, x_shape, w.shape, stride, padding,
                                                   dilation, groups)
    dtype = common_dtype(dy, w)
    dy, w = dy.astype(dtype, copy=False), w.astype(dtype, copy=False)
    (ph, pw), (n, c, h, wd) = padding, x_shape
    dxpad = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype)
    if groups == 1:
        # One chunk of images per thread: each adds into its own images only.
        parallel_for(n, lambda a, z: _conv2d_backward_input(
            dy[a:z], w, *stride, *dilation, dxpad[a:z]))
    else:
        _conv2d_backward_input_grouped(dy, w, int(groups), stride, dilation, dxpad)
    return np.ascontiguousarray(dxpad[:, :, ph : ph + h, pw : pw + wd])


@njit(cache=True, nogil=True)
def _conv2d_backward_weight(dy, xpad, sh, sw, dil_h, dil_w, dw_out):
    """Accumulate the gradient of the loss with respect to the filters.

    Inputs:
    - dy: array (N, O, OH, OW), upstream gradient dL/dout.
    - xpad: array (N, C, Hp, Wp), the zero-padded input of the forward pass.
    - sh, sw, dil_h, dil_w: ints, stride and dilation.
    - dw_out: array (O, C, KH, KW) of zeros, to accumulate dL/dw into:
        dw_out[o, c, i, j] = sum over n, y, x of
                             dy[n, o, y, x] * xpad[n, c, y * sh + i * dil_h, x * sw + j * dil_w]
    """
    N, O, OH, OW = dy.shape
    C, KH, KW = dw_out.shape[1], dw_out.shape[2], dw_out.shape[3]
    ### BEGIN SOLUTION
    # Every output position (n, y, x) adds its share to each weight; the innermost loop walks
    # along a row of dy so that memory is read in order.
    for n in range(N):
        for o in range(O):
            for c in range(C):
                for i in range(KH):
                    for j in range(KW):
                        total = dw_out.dtype.type(0)
                        for y in range(OH):
                            for x in range(OW):
                                yi = y * sh + i * dil_h  # input pixel under tap (i, j)
                                xj = x * sw + j * dil_w
                                total += dy[n, o, y, x] * xpad[n, c, yi, xj]
                        dw_out[o, c, i, j] += total
    ### END SOLUTION


def _conv2d_backward_weight_grouped(dy, xpad, groups, stride, dilation, dw_out):
    """Accumulate dL/dw of a grouped convolution, one group at a time.

    Inputs:
    - dy: array (N, O, OH, OW), upstream gradient dL/dout.
    - xpad: array (N, C, Hp, Wp), the zero-padded input of the forward pass.
    - groups: int >= 1 dividing C and O.
    - stride, dilation: (h, w) int pairs.
    - dw_out: array (O, C // groups, KH, KW) of zeros, to accumulate dL/dw into. The filters of
      group g only ever met input channels g * C/groups ... (g+1) * C/groups - 1, so their
      gradient is chapter 3's `_conv2d_backward_weight` of dy's group-g channels with those.
    """
    cg, og = xpad.shape[1] // groups, dw_out.shape[0] // groups  # channels per group: in, out
    ### BEGIN SOLUTION
    for g in range(groups):
        inputs, outputs = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
        part = np.zeros_like(dw_out[outputs])  # (O/groups, C/groups, KH, KW)
        _conv2d_backward_weight(np.ascontiguousarray(dy[:, outputs]),
                                np.ascontiguousarray(xpad[:, inputs]), *stride, *dilation, part)
        dw_out[outputs] += part
    ### END SOLUTION


def conv2d_backward_weight(dy, x, w_shape, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of a convolution with respect to its filters, like `torch.nn.grad.conv2d_weight`.

    Inputs:
    - dy: array (N, O, OH, OW), upstream gradient dL/dout of out = conv2d_forward(x, w, b, ...).
    - x: array (N, C, H, W), the input of the forward pass.
    - w_shape: tuple (O, C // groups, KH, KW), the shape of the filters (their values are not
      needed).
    - stride, padding, dilation, groups: as in the forward pass.

    Returns dw, an array (O, C // groups, KH, KW), dL/dw: for groups=1
        dw[o, c, i, j] = sum over n, y, x of dy[n, o, y, x] * xpad[n, c, y * sh + i * dh,
                                                                   x * sw + j * dw]
    where xpad is x zero-padded; with groups, filter o correlates with its group's input
    channels only. float32 inputs give float32, anything else float64.
    """
    x = as_float_array(x, "x", 4)
    w_shape = as_shape(w_shape, "w_shape", "(O, C // groups, KH, KW)")
    dy, stride, padding, dilation = check_backward(dy, x.shape, w_shape, stride, padding,
                                                   dilation, groups)
    dtype = common_dtype(dy, x)
    dy, x = dy.astype(dtype, copy=False), x.astype(dtype, copy=False)
    xpad = _pad(x, padding)
    dw = np.zeros(w_shape, dtype)
    if groups == 1:
        # One chunk of filters per thread: each sums over every image into its own filters only.
        # The chunk of dy is copied to a contiguous array, so that Numba compiles the kernel for
        # one memory layout only, whatever N and the number of threads (a slice dy[:, a:z] is
        # contiguous for N = 1 only, and each layout is a compilation of its own).
        parallel_for(w_shape[0], lambda a, z: _conv2d_backward_weight(
            np.ascontiguousarray(dy[:, a:z]), xpad, *stride, *dilation, dw[a:z]))
    else:
        _conv2d_backward_weight_grouped(dy, xpad, int(groups), stride, dilation, dw)
    return dw


def _conv2d_backward_bias(dy):
    """Gradient of the loss with respect to the biases.

    Inputs:
    - dy: array (N, O, OH, OW), upstream gradient dL/dout.

    Returns db, an array (O,): b[o] is added to every out[n, o, y, x], so db[o] is the sum of
    dy[n, o, y, x] over n, y and x.
    """
    ### BEGIN SOLUTION
    return dy.sum(axis=(0, 2, 3))
    ### END SOLUTION


def conv2d_backward_bias(dy):
    """Gradient of a convolution with respect to its biases (what autograd gives for `b`).

    Inputs:
    - dy: array (N, O, OH, OW), upstream gradient dL/dout of out = conv2d_forward(x, w, b, ...).

    Returns db, an array (O,) of dy's float dtype: db[o] = sum over n, y, x of dy[n, o, y, x].
    """
    dy = as_float_array(dy, "dy", 4)
    return _conv2d_backward_bias(dy)


def conv2d_backward(dy, x, w, stride=1, padding=0, dilation=1, groups=1):
    """Backward pass of a convolutional layer: the gradients autograd gives for `conv2d`.

    Inputs:
    - dy: array (N, O, OH, OW), upstream gradient dL/dout of out = conv2d_forward(x, w, b, ...).
    - x: array (N, C, H, W), the input of the forward pass.
    - w: array (O, C // groups, KH, KW), the filters of the forward pass.
    - stride, padding, dilation, groups: as in the forward pass.

    Returns a tuple of (all three of the float dtype common to dy, x and w):
    - dx: array (N, C, H, W), dL/dx (`conv2d_backward_input`).
    - dw: array (O, C // groups, KH, KW), dL/dw (`conv2d_backward_weight`).
    - db: array (O,), dL/db (`conv2d_backward_bias`; the bias does not change any gradient, so
      it is not an input).
    """
    x, w, stride, padding, dilation, _ = check_conv(x, w, stride, padding, dilation, groups)
    dy, *_ = check_backward(dy, x.shape, w.shape, stride, padding, dilation, groups)
    dtype = common_dtype(dy, x, w)
    dy, x, w = (a.astype(dtype, copy=False) for a in (dy, x, w))
    dx = conv2d_backward_input(dy, x.shape, w, stride, padding, dilation, groups)
    dw = conv2d_backward_weight(dy, x, w.shape, stride, padding, dilation, groups)
    db = conv2d_backward_bias(dy)
    return dx, dw, db


# ----------------------------------------------------------------------------------------------
# Backward pass as matrix products: the transpose of the im2col forward
# ----------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _row2im_kernel(rows, sh, sw, dil_h, dil_w, xpad):
    """Add every row of `rows` back onto the receptive field it came from (`_im2row_kernel`
    reversed).

    Inputs:
    - rows: array (G, N, OH, OW, KH, KW, Cg), laid out as `_im2row_kernel` makes it.
    - sh, sw, dil_h, dil_w: ints, stride and dilation.
    - xpad: array (N, Hp, Wp, G * Cg) of zeros, the padded channels-last image to accumulate
      into. Pixels covered by several receptive fields receive the sum of all their copies.
    """
    G, N, OH, OW, KH, KW, Cg = rows.shape
    ### BEGIN SOLUTION
    for n in range(N):
        for g in range(G):
            for y in range(OH):
                for x in range(OW):
                    for i in range(KH):
                        for j in range(KW):
                            yi = y * sh + i * dil_h  # input pixel under tap (i, j)
                            xj = x * sw + j * dil_w
                            for c in range(Cg):
                                xpad[n, yi, xj, g * Cg + c] += rows[g, n, y, x, i, j, c]
    ### END SOLUTION


def _row2im(rows, x_shape, kernel_hw, stride, padding, dilation, out_hw):
    """Fold G window matrices (G, N * OH * OW, KH * KW * Cg) back into an (N, C, H, W) array:
    the adjoint of `_im2row` (overlapping windows add up)."""
    (N, C, H, W), (ph, pw), (oh, ow) = x_shape, padding, out_hw
    G = rows.shape[0]
    rows = rows.reshape(G, N, oh, ow, *kernel_hw, C // G)
    xpad = np.zeros((N, H + 2 * ph, W + 2 * pw, C), rows.dtype)
    # One chunk of images per thread: no two threads add into the same pixel.
    parallel_for(N, lambda a, z: _row2im_kernel(rows[:, a:z], *stride, *dilation, xpad[a:z]))
    return to_channels_first(xpad[:, ph : ph + H, pw : pw + W], np.empty(x_shape, rows.dtype))


def conv2d_backward_gemm(dy, x, w, stride=1, padding=0, dilation=1, groups=1):
    """Backward pass of a convolutional layer as matrix products: the gradients autograd gives
    for `conv2d`, as `conv2d_backward` computes them, for any `groups`.

    The forward pass is out = W · cols per image (W the (O, C * KH * KW) filter matrix, cols the
    (C * KH * KW, OH * OW) im2col matrix, dY the (O, OH * OW) gradient of out), so
        dW = sum over the images of dY · colsᵀ,   dcols = Wᵀ · dY,   dx = col2im(dcols),
    and with groups, each group of filters and channels on its own.

    Inputs:
    - dy: array (N, O, OH, OW), upstream gradient dL/dout of
      out = conv2d_forward_gemm(x, w, b, stride, padding, dilation, groups).
    - x: array (N, C, H, W), the input of the forward pass.
    - w: array (O, C // groups, KH, KW), the filters of the forward pass.
    - stride, padding, dilation: int or (h, w) pair, as in the forward pass.
    - groups: int >= 1 dividing C and O, as in the forward pass.

    Returns a tuple (dx, dw, db) of arrays (N, C, H, W), (O, C // groups, KH, KW) and (O,), all
    of the float dtype common to dy, x and w.
    """
    x, w, stride, padding, dilation, groups, (oh, ow) = check_gemm(
        x, w, stride, padding, dilation, groups)
    dy = as_float_array(dy, "dy", 4)
    if dy.shape != (x.shape[0], w.shape[0], oh, ow):
        raise ValueError(
            f"dy must have the forward output's shape {(x.shape[0], w.shape[0], oh, ow)} (x of "
            f"shape {x.shape}, w of shape {w.shape}, stride {stride}, padding {padding}, "
            f"dilation {dilation}, groups {groups}), got shape {dy.shape}"
        )
    dtype = common_dtype(dy, x, w)
    dy, x, w = (a.astype(dtype, copy=False) for a in (dy, x, w))
    KH, KW = w.shape[2], w.shape[3]
    ### BEGIN SOLUTION
    chunks = _fast.image_chunks(x.shape, w.shape, stride, groups, (oh, ow), x.itemsize)
    if chunks:  # a few images at a time, the chunks in parallel (their windows stay in cache)
        weights = _weight_matrices(w, 1)[0]  # (O, K)
        O, dx = w.shape[0], np.empty(x.shape, dtype)

        def images(a, z):  # dx of images a ... z - 1; returns their parts of dW and db
            rows = _im2row(x[a:z], (KH, KW), stride, padding, dilation, 1, (oh, ow))[0]
            # dY of the chunk as one (O, n * OH*OW) matrix, its pixels in the order of rows'
            grads = np.ascontiguousarray(dy[a:z].reshape(z - a, O, -1).transpose(1, 0, 2))
            grads = grads.reshape(O, -1)
            dw_part = grads @ rows  # the sum over the chunk's images of dY[n] · cols[n]ᵀ
            drows = np.matmul(grads.T, weights, out=rows)  # dcols[n]ᵀ of every image
            dx[a:z] = _row2im(drows[None], dx[a:z].shape, (KH, KW), stride, padding, dilation,
                              (oh, ow))
            return dw_part, grads.sum(axis=1)

        dw_parts, db_parts = zip(*_fast.run_chunks(x.shape[0], images, chunks), strict=True)
        dw = sum(dw_parts).reshape(O, KH, KW, w.shape[1]).transpose(0, 3, 1, 2)
        return dx, np.ascontiguousarray(dw), sum(db_parts)  # parts summed in the chunks' order
    # The im2col columns of every image, transposed into rows and stacked (as in the forward
    # pass): rows = colsᵀ, and dY as matching (N*OH*OW, O // G) matrices, so the three formulas
    # become dW = dYᵀ · rows, drows = dY · W and dx = row2im(drows), one product per group.
    rows = _im2row(x, (KH, KW), stride, padding, dilation, groups, (oh, ow))  # (G, N*OH*OW, K)
    dy_rows = _nchw_to_rows(dy, groups)  # (G, N*OH*OW, O // G)
    dw = _fast.matmul(dy_rows.transpose(0, 2, 1), rows)  # (G, O // G, K)
    # (G, N*OH*OW, K), written over `rows`, which is no longer needed (saves a large allocation)
    drows = _fast.matmul(dy_rows, _weight_matrices(w, groups), out=rows)
    dx = _row2im(drows, x.shape, (KH, KW), stride, padding, dilation, (oh, ow))
    dw = dw.reshape(w.shape[0], KH, KW, w.shape[1]).transpose(0, 3, 1, 2)
    db = dy.sum(axis=(0, 2, 3))
    return dx, np.ascontiguousarray(dw), db
    ### END SOLUTION
