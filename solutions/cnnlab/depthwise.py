"""Chapter 4 — 1x1, depthwise and depthwise-separable convolutions (NCHW, PyTorch semantics).

| here                         | PyTorch                                                      |
| ---------------------------- | ------------------------------------------------------------ |
| `pointwise_conv2d_forward`   | `conv2d(x, w, b)` with a 1x1 kernel, w (O, C, 1, 1)          |
| `depthwise_conv2d_forward`   | `conv2d(x, w, b, stride, padding, dilation, groups=C)`       |
| `separable_conv2d_forward`   | depthwise `conv2d(..., groups=C)`, then a 1x1 `conv2d`       |
| `*_backward`                 | the gradients autograd gives for the same layer              |

A **pointwise** (1x1) convolution mixes the channels at every pixel and nothing else: it is one
fully connected layer, the same (O, C) matrix, applied to the C-vector of every pixel.

A **depthwise** convolution filters every channel on its own: input channel c gets M filters (the
channel multiplier), and its M output channels are c * M, ..., c * M + M - 1 (PyTorch's order, by
input channel). The filters have shape (C * M, 1, KH, KW):

    out[n, c * M + m, y, x] = b[c * M + m] + sum over i, j of
                              w[c * M + m, 0, i, j] * xpad[n, c, y * sh + i * dh, x * sw + j * dw]

A **depthwise-separable** convolution (Xception, MobileNet) is a depthwise convolution followed by
a pointwise one: the spatial filtering and the channel mixing of a standard convolution, done
one after the other at a fraction of the cost.

The depthwise kernels are dedicated loops (not the general grouped path of `cnnlab.conv`), one
(image, channel) plane at a time, with a fast path for stride 1 that runs every kernel tap as one
long loop over the flattened padded plane. The wrappers run the kernels on chunks of the batch in
parallel (`parallel_for`; the kernels release Python's GIL); the chunks are fixed by the input,
not by the number of cores, so the result is the same on any machine.
"""

import numpy as np
from numba import njit

from ._parallel import parallel_for
from ._validate import (
    as_float_array,
    check_backward,
    check_bias,
    check_depthwise,
    common_dtype,
    pointwise_weights,
)
from .conv import _pad

# ----------------------------------------------------------------------------------------------
# Pointwise (1x1) convolution: one matrix product over the channels at every pixel
# ----------------------------------------------------------------------------------------------


def pointwise_conv2d_forward(x, w, b=None):
    """Forward pass of a 1x1 convolution, like `conv2d(x, w, b)` with w of shape (O, C, 1, 1).

    Inputs:
    - x: array (N, C, H, W), the input images.
    - w: array (O, C, 1, 1) or (O, C), the weights: output channel o is the weighted sum
      sum over c of w[o, c] * x[n, c, y, x] at every pixel (y, x).
    - b: array (O,) of biases, or None for no bias.

    Returns out, an array (N, O, H, W):
        out[n, :, y, x] = w @ x[n, :, y, x] + b
    the same fully connected layer applied to the C-vector of every pixel, computed as one matrix
    product (O, C) @ (C, H * W) per image. float32 inputs give float32, anything else float64.
    """
    x = as_float_array(x, "x", 4)
    w = pointwise_weights(w, x.shape[1])
    b = check_bias(b, w)
    dtype = common_dtype(x, w) if b is None else common_dtype(x, w, b)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    if b is not None:
        b = b.astype(dtype, copy=False)
    N, C, H, W = x.shape
    O = w.shape[0]
    ### BEGIN SOLUTION
    pixels = x.reshape(N, C, H * W)  # every column is the channel vector of one pixel
    out = w @ pixels  # (O, C) @ (N, C, H*W) -> (N, O, H*W)
    if b is not None:
        out += b[:, None]
    return out.reshape(N, O, H, W)
    ### END SOLUTION


def pointwise_conv2d_backward(dy, x, w):
    """Backward pass of a 1x1 convolution: the gradients autograd gives for its x, w and b.

    Inputs:
    - dy: array (N, O, H, W), upstream gradient dL/dout of out = pointwise_conv2d_forward(x, w, b).
    - x: array (N, C, H, W), the input of the forward pass.
    - w: array (O, C, 1, 1) or (O, C), the weights of the forward pass.

    Returns a tuple (dx, dw, db) of the float dtype common to dy, x and w:
    - dx: array (N, C, H, W), dL/dx = w.T @ dy at every pixel;
    - dw: array of w's shape, dL/dw = sum over images of dy (O, H*W) @ x.T (H*W, C);
    - db: array (O,), dL/db = dy summed over the images and the pixels.
    """
    x = as_float_array(x, "x", 4)
    w_shape = np.shape(w)
    w = pointwise_weights(w, x.shape[1])
    dy = as_float_array(dy, "dy", 4)
    N, C, H, W = x.shape
    O = w.shape[0]
    if dy.shape != (N, O, H, W):
        raise ValueError(
            f"dy must have the forward output's shape {(N, O, H, W)} (x of shape {x.shape}, w of "
            f"shape {w_shape}), got shape {dy.shape}"
        )
    dtype = common_dtype(dy, x, w)
    dy, x, w = (a.astype(dtype, copy=False) for a in (dy, x, w))
    ### BEGIN SOLUTION
    grads = dy.reshape(N, O, H * W)
    pixels = x.reshape(N, C, H * W)
    dx = (w.T @ grads).reshape(N, C, H, W)  # (C, O) @ (N, O, H*W): each input feeds every output
    dw = (grads @ pixels.transpose(0, 2, 1)).sum(axis=0)  # (O, C), summed over the images
    db = grads.sum(axis=(0, 2))
    ### END SOLUTION
    return dx, dw.reshape(w_shape), db


# ----------------------------------------------------------------------------------------------
# Depthwise convolution: every channel filtered on its own
# ----------------------------------------------------------------------------------------------

# The wrappers run the kernels on chunks of images, in parallel (`parallel_for`), and pad each
# chunk just before its kernel reads it, so that the padded copy is still in the processor's
# cache. The number of chunks depends on the input only (chunks of at most about CHUNK_BYTES of
# padded input, and at least MIN_CHUNKS of them, so that 2 or 4 cores share the work evenly),
# never on the number of cores, so dw, a sum of one part per chunk, is the same on any machine.
# Measured (1 thread, float32, (32, 64, 32, 32) and (32, 128, 16, 16)): 1 MB chunks make the
# backward pass 20-30 % slower than 4 MB ones (every chunk's dw kernel ends with a sum per
# filter), one chunk for the whole batch 5-10 % slower.
CHUNK_BYTES = 1 << 22
MIN_CHUNKS = 4


def _image_chunks(xpad_shape, itemsize):
    """How many chunks of images to cut a batch of padded shape (N, C, Hp, Wp) into."""
    n, c, hp, wp = xpad_shape
    per_chunk = max(1, CHUNK_BYTES // (c * hp * wp * itemsize))  # images per chunk
    return min(n, max(MIN_CHUNKS, -(-n // per_chunk)))


@njit(cache=True, nogil=True)
def _depthwise_forward_kernel(xpad, w, b, sh, sw, dil_h, dil_w, out):
    """Fill `out` with the depthwise convolution of the already padded input.

    Inputs:
    - xpad: array (N, C, Hp, Wp), the zero-padded input.
    - w: array (C * M, 1, KH, KW), the filters: M per input channel.
    - b: array (C * M,), the biases (zeros when the layer has none).
    - sh, sw, dil_h, dil_w: ints, stride and dilation.
    - out: array (N, C * M, OH, OW) to fill. Output channel k = c * M + m filters input channel
      c = k // M only:
        out[n, k, y, x] = b[k] + sum over i, j of
                          w[k, 0, i, j] * xpad[n, k // M, y * sh + i * dil_h, x * sw + j * dil_w]
    """
    N, K, OH, OW = out.shape
    C, KH, KW = xpad.shape[1], w.shape[2], w.shape[3]
    M = K // C  # channel multiplier
    ### BEGIN SOLUTION
    # One (image, input channel) plane at a time: it gives the M output planes of that channel.
    Hp, Wp = xpad.shape[2], xpad.shape[3]
    span = (OH - 1) * Wp + OW  # stride 1: output (y, x) sits at y * Wp + x of the flat plane
    for nc in range(N * C):
        n, c = nc // C, nc % C
        for m in range(M):
            k = c * M + m  # the M outputs of input channel c are adjacent (PyTorch's order)
            if sh == 1 and sw == 1:
                # The fast path for stride 1, the same sums. In the flattened padded plane, tap
                # (i, j) of output (y, x) is at (y * Wp + x) + (i * dil_h * Wp + j * dil_w): one
                # shift for the whole plane, so each tap is one long loop that reads memory in
                # order. The Wp - OW positions between two output rows are computed, then dropped.
                plane = xpad[n, c].reshape(Hp * Wp)
                acc = np.full(span, b[k])
                for i in range(KH):
                    for j in range(KW):
                        weight = w[k, 0, i, j]
                        taps = plane[i * dil_h * Wp + j * dil_w :]
                        for p in range(span):
                            acc[p] += weight * taps[p]
                for y in range(OH):
                    for x in range(OW):
                        out[n, k, y, x] = acc[y * Wp + x]
            else:
                out[n, k] = b[k]
                for i in range(KH):
                    for j in range(KW):
                        weight = w[k, 0, i, j]
                        for y in range(OH):
                            for x in range(OW):
                                yi = y * sh + i * dil_h  # input pixel under tap (i, j)
                                xj = x * sw + j * dil_w
                                out[n, k, y, x] += weight * xpad[n, c, yi, xj]
    ### END SOLUTION


def depthwise_conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """Forward pass of a depthwise convolution, like `conv2d(x, w, b, ..., groups=C)`.

    Inputs:
    - x: array (N, C, H, W), the input images.
    - w: array (C * M, 1, KH, KW), M filters (the channel multiplier) for every input channel.
    - b: array (C * M,) of biases, or None for no bias.
    - stride, padding, dilation: int or (h, w) pair, as in `conv.conv2d_forward`.

    Returns out, an array (N, C * M, OH, OW), ordered by input channel: channels c * M ... c * M +
    M - 1 are input channel c filtered by its M filters,
        out[n, c * M + m, y, x] = b[c * M + m] + sum over i, j of
            w[c * M + m, 0, i, j] * xpad[n, c, y * sh + i * dh, x * sw + j * dw]
    float32 inputs give float32, anything else float64.
    """
    x, w, stride, padding, dilation, (oh, ow) = check_depthwise(x, w, stride, padding, dilation)
    b = check_bias(b, w)
    dtype = common_dtype(x, w) if b is None else common_dtype(x, w, b)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    b = np.zeros(w.shape[0], dtype) if b is None else b.astype(dtype, copy=False)
    ### BEGIN REFERENCE ONLY
    from . import _fast_depthwise  # the reference's fast path for 3x3, stride 1 (in cache)

    if _fast_depthwise.fused_planes_apply(w.shape, stride, x.shape[0], (oh, ow)):
        return _fast_depthwise.forward(x, w, b, padding, dilation)
    ### END REFERENCE ONLY
    (ph, pw), (n, c, h, wd) = padding, x.shape
    out = np.empty((n, w.shape[0], oh, ow), dtype)

    def run(start, stop):  # images start ... stop - 1, padded here; out[start:stop] is contiguous
        xpad = _pad(x[start:stop], padding)
        _depthwise_forward_kernel(xpad, w, b, *stride, *dilation, out[start:stop])

    parallel_for(n, run, _image_chunks((n, c, h + 2 * ph, wd + 2 * pw), x.itemsize))
    return out


@njit(cache=True, nogil=True)
def _depthwise_backward_input_kernel(dy, w, sh, sw, dil_h, dil_w, dxpad):
    """Accumulate dL/dxpad of a depthwise convolution.

    Inputs:
    - dy: array (N, C * M, OH, OW), upstream gradient dL/dout.
    - w: array (C * M, 1, KH, KW), the filters.
    - sh, sw, dil_h, dil_w: ints, stride and dilation.
    - dxpad: array (N, C, Hp, Wp) of zeros, to accumulate into. Input channel c fed only its own
      M outputs k = c * M + m, so it receives w[k, 0, i, j] * dy[n, k, y, x] at
      (y * sh + i * dil_h, x * sw + j * dil_w) from each of them, and nothing from the others.
    """
    N, K, OH, OW = dy.shape
    C, KH, KW = dxpad.shape[1], w.shape[2], w.shape[3]
    M = K // C
    ### BEGIN SOLUTION
    Hp, Wp = dxpad.shape[2], dxpad.shape[3]
    span = (OH - 1) * Wp + OW  # stride 1: output (y, x) sits at y * Wp + x of the flat plane
    for nc in range(N * C):  # plane (n, c) of dxpad collects the gradient of its M outputs
        n, c = nc // C, nc % C
        for m in range(M):
            k = c * M + m
            if sh == 1 and sw == 1:
                # The fast path for stride 1 (see the forward kernel): dy laid out like the flat
                # padded plane, with zeros between its rows, scattered by one shift per tap.
                grad = np.zeros(span, dxpad.dtype)
                for y in range(OH):
                    for x in range(OW):
                        grad[y * Wp + x] = dy[n, k, y, x]
                plane = dxpad[n, c].reshape(Hp * Wp)  # a view: += writes into dxpad
                for i in range(KH):
                    for j in range(KW):
                        weight = w[k, 0, i, j]
                        taps = plane[i * dil_h * Wp + j * dil_w :]
                        for p in range(span):
                            taps[p] += weight * grad[p]
            else:
                for i in range(KH):
                    for j in range(KW):
                        weight = w[k, 0, i, j]
                        for y in range(OH):
                            for x in range(OW):
                                yi = y * sh + i * dil_h  # input pixel under tap (i, j)
                                xj = x * sw + j * dil_w
                                dxpad[n, c, yi, xj] += weight * dy[n, k, y, x]
    ### END SOLUTION


@njit(cache=True, nogil=True)
def _depthwise_backward_weight_kernel(dy, xpad, sh, sw, dil_h, dil_w, dw_out):
    """Accumulate dL/dw of a depthwise convolution.

    Inputs:
    - dy: array (N, C * M, OH, OW), upstream gradient dL/dout.
    - xpad: array (N, C, Hp, Wp), the zero-padded input of the forward pass.
    - sh, sw, dil_h, dil_w: ints, stride and dilation.
    - dw_out: array (C * M, 1, KH, KW) of zeros, to accumulate into. Filter k = c * M + m only
      ever met input channel c:
        dw_out[k, 0, i, j] = sum over n, y, x of
            dy[n, k, y, x] * xpad[n, k // M, y * sh + i * dil_h, x * sw + j * dil_w]
    """
    N, K, OH, OW = dy.shape
    C, KH, KW = xpad.shape[1], dw_out.shape[2], dw_out.shape[3]
    M = K // C
    ### BEGIN SOLUTION
    Hp, Wp = xpad.shape[2], xpad.shape[3]
    span = (OH - 1) * Wp + OW  # stride 1: output (y, x) sits at y * Wp + x of the flat plane
    for c in range(C):  # the M filters of channel c met that channel only
        for m in range(M):
            k = c * M + m
            if sh == 1 and sw == 1:
                # The fast path for stride 1 (see the forward kernel). One partial sum per tap
                # and position of the flat plane, accumulated over the images (elementwise adds,
                # which the processor does several at a time), added up at the end.
                acc = np.zeros((KH, KW, span), dw_out.dtype)
                grad = np.zeros(span, dw_out.dtype)
                for n in range(N):
                    for y in range(OH):
                        for x in range(OW):
                            grad[y * Wp + x] = dy[n, k, y, x]
                    plane = xpad[n, c].reshape(Hp * Wp)
                    for i in range(KH):
                        for j in range(KW):
                            partial = acc[i, j]
                            taps = plane[i * dil_h * Wp + j * dil_w :]
                            for p in range(span):
                                partial[p] += grad[p] * taps[p]
                for i in range(KH):
                    for j in range(KW):
                        dw_out[k, 0, i, j] += acc[i, j].sum()
            else:
                for n in range(N):
                    for i in range(KH):
                        for j in range(KW):
                            total = dw_out.dtype.type(0)
                            for y in range(OH):
                                for x in range(OW):
                                    yi = y * sh + i * dil_h  # input pixel under tap (i, j)
                                    xj = x * sw + j * dil_w
                                    total += dy[n, k, y, x] * xpad[n, c, yi, xj]
                            dw_out[k, 0, i, j] += total
    ### END SOLUTION


def depthwise_conv2d_backward(dy, x, w, stride=1, padding=0, dilation=1):
    """Backward pass of a depthwise convolution: the gradients autograd gives for its x, w, b.

    Inputs:
    - dy: array (N, C * M, OH, OW), upstream gradient dL/dout of
      out = depthwise_conv2d_forward(x, w, b, stride, padding, dilation).
    - x: array (N, C, H, W), the input of the forward pass.
    - w: array (C * M, 1, KH, KW), the filters of the forward pass.
    - stride, padding, dilation: int or (h, w) pair, as in the forward pass.

    Returns a tuple (dx, dw, db) of the float dtype common to dy, x and w:
    - dx: array (N, C, H, W), dL/dx: channel c collects the gradient of its own M outputs only;
    - dw: array (C * M, 1, KH, KW), dL/dw: filter c * M + m correlates input channel c with the
      gradient of its output;
    - db: array (C * M,), dL/db, dy summed over the images and the pixels.
    """
    x, w, stride, padding, dilation, _ = check_depthwise(x, w, stride, padding, dilation)
    dy, *_ = check_backward(dy, x.shape, w.shape, stride, padding, dilation, x.shape[1])
    dtype = common_dtype(dy, x, w)
    dy, x, w = (a.astype(dtype, copy=False) for a in (dy, x, w))
    ### BEGIN REFERENCE ONLY
    from . import _fast_depthwise  # the reference's fast path for 3x3, stride 1 (in cache)

    if _fast_depthwise.fused_planes_apply(w.shape, stride, dy.shape[0], dy.shape[2:]):
        return _fast_depthwise.backward(dy, x, w, padding, dilation)
    ### END REFERENCE ONLY
    (ph, pw), (n, c, h, wd) = padding, x.shape
    dx = np.empty_like(x)

    def run(start, stop):  # dx of images start ... stop - 1, and their part of dw
        dy_part, xpad = dy[start:stop], _pad(x[start:stop], padding)
        dxpad = np.zeros_like(xpad)
        _depthwise_backward_input_kernel(dy_part, w, *stride, *dilation, dxpad)
        dx[start:stop] = dxpad[:, :, ph : ph + h, pw : pw + wd]
        dw_part = np.zeros_like(w)
        _depthwise_backward_weight_kernel(dy_part, xpad, *stride, *dilation, dw_part)
        return dw_part

    parts = parallel_for(n, run, _image_chunks((n, c, h + 2 * ph, wd + 2 * pw), x.itemsize))
    return dx, sum(parts), dy.sum(axis=(0, 2, 3))  # the parts added up in the chunks' order


# ----------------------------------------------------------------------------------------------
# Depthwise-separable convolution: depthwise, then pointwise (given code)
# ----------------------------------------------------------------------------------------------


def separable_conv2d_forward(x, w_depthwise, w_pointwise, b_depthwise=None, b_pointwise=None,
                             stride=1, padding=0, dilation=1):
    """Forward pass of a depthwise-separable convolution: depthwise, then pointwise.

    Inputs:
    - x: array (N, C, H, W), the input images.
    - w_depthwise: array (C * M, 1, KH, KW), the depthwise filters (channel multiplier M).
    - w_pointwise: array (O, C * M, 1, 1) or (O, C * M), the 1x1 weights that mix the C * M
      filtered channels into O outputs.
    - b_depthwise: array (C * M,) or None; b_pointwise: array (O,) or None.
    - stride, padding, dilation: int or (h, w) pair, of the depthwise layer (the 1x1 layer has
      stride 1 and no padding).

    Returns out, an array (N, O, OH, OW): pointwise_conv2d_forward(depthwise_conv2d_forward(x,
    w_depthwise, b_depthwise, stride, padding, dilation), w_pointwise, b_pointwise). Like
    Xception's separable convolutions, there is no non-linearity between the two layers (MobileNet
    puts batch normalisation and a ReLU there).
    """
    hidden = depthwise_conv2d_forward(x, w_depthwise, b_depthwise, stride, padding, dilation)
    return pointwise_conv2d_forward(hidden, w_pointwise, b_pointwise)


def separable_conv2d_backward(dy, x, w_depthwise, w_pointwise, b_depthwise=None, stride=1,
                              padding=0, dilation=1):
    """Backward pass of `separable_conv2d_forward`: the chain rule through its two layers.

    Inputs:
    - dy: array (N, O, OH, OW), upstream gradient dL/dout.
    - x, w_depthwise, w_pointwise, b_depthwise, stride, padding, dilation: as in the forward
      pass (b_depthwise is needed: the pointwise weights' gradient depends on the depthwise output
      the forward pass fed them; b_pointwise is not).

    Returns a tuple (dx, dw_depthwise, dw_pointwise, db_depthwise, db_pointwise), each gradient
    the shape of its forward argument, of the float dtype common to the inputs.
    """
    hidden = depthwise_conv2d_forward(x, w_depthwise, b_depthwise, stride, padding, dilation)
    dhidden, dw_pointwise, db_pointwise = pointwise_conv2d_backward(dy, hidden, w_pointwise)
    dx, dw_depthwise, db_depthwise = depthwise_conv2d_backward(dhidden, x, w_depthwise, stride,
                                                               padding, dilation)
    return dx, dw_depthwise, dw_pointwise, db_depthwise, db_pointwise
