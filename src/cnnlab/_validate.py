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


# ----------------------------------------------------------------------------------------------
# Convolutions (conv.py, depthwise.py)
# ----------------------------------------------------------------------------------------------


def hyper_pairs(stride, padding, dilation):
    """Stride, padding and dilation as (h, w) int pairs."""
    return (
        pair(stride, "stride", minimum=1),
        pair(padding, "padding", minimum=0),
        pair(dilation, "dilation", minimum=1),
    )


def output_hw(input_hw, kernel_hw, stride, padding, dilation, what):
    """(OH, OW) of a convolution; ValueError naming the shapes if the kernel does not fit."""
    out = []
    for size, k, s, p, d in zip(input_hw, kernel_hw, stride, padding, dilation, strict=True):
        span = d * (k - 1) + 1  # extent of the dilated kernel
        if span > size + 2 * p:
            raise ValueError(
                f"kernel {tuple(kernel_hw)} with dilation {tuple(dilation)} spans "
                f"{span} pixels, more than the padded input: {what} with spatial size "
                f"{tuple(input_hw)} and padding {tuple(padding)}"
            )
        out.append((size + 2 * p - span) // s + 1)
    return tuple(out)


def check_groups(groups, x_shape, w_shape):
    """`groups` as an int; ValueError naming C, O and groups unless the shapes fit together.

    x_shape is (N, C, H, W) and w_shape (O, C // groups, KH, KW): groups must divide C and O.
    """
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"groups must be an int, got {groups!r}")
    groups = int(groups)
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got groups={groups}")
    c, o = x_shape[1], w_shape[0]
    if c % groups or o % groups:
        raise ValueError(
            f"groups={groups} must divide both the input channels C={c} (x of shape "
            f"{tuple(x_shape)}) and the output channels O={o} (w of shape {tuple(w_shape)})"
        )
    if w_shape[1] * groups != c:
        if groups == 1:
            raise ValueError(
                f"channel mismatch: w of shape {tuple(w_shape)} expects {w_shape[1]} input "
                f"channels, but x of shape {tuple(x_shape)} has C={c}"
            )
        raise ValueError(
            f"channel mismatch: with groups={groups} each filter sees C // groups = "
            f"{c // groups} of the C={c} input channels (x of shape {tuple(x_shape)}), so w "
            f"must have shape (O, {c // groups}, KH, KW); got {tuple(w_shape)}"
        )
    return groups


def check_conv(x, w, stride, padding, dilation, groups=1):
    """Validate the arguments shared by the convolution functions.

    Returns (x, w, stride, padding, dilation, (OH, OW)) with x, w float arrays and the three
    hyper-parameters as (h, w) pairs. w has shape (O, C // groups, KH, KW).
    """
    x = as_float_array(x, "x", 4)
    w = as_float_array(w, "w", 4)
    stride, padding, dilation = hyper_pairs(stride, padding, dilation)
    check_groups(groups, x.shape, w.shape)
    out_hw = output_hw(
        x.shape[2:], w.shape[2:], stride, padding, dilation, what=f"x of shape {x.shape}"
    )
    return x, w, stride, padding, dilation, out_hw


def check_bias(b, w):
    """Validate the bias `b` (None or shape (O,)) of the weights `w`."""
    if b is None:
        return None
    b = as_float_array(b, "b", 1)
    if b.shape != (w.shape[0],):
        raise ValueError(
            f"b must have shape ({w.shape[0]},), one bias per filter of w of shape {w.shape}, "
            f"got shape {b.shape}"
        )
    return b


def check_gemm(x, w, stride, padding, dilation, groups):
    """`check_conv`, with `groups` returned as an int too.

    Returns (x, w, stride, padding, dilation, groups, (OH, OW)).
    """
    x, w, stride, padding, dilation, out_hw = check_conv(x, w, stride, padding, dilation, groups)
    return x, w, stride, padding, dilation, int(groups), out_hw


def as_shape(shape, name, what):
    """`shape` as a tuple of four ints >= 1; TypeError/ValueError naming `name` otherwise."""
    if not (
        isinstance(shape, (tuple, list))
        and len(shape) == 4
        and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in shape)
    ):
        raise TypeError(f"{name} must be a tuple of 4 ints {what}, got {shape!r}")
    shape = tuple(int(s) for s in shape)
    if min(shape) < 1:
        raise ValueError(f"{name} must have 4 sizes >= 1 {what}, got {shape}")
    return shape


def check_backward(dy, x_shape, w_shape, stride, padding, dilation, groups=1):
    """Validate the arguments shared by the backward functions.

    Inputs:
    - dy: the upstream gradient, to check against the forward output's shape (N, O, OH, OW).
    - x_shape: tuple (N, C, H, W), the shape of the forward input.
    - w_shape: tuple (O, C // groups, KH, KW), the shape of the filters.
    - stride, padding, dilation: int or (h, w) pair.
    - groups: int >= 1 dividing C and O.

    Returns (dy, stride, padding, dilation) with dy a float array and the hyper-parameters as
    (h, w) pairs; raises a ValueError naming the shapes if they do not fit together.
    """
    stride, padding, dilation = hyper_pairs(stride, padding, dilation)
    check_groups(groups, x_shape, w_shape)
    oh, ow = output_hw(
        x_shape[2:], w_shape[2:], stride, padding, dilation, what=f"x of shape {x_shape}"
    )
    dy = as_float_array(dy, "dy", 4)
    expected = (x_shape[0], w_shape[0], oh, ow)
    if dy.shape != expected:
        raise ValueError(
            f"dy must have the forward output's shape {expected} (x of shape {x_shape}, w of "
            f"shape {w_shape}, stride {stride}, padding {padding}, dilation {dilation}), "
            f"got shape {dy.shape}"
        )
    return dy, stride, padding, dilation


def pointwise_weights(w, c):
    """`w` of shape (O, C, 1, 1) or (O, C) as a float (O, C) matrix; ValueError otherwise."""
    w = np.asarray(w)
    if w.ndim == 4 and w.shape[2:] == (1, 1):
        w = w.reshape(w.shape[:2])
    if w.ndim != 2:
        raise ValueError(
            f"w must have shape (O, C, 1, 1) or (O, C) for a 1x1 convolution, got {w.shape}"
        )
    w = as_float_array(w, "w", 2)
    if w.shape[1] != c:
        raise ValueError(
            f"channel mismatch: w of shape {w.shape} expects {w.shape[1]} input channels, but "
            f"x has C={c}"
        )
    return w


def check_depthwise(x, w, stride, padding, dilation):
    """Validate a depthwise layer: x (N, C, H, W) and w (C * M, 1, KH, KW) for some M >= 1.

    Returns what `check_conv` returns (a depthwise layer is a grouped one with groups=C).
    """
    x, w = as_float_array(x, "x", 4), as_float_array(w, "w", 4)
    c = x.shape[1]
    if w.shape[1] != 1 or w.shape[0] % c:
        raise ValueError(
            f"a depthwise w must have shape (C * M, 1, KH, KW), M filters for each of the C={c} "
            f"channels of x of shape {x.shape}; got {w.shape}"
        )
    return check_conv(x, w, stride, padding, dilation, groups=c)


# ----------------------------------------------------------------------------------------------
# Pooling (pooling.py)
# ----------------------------------------------------------------------------------------------


def check_pool(shape, kernel_size, stride, padding):
    """Validate the pooling parameters for an input of `shape` (N, C, H, W).

    Returns ((KH, KW), (SH, SW), (PH, PW), (N, C, OH, OW)); raises a ValueError/TypeError naming
    the parameter otherwise.
    """
    if len(shape) != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {shape} ({len(shape)}-D)")
    kh, kw = pair(kernel_size, "kernel_size", minimum=1)
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride", minimum=1)
    ph, pw = pair(padding, "padding", minimum=0)
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(
            f"padding must be at most half of kernel_size (like PyTorch), got padding "
            f"{(ph, pw)} and kernel_size {(kh, kw)}"
        )
    n, c, h, w = shape
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ValueError(
            f"kernel_size {(kh, kw)} is larger than the padded input: x has shape {shape}, "
            f"padding {(ph, pw)} makes it {h + 2 * ph}x{w + 2 * pw}"
        )
    out_shape = (n, c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)
    return (kh, kw), (sh, sw), (ph, pw), out_shape


def prepare_pool(x, kernel_size, stride, padding):
    """Validated float x and its pooling parameters (see `check_pool`)."""
    x = as_float_array(x, "x", 4)
    return (x, *check_pool(x.shape, kernel_size, stride, padding))


def prepare_pool_backward(dy, x, kernel_size, stride, padding):
    """Validated x and dy of one common float dtype, and the pooling parameters."""
    x, kernel, strides, pads, out_shape = prepare_pool(x, kernel_size, stride, padding)
    dy = as_float_array(dy, "dy", 4)
    if dy.shape != out_shape:
        raise ValueError(
            f"dy must have the shape of the forward output {out_shape} (x of shape {x.shape}, "
            f"kernel_size {kernel}, stride {strides}, padding {pads}), got shape {dy.shape}"
        )
    dtype = common_dtype(x, dy)
    return x.astype(dtype, copy=False), dy.astype(dtype, copy=False), kernel, strides, pads
