"""Grading suite of chapter 4: 1x1 (pointwise), depthwise and grouped convolutions, and the
counters of depthwise-separable layers.

Exercises: pointwise_conv2d_forward, pointwise_conv2d_backward, depthwise_conv2d_forward,
depthwise_conv2d_backward (`cnnlab.depthwise`), grouped_conv2d_forward, grouped_conv2d_backward
(`cnnlab.conv` with groups > 1), separable_conv_params, separable_conv_macs (`cnnlab.arithmetic`).

Public checks use the chapter's worked numbers, small oracles written here in plain NumPy and
central differences computed here in float64, so that every exercise is graded on its own.
Hidden tests compare with the reference solution on many seeded random cases: channel
multipliers 1-3, groups dividing C and O, (h, w) strides, paddings and dilations, batch and
channel sizes of 1, float32 and float64, with and without bias.
"""

import numpy as np
import pytest

from autograder.feedback import assert_close, describe_array
from autograder.numerical import NUMERICAL, numerical_grads

DTYPES = (np.float64, np.float32)

# The calls each exercise must not make, for the trusted engine's static check of the learner's
# functions: the point of the exercise is to write the computation, not to hand it to a library
# or to the general grouped convolution.
FORBIDDEN = {
    "pointwise_conv2d_forward": ("torch", "scipy.signal", "scipy.ndimage", "conv.conv2d_forward",
                                 "conv.conv2d_forward_gemm"),
    "pointwise_conv2d_backward": ("torch", "scipy.signal", "scipy.ndimage", "conv.conv2d_backward",
                                  "conv.conv2d_backward_input", "conv.conv2d_backward_weight"),
    "depthwise_conv2d_forward": ("torch", "scipy.signal", "scipy.ndimage", "conv.conv2d_forward",
                                 "conv._conv2d_forward_grouped", "conv._conv2d_forward_loops",
                                 "conv.conv2d_forward_gemm"),
    "depthwise_conv2d_backward": ("torch", "scipy.signal", "scipy.ndimage",
                                  "conv.conv2d_backward", "conv._conv2d_backward_input_grouped",
                                  "conv._conv2d_backward_weight_grouped",
                                  "conv._conv2d_backward_input", "conv._conv2d_backward_weight"),
    "grouped_conv2d_forward": ("torch", "scipy.signal", "scipy.ndimage"),
    "grouped_conv2d_backward": ("torch", "scipy.signal", "scipy.ndimage"),
}


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def assert_int(got, expected, call):
    """Fail with a message naming `call` unless `got` is the int `expected`."""
    if got is None:
        raise AssertionError(f"{call} returned None (a missing `return`?)")
    if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
        raise AssertionError(
            f"{call} returned {got!r} ({type(got).__name__}), expected the int {expected}"
        )
    assert got == expected, f"{call} returned {got}, expected {expected}"


def kwargs_text(**kwargs):
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def as_tuple(result, count, call):
    """`result` as a tuple of `count` items; a clear failure otherwise."""
    if not isinstance(result, (tuple, list)) or len(result) != count:
        raise AssertionError(f"{call} must return a tuple of {count} arrays, got {result!r:.200}")
    return tuple(result)


# --- plain NumPy oracles for the public checks ----------------------------------------------


def windows(x, kernel_size, stride, padding, dilation):
    """All receptive fields of x (N, C, H, W) as an array (N, C, KH, KW, OH, OW):
    windows[n, c, i, j, y, x] = xpad[n, c, y * sh + i * dh, x * sw + j * dw]."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = map(_pair, (kernel_size, stride, padding, dilation))
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (xpad.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xpad.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], x.shape[1], kh, kw, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i, j] = xpad[:, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                                   j * dw : j * dw + sw * (ow - 1) + 1 : sw]
    return out


def numpy_grouped_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """A grouped convolution as `groups` einsums over the receptive fields, one per group."""
    win = windows(x, w.shape[2:], stride, padding, dilation)
    cg, og = x.shape[1] // groups, w.shape[0] // groups
    parts = [np.einsum("ncijyx,ocij->noyx", win[:, g * cg : (g + 1) * cg],
                       w[g * og : (g + 1) * og]) for g in range(groups)]
    out = np.concatenate(parts, axis=1)
    return out if b is None else out + np.asarray(b)[None, :, None, None]


def numpy_depthwise_conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """Depthwise convolution with channel multiplier M: input channel c times each of its M
    filters, the outputs ordered by input channel (c * M + m)."""
    c = x.shape[1]
    m = w.shape[0] // c
    win = windows(x, w.shape[2:], stride, padding, dilation)
    filters = w[:, 0].reshape(c, m, *w.shape[2:])  # filter c * M + m is filters[c, m]
    out = np.einsum("ncijyx,cmij->ncmyx", win, filters)
    out = out.reshape(x.shape[0], c * m, *out.shape[3:])
    return out if b is None else out + np.asarray(b)[None, :, None, None]


def numpy_pointwise_conv2d(x, w, b=None):
    """A fully connected layer applied to the channel vector of every pixel, pixel by pixel."""
    w = np.asarray(w).reshape(w.shape[0], w.shape[1])
    n, _, h, wd = x.shape
    out = np.zeros((n, w.shape[0], h, wd), np.result_type(x, w))
    for image in range(n):
        for y in range(h):
            for col in range(wd):
                out[image, :, y, col] = w @ x[image, :, y, col]
    return out if b is None else out + np.asarray(b)[None, :, None, None]


# --- random cases ---------------------------------------------------------------------------


def fits(size, kernel, padding, dilation):
    return dilation * (kernel - 1) + 1 <= size + 2 * padding


def random_hyper(rng, low, high):
    """An int, or (two times in three) an (h, w) pair, mostly asymmetric, in [low, high]."""
    if rng.random() < 1 / 3:
        return int(rng.integers(low, high + 1))
    return (int(rng.integers(low, high + 1)), int(rng.integers(low, high + 1)))


def spatial_cases(rng, count, max_size=9, max_kernel=4):
    """`count` random (H, W, KH, KW, stride, padding, dilation) whose dilated kernel fits; every
    fourth has overlapping windows (3x3, stride 2), every fourth a 1x1 kernel."""
    made = 0
    while made < count:
        h, w = (int(v) for v in rng.integers(1, max_size + 1, 2))
        kh, kw = (int(v) for v in rng.integers(1, max_kernel + 1, 2))
        stride, padding, dilation = (random_hyper(rng, 1, 3), random_hyper(rng, 0, 2),
                                     random_hyper(rng, 1, 3))
        if made % 4 == 0:
            kh, kw, stride, dilation = 3, 3, 2, 1
        elif made % 4 == 1:
            kh, kw = 1, 1
        (ph, pw), (dh, dw) = _pair(padding), _pair(dilation)
        if not (fits(h, kh, ph, dh) and fits(w, kw, pw, dw)):
            continue
        made += 1
        yield h, w, kh, kw, stride, padding, dilation


def depthwise_cases(seed, count, dtypes=DTYPES, max_size=9):
    """Random depthwise layers (x, w, b, dy, hyper): N 1..3 (often 1), C 1..4, multiplier M 1..3,
    b None in one case of three, float64/float32 in turn (or the given dtypes)."""
    rng = np.random.default_rng(seed)
    for case, (h, w, kh, kw, stride, padding, dilation) in enumerate(
            spatial_cases(rng, count, max_size)):
        n = 1 if case % 3 == 0 else int(rng.integers(1, 4))
        c, m = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        dtype = dtypes[case % len(dtypes)]
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        weights = rng.standard_normal((c * m, 1, kh, kw)).astype(dtype)
        b = None if case % 3 == 2 else rng.standard_normal(c * m).astype(dtype)
        hyper = dict(stride=stride, padding=padding, dilation=dilation)
        out = numpy_depthwise_conv2d(x, weights, b, **hyper)
        dy = rng.standard_normal(out.shape).astype(dtype)
        yield x, weights, b, dy, hyper


def grouped_cases(seed, count, dtypes=DTYPES, max_size=8):
    """Random grouped layers (x, w, b, dy, hyper with groups 2..4): C and O multiples of groups
    (groups = C, a depthwise layer, in one case of five), N 1..2."""
    rng = np.random.default_rng(seed)
    for case, (h, w, kh, kw, stride, padding, dilation) in enumerate(
            spatial_cases(rng, count, max_size, max_kernel=3)):
        groups = int(rng.integers(2, 5))
        cg = 1 if case % 5 == 4 else int(rng.integers(1, 4))
        og = int(rng.integers(1, 4))
        n = 1 if case % 3 == 0 else 2
        dtype = dtypes[case % len(dtypes)]
        x = rng.standard_normal((n, groups * cg, h, w)).astype(dtype)
        weights = rng.standard_normal((groups * og, cg, kh, kw)).astype(dtype)
        b = None if case % 3 == 2 else rng.standard_normal(groups * og).astype(dtype)
        hyper = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        out = numpy_grouped_conv2d(x, weights, b, **hyper)
        dy = rng.standard_normal(out.shape).astype(dtype)
        yield x, weights, b, dy, hyper


def pointwise_cases(seed, count, dtypes=DTYPES):
    """Random 1x1 layers (x, w, b, dy): N 1..3, C and O 1..6 (O = C in one case of four),
    w as (O, C, 1, 1) or (O, C) in turn, b None in one case of three."""
    rng = np.random.default_rng(seed)
    for case in range(count):
        n = 1 if case % 3 == 0 else int(rng.integers(1, 4))
        c, o = (int(v) for v in rng.integers(1, 7, 2))
        if case % 4 == 3:
            o = c
        h, wd = (int(v) for v in rng.integers(1, 7, 2))
        dtype = dtypes[case % len(dtypes)]
        x = rng.standard_normal((n, c, h, wd)).astype(dtype)
        weights = rng.standard_normal((o, c, 1, 1) if case % 2 else (o, c)).astype(dtype)
        b = None if case % 3 == 2 else rng.standard_normal(o).astype(dtype)
        dy = rng.standard_normal((n, o, h, wd)).astype(dtype)
        yield x, weights, b, dy


def hyper_text(hyper):
    return ", ".join(f"{name}={value!r}" for name, value in hyper.items())


def call_text(name, arrays, hyper=None):
    """'depthwise_conv2d_forward(x 1x2x4x4 float64, w 4x1x3x3 float64, b None, stride=2, ...)'"""
    args = [f"{label} None" if a is None else f"{label} {describe_array(a)}"
            for label, a in arrays]
    if hyper:
        args.append(hyper_text(hyper))
    return f"{name}({', '.join(args)})"


# The chapter's worked depthwise example: two channels, channel multiplier 2, 3x3 filters.
WORKED_X = np.stack([np.arange(16.0).reshape(4, 4), np.eye(4)[::-1] * 2])[None]  # (1, 2, 4, 4)
WORKED_W = np.array([
    np.ones((3, 3)),  # channel 0, filter 0: box sum
    [[1, 0, -1], [2, 0, -2], [1, 0, -1]],  # channel 0, filter 1: Sobel x
    [[0, 0, 0], [0, 1, 0], [0, 0, 0]],  # channel 1, filter 0: identity
    [[0, 0, 3], [0, 0, 0], [0, 0, 0]],  # channel 1, filter 1: 3 times the top-right pixel
], dtype=float)[:, None]  # (4, 1, 3, 3)
WORKED_B = np.array([0.0, 1.0, 0.0, -1.0])
# out[0, c * 2 + m] for the 2x2 output (no padding): worked out by hand.
WORKED_OUT = np.array([[
    [[45, 54], [81, 90]],  # box sums of 0..15
    [[-8 + 1, -8 + 1], [-8 + 1, -8 + 1]],  # x-gradient of a ramp that rises by 1 a column: -8
    [[0, 2], [2, 0]],  # the centre pixels of the anti-diagonal
    [[-1, 6 - 1], [6 - 1, -1]],  # 3 times the top-right pixels of the windows, minus 1
]], dtype=float)


# --- pointwise_conv2d_forward ---------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("pointwise_conv2d_forward", points=1)
def test_pointwise_forward_worked_example(student):
    """RGB to 2 channels at every pixel (grey and red minus blue); w as (O, C, 1, 1) or (O, C)"""
    x = np.array([[[[1, 0], [2, 4]], [[0, 1], [2, 4]], [[3, 1], [2, 0]]]], dtype=float)
    w = np.array([[1 / 3, 1 / 3, 1 / 3], [1, 0, -1]])
    b = np.array([0.0, 10.0])
    expected = np.array([[[[4 / 3, 2 / 3], [2, 8 / 3]], [[8, 9], [10, 14]]]])
    for weights in (w[:, :, None, None], w):
        got = student.depthwise.pointwise_conv2d_forward(x, weights, b)
        assert_close(got, expected, f"pointwise_conv2d_forward(x 1x3x2x2 worked example, w "
                                    f"{describe_array(weights)}, b [0, 10])")


@pytest.mark.public
@pytest.mark.grade("pointwise_conv2d_forward", points=1)
def test_pointwise_forward_is_a_fully_connected_layer_per_pixel(student):
    """equals w @ (the channel vector of each pixel), pixel by pixel (bias or None, float32)"""
    for x, w, b, _ in pointwise_cases(1, 12):
        got = student.depthwise.pointwise_conv2d_forward(x, w, b)
        assert_close(got, numpy_pointwise_conv2d(x, w, b),
                     call_text("pointwise_conv2d_forward", [("x", x), ("w", w), ("b", b)]))


@pytest.mark.grade("pointwise_conv2d_forward", points=1)
def test_pointwise_forward_random(student, reference):
    """random channels and sizes, O = C and O != C, batch 1, float32 and float64"""
    for x, w, b, _ in pointwise_cases(2, 60):
        expected = reference.depthwise.pointwise_conv2d_forward(x, w, b)
        got = student.depthwise.pointwise_conv2d_forward(x, w, b)
        assert_close(got, expected,
                     call_text("pointwise_conv2d_forward", [("x", x), ("w", w), ("b", b)]))


# --- pointwise_conv2d_backward --------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("pointwise_conv2d_backward", points=1)
def test_pointwise_backward_numerical_gradient(student):
    """dx, dw and db agree with central differences; dw has w's shape ((O, C, 1, 1) or (O, C))"""
    rng = np.random.default_rng(3)
    for x, w, b, dy in pointwise_cases(4, 8, dtypes=(np.float64,)):
        b = rng.standard_normal(w.shape[0]) if b is None else b
        call = call_text("pointwise_conv2d_backward", [("dy", dy), ("x", x), ("w", w)])
        got = as_tuple(student.depthwise.pointwise_conv2d_backward(dy, x, w), 3, call)
        expected = numerical_grads(numpy_pointwise_conv2d, x, w, b, dy)
        for name, g, e in zip(("dx", "dw", "db"), got, expected, strict=True):
            assert_close(g, e, f"{name} of {call} vs central differences", **NUMERICAL)


@pytest.mark.grade("pointwise_conv2d_backward", points=1)
def test_pointwise_backward_random(student, reference):
    """random channels and sizes, O = C and O != C, batch 1, float32 and float64"""
    for x, w, _, dy in pointwise_cases(5, 60):
        call = call_text("pointwise_conv2d_backward", [("dy", dy), ("x", x), ("w", w)])
        expected = reference.depthwise.pointwise_conv2d_backward(dy, x, w)
        got = as_tuple(student.depthwise.pointwise_conv2d_backward(dy, x, w), 3, call)
        for name, g, e in zip(("dx", "dw", "db"), got, expected, strict=True):
            assert_close(g, e, f"{name} of {call}")


# --- depthwise_conv2d_forward ---------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("depthwise_conv2d_forward", points=1)
def test_depthwise_forward_worked_example(student):
    """2 channels, 2 filters each (multiplier 2): outputs ordered by input channel (c * M + m)"""
    got = student.depthwise.depthwise_conv2d_forward(WORKED_X, WORKED_W, WORKED_B)
    assert_close(got, WORKED_OUT, "depthwise_conv2d_forward(x 1x2x4x4 worked example, w 4x1x3x3 "
                                  "(box, Sobel x | identity, 3x top-right), b [0, 1, 0, -1])")


@pytest.mark.public
@pytest.mark.grade("depthwise_conv2d_forward", points=1)
def test_depthwise_forward_matches_numpy(student):
    """small cases (multipliers 1-3, strides, paddings, dilations, bias or not) vs NumPy"""
    for x, w, b, _, hyper in depthwise_cases(11, 16, max_size=7):
        got = student.depthwise.depthwise_conv2d_forward(x, w, b, **hyper)
        assert_close(got, numpy_depthwise_conv2d(x, w, b, **hyper),
                     call_text("depthwise_conv2d_forward", [("x", x), ("w", w), ("b", b)], hyper))


@pytest.mark.grade("depthwise_conv2d_forward", points=1)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_depthwise_forward_random(student, reference, dtype):
    """random cases: multipliers 1-3, (h, w) stride/padding/dilation, batch 1, bias or None"""
    for x, w, b, _, hyper in depthwise_cases(12 + DTYPES.index(dtype), 50, dtypes=(dtype,)):
        expected = reference.depthwise.depthwise_conv2d_forward(x, w, b, **hyper)
        got = student.depthwise.depthwise_conv2d_forward(x, w, b, **hyper)
        assert_close(got, expected,
                     call_text("depthwise_conv2d_forward", [("x", x), ("w", w), ("b", b)], hyper))


# --- depthwise_conv2d_backward --------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("depthwise_conv2d_backward", points=1)
def test_depthwise_backward_worked_example(student):
    """worked example, dy all ones: dw sums each channel's windows, dx counts the windows"""
    dy = np.ones((1, 4, 2, 2))
    call = "depthwise_conv2d_backward(dy ones 1x4x2x2, x 1x2x4x4 worked example, w 4x1x3x3)"
    dx, dw, db = as_tuple(student.depthwise.depthwise_conv2d_backward(dy, WORKED_X, WORKED_W), 3,
                          call)
    # Filter c * M + m met only channel c: its gradient is the sum of channel c's four windows.
    sums = [sum(WORKED_X[0, c, y : y + 3, x : x + 3] for y in range(2) for x in range(2))
            for c in range(2)]
    assert_close(dw, np.stack([sums[0], sums[0], sums[1], sums[1]])[:, None], f"dw of {call}")
    # Channel c collects, at each pixel, the sum of its two filters' taps over the windows there.
    counts = np.zeros((2, 4, 4))
    for c in range(2):
        for y in range(2):
            for x in range(2):
                counts[c, y : y + 3, x : x + 3] += WORKED_W[2 * c, 0] + WORKED_W[2 * c + 1, 0]
    assert_close(dx, counts[None], f"dx of {call}")
    assert_close(db, np.full(4, 4.0), f"db of {call}")


@pytest.mark.public
@pytest.mark.grade("depthwise_conv2d_backward", points=1)
def test_depthwise_backward_numerical_gradient(student):
    """dx, dw, db agree with central differences (multipliers, strides, paddings, dilations)"""
    rng = np.random.default_rng(13)
    for x, w, b, dy, hyper in depthwise_cases(14, 8, dtypes=(np.float64,), max_size=6):
        b = rng.standard_normal(w.shape[0]) if b is None else b
        call = call_text("depthwise_conv2d_backward", [("dy", dy), ("x", x), ("w", w)], hyper)
        got = as_tuple(student.depthwise.depthwise_conv2d_backward(dy, x, w, **hyper), 3, call)

        def forward(x, w, b, hyper=hyper):
            return numpy_depthwise_conv2d(x, w, b, **hyper)

        expected = numerical_grads(forward, x, w, b, dy)
        for name, g, e in zip(("dx", "dw", "db"), got, expected, strict=True):
            assert_close(g, e, f"{name} of {call} vs central differences", **NUMERICAL)


@pytest.mark.grade("depthwise_conv2d_backward", points=1)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_depthwise_backward_random(student, reference, dtype):
    """random cases: multipliers 1-3, overlapping windows, (h, w) pairs, batch 1"""
    for x, w, _, dy, hyper in depthwise_cases(15 + DTYPES.index(dtype), 50, dtypes=(dtype,)):
        call = call_text("depthwise_conv2d_backward", [("dy", dy), ("x", x), ("w", w)], hyper)
        expected = reference.depthwise.depthwise_conv2d_backward(dy, x, w, **hyper)
        got = as_tuple(student.depthwise.depthwise_conv2d_backward(dy, x, w, **hyper), 3, call)
        for name, g, e in zip(("dx", "dw", "db"), got, expected, strict=True):
            assert_close(g, e, f"{name} of {call}")


# --- grouped_conv2d_forward -----------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("grouped_conv2d_forward", points=1)
def test_grouped_forward_worked_example(student):
    """groups=2 on 4 channels of constants 1, 2, 10, 20: each output sees its own group only"""
    x = np.ones((1, 4, 3, 3)) * np.array([1.0, 2.0, 10.0, 20.0])[None, :, None, None]
    w = np.ones((2, 2, 2, 2))  # one 2x2 filter per group, over that group's 2 channels
    expected = np.stack([np.full((2, 2), 4.0 * (1 + 2)), np.full((2, 2), 4.0 * (10 + 20))])[None]
    got = student.conv.conv2d_forward(x, w, groups=2)
    assert_close(got, expected, "conv2d_forward(x channels of 1, 2, 10, 20 (1x4x3x3), w ones "
                                "2x2x2x2, groups=2): output 0 sums channels 0-1, output 1 "
                                "channels 2-3")


@pytest.mark.public
@pytest.mark.grade("grouped_conv2d_forward", points=1)
def test_grouped_forward_matches_numpy(student):
    """small cases (groups 2-4, strides, paddings, dilations, bias or not) vs NumPy, group by
    group"""
    for x, w, b, _, hyper in grouped_cases(21, 12, max_size=6):
        got = student.conv.conv2d_forward(x, w, b, **hyper)
        assert_close(got, numpy_grouped_conv2d(x, w, b, **hyper),
                     call_text("conv2d_forward", [("x", x), ("w", w), ("b", b)], hyper))


@pytest.mark.grade("grouped_conv2d_forward", points=1)
def test_grouped_forward_random(student, reference):
    """random cases: groups 2-4 (and groups = C), (h, w) pairs, batch 1, float32 and float64"""
    for x, w, b, _, hyper in grouped_cases(22, 50):
        expected = reference.conv.conv2d_forward(x, w, b, **hyper)
        got = student.conv.conv2d_forward(x, w, b, **hyper)
        assert_close(got, expected,
                     call_text("conv2d_forward", [("x", x), ("w", w), ("b", b)], hyper))


# --- grouped_conv2d_backward ----------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("grouped_conv2d_backward", points=1)
def test_grouped_backward_numerical_gradient(student):
    """conv2d_backward with groups: dx and dw agree with central differences"""
    for x, w, _, dy, hyper in grouped_cases(23, 6, dtypes=(np.float64,), max_size=5):
        call = call_text("conv2d_backward", [("dy", dy), ("x", x), ("w", w)], hyper)
        got = as_tuple(student.conv.conv2d_backward(dy, x, w, **hyper), 3, call)

        def forward(x, w, b, hyper=hyper):
            return numpy_grouped_conv2d(x, w, b, **hyper)

        expected = numerical_grads(forward, x, w, None, dy)
        for name, g, e in zip(("dx", "dw"), got[:2], expected, strict=True):
            assert_close(g, e, f"{name} of {call} vs central differences", **NUMERICAL)


@pytest.mark.grade("grouped_conv2d_backward", points=1)
def test_grouped_backward_input_random(student, reference):
    """conv2d_backward_input with groups on random cases (groups = C too, batch 1, float32)"""
    for x, w, _, dy, hyper in grouped_cases(24, 50):
        call = call_text("conv2d_backward_input", [("dy", dy), ("x_shape", x), ("w", w)], hyper)
        expected = reference.conv.conv2d_backward_input(dy, x.shape, w, **hyper)
        got = student.conv.conv2d_backward_input(dy, x.shape, w, **hyper)
        assert_close(got, expected, call)


@pytest.mark.grade("grouped_conv2d_backward", points=1)
def test_grouped_backward_weight_random(student, reference):
    """conv2d_backward_weight with groups on random cases (groups = C too, batch 1, float32)"""
    for x, w, _, dy, hyper in grouped_cases(25, 50):
        call = call_text("conv2d_backward_weight", [("dy", dy), ("x", x), ("w_shape", w)], hyper)
        expected = reference.conv.conv2d_backward_weight(dy, x, w.shape, **hyper)
        got = student.conv.conv2d_backward_weight(dy, x, w.shape, **hyper)
        assert_close(got, expected, call)


# --- separable_conv_params ------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("separable_conv_params", points=1)
def test_separable_conv_params_worked_examples(student):
    """3 -> 256 channels, 3x3: 795 weights (a standard layer: 6,912); MobileNet's layers"""
    examples = [
        (dict(in_channels=3, out_channels=256, kernel_size=3, bias=False), 3 * 3 * 3 + 3 * 256),
        (dict(in_channels=3, out_channels=256, kernel_size=3), 795 + 3 + 256),
        (dict(in_channels=32, out_channels=64, kernel_size=3, bias=False), 32 * 9 + 32 * 64),
        (dict(in_channels=512, out_channels=512, kernel_size=3, bias=False), 512 * 9 + 512 * 512),
        (dict(in_channels=4, out_channels=6, kernel_size=(3, 1), depth_multiplier=2,
              bias=False), 8 * 3 + 8 * 6),
        (dict(in_channels=2, out_channels=5, kernel_size=5, depth_multiplier=3),
         6 * 25 + 6 + 6 * 5 + 5),
    ]
    for kwargs, expected in examples:
        got = student.arithmetic.separable_conv_params(**kwargs)
        assert_int(got, expected, f"separable_conv_params({kwargs_text(**kwargs)})")


@pytest.mark.grade("separable_conv_params", points=1)
def test_separable_conv_params_random(student, reference):
    """random channels, (KH, KW) kernels, multipliers, with and without bias"""
    rng = np.random.default_rng(31)
    for case in range(60):
        kwargs = dict(in_channels=int(rng.integers(1, 65)), out_channels=int(rng.integers(1, 65)),
                      kernel_size=random_hyper(rng, 1, 7),
                      depth_multiplier=int(rng.integers(1, 4)), bias=bool(case % 2))
        expected = reference.arithmetic.separable_conv_params(**kwargs)
        got = student.arithmetic.separable_conv_params(**kwargs)
        assert_int(got, expected, f"separable_conv_params({kwargs_text(**kwargs)})")


# --- separable_conv_macs --------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("separable_conv_macs", points=1)
def test_separable_conv_macs_worked_examples(student):
    """MobileNet's 112x112 32 -> 64 layer; a stride-2 layer; the ratio 1/O + 1/K^2"""
    examples = [
        (dict(input_size=112, in_channels=32, out_channels=64, kernel_size=3, padding=1),
         112 * 112 * 32 * 9 + 112 * 112 * 32 * 64),
        (dict(input_size=112, in_channels=64, out_channels=128, kernel_size=3, stride=2,
              padding=1), 56 * 56 * 64 * 9 + 56 * 56 * 64 * 128),
        (dict(input_size=(6, 8), in_channels=3, out_channels=4, kernel_size=(3, 1),
              depth_multiplier=2), 4 * 8 * 6 * 3 + 4 * 8 * 6 * 4),
        (dict(input_size=9, in_channels=2, out_channels=3, kernel_size=3, dilation=2),
         5 * 5 * 2 * 9 + 5 * 5 * 2 * 3),
    ]
    for kwargs, expected in examples:
        got = student.arithmetic.separable_conv_macs(**kwargs)
        assert_int(got, expected, f"separable_conv_macs({kwargs_text(**kwargs)})")


@pytest.mark.grade("separable_conv_macs", points=1)
def test_separable_conv_macs_random(student, reference):
    """random non-square inputs, (h, w) strides, paddings and dilations, multipliers"""
    rng = np.random.default_rng(32)
    checked = 0
    while checked < 60:
        kwargs = dict(input_size=random_hyper(rng, 1, 40), in_channels=int(rng.integers(1, 33)),
                      out_channels=int(rng.integers(1, 33)), kernel_size=random_hyper(rng, 1, 7),
                      stride=random_hyper(rng, 1, 4), padding=random_hyper(rng, 0, 3),
                      dilation=random_hyper(rng, 1, 3), depth_multiplier=int(rng.integers(1, 4)))
        (h, w), (kh, kw), (ph, pw), (dh, dw) = (
            _pair(kwargs[k]) for k in ("input_size", "kernel_size", "padding", "dilation"))
        if not (fits(h, kh, ph, dh) and fits(w, kw, pw, dw)):
            continue
        checked += 1
        expected = reference.arithmetic.separable_conv_macs(**kwargs)
        got = student.arithmetic.separable_conv_macs(**kwargs)
        assert_int(got, expected, f"separable_conv_macs({kwargs_text(**kwargs)})")
