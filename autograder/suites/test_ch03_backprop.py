"""Grading suite of chapter 3, backpropagation: the three gradients of a convolution (loops, and
as matrix products with groups), max and average pooling forward and backward, global average
pooling.

Public checks use the chapter's worked examples, SciPy's results (`autograder.oracle`) and
numerical gradients (central differences, as in the given `cnnlab.gradcheck`) of forward passes
written here in NumPy, so that every exercise is graded on its own: a bug in one function never
costs points in another. Hidden tests compare with the reference solution on many seeded random
cases: overlapping windows (kernel > stride, like AlexNet's 3x3 stride-2 pooling), padding,
stride larger than the kernel, dilation, ties, non-square sizes, float32 and float64.
"""

import numpy as np
import pytest

from autograder import oracle  # scipy.signal's results (importing SciPy costs ~1 s)
from autograder.feedback import assert_close, describe_array
from autograder.numerical import NUMERICAL, numerical_gradient

DTYPES = (np.float64, np.float32)

# Calls each exercise must not make (autograder/forbidden.py checks the student's source): no
# autograd, no library convolution or window views.
LIBRARY_SHORTCUTS = ("torch", "scipy.signal", "scipy.ndimage", "numpy.lib.stride_tricks")
FORBIDDEN = {exercise: (functions, LIBRARY_SHORTCUTS) for exercise, functions in {
    "conv2d_backward_input": ("conv.conv2d_backward_input",),
    "conv2d_backward_weight": ("conv.conv2d_backward_weight",),
    "conv2d_backward_bias": ("conv.conv2d_backward_bias",),
    "maxpool2d_forward": ("pooling.maxpool2d_forward",),
    "maxpool2d_backward": ("pooling.maxpool2d_backward",),
    "avgpool2d_forward": ("pooling.avgpool2d_forward",),
    "avgpool2d_backward": ("pooling.avgpool2d_backward",),
    "global_avgpool2d": ("pooling.global_avgpool2d_forward", "pooling.global_avgpool2d_backward"),
}.items()}

# The chapter's worked pooling example: a (1, 2, 4, 4) input, 2x2 windows, stride 2.
WORKED_X = np.array([[
    [[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]],
    [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [3, 4, 5, 6]],
]])
WORKED_DY = np.array([[[[1, 2], [2, 4]], [[3, 5], [8, 2]]]])

# The chapter's hand-derived convolution backward: 3x3 input 1..9, 2x2 kernel, stride 1.
CONV_X = np.arange(1, 10).reshape(1, 1, 3, 3)
CONV_W = np.array([[[[1, 2], [3, 4]]]])
CONV_DY = np.array([[[[1, -1], [2, 0]]]])

# Fixed convolutions for the public numerical gradient checks: (x shape, w shape, hyper-params).
CONV_CHECKS = (
    ((1, 1, 5, 5), (1, 1, 3, 3), dict(stride=1, padding=0, dilation=1)),
    ((2, 3, 7, 6), (2, 3, 3, 3), dict(stride=2, padding=1, dilation=1)),  # overlapping windows
    ((1, 2, 7, 8), (3, 2, 2, 1), dict(stride=(3, 2), padding=0, dilation=1)),  # stride > kernel
    ((2, 1, 6, 7), (2, 1, 2, 3), dict(stride=(1, 2), padding=(2, 1), dilation=1)),
    ((1, 2, 8, 7), (1, 2, 3, 2), dict(stride=1, padding=(1, 0), dilation=(2, 3))),
)

# Fixed poolings for the public checks: (x shape, keyword arguments).
POOL_CHECKS = (
    ((1, 1, 4, 4), dict(kernel_size=2)),  # stride defaults to the kernel size
    ((1, 2, 7, 7), dict(kernel_size=3, stride=2)),  # overlapping windows (AlexNet)
    ((2, 1, 5, 6), dict(kernel_size=(3, 2), stride=1, padding=(1, 1))),
    ((1, 2, 8, 7), dict(kernel_size=2, stride=3)),  # stride > kernel: some inputs unused
    ((1, 1, 6, 9), dict(kernel_size=(2, 4), stride=(1, 3), padding=(1, 2))),
)


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def numpy_conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """The forward convolution in NumPy (the oracle of the numerical gradients): one einsum per
    kernel tap (i, j), over the strided slice of the padded input that tap sees."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    kh, kw = w.shape[2:]
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (xpad.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xpad.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], w.shape[0], oh, ow)) if b is None else np.tile(
        np.asarray(b, dtype=float)[:, None, None], (x.shape[0], 1, oh, ow))
    for i in range(kh):
        for j in range(kw):
            seen = xpad[:, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                        j * dw : j * dw + sw * (ow - 1) + 1 : sw]
            out += np.einsum("nchw,oc->nohw", seen, w[:, :, i, j])
    return out


def numpy_pool(kind, x, kernel_size, stride=None, padding=0):
    """Max ("max") or average ("avg") pooling in NumPy, over the windows of x padded with -inf
    (max) or zeros (avg, counted in the divisor)."""
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = (kh, kw) if stride is None else _pair(stride)
    fill = -np.inf if kind == "max" else 0
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    windows = np.lib.stride_tricks.sliding_window_view(xpad, (kh, kw), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw]
    return windows.max(axis=(4, 5)) if kind == "max" else windows.mean(axis=(4, 5))


def pool_out_shape(shape, kernel_size, stride=None, padding=0):
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = (kh, kw) if stride is None else _pair(stride)
    n, c, h, w = shape
    return n, c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _maybe_int(rng, pair):
    """An (h, w) pair, or the int itself when both are equal, half of the time."""
    return pair[0] if pair[0] == pair[1] and rng.random() < 0.5 else pair


def conv_cases(seed, count, dtype):
    """Random convolutions (x, w, dy, hyper-parameters) of `dtype`: N 1..2, C and O 1..3,
    H and W 1..9, kernels 1..4, strides 1..3, padding 0..2, dilation 1..2, non-square.

    Every fourth case has overlapping windows (3x3 kernel, stride 2), every fourth one a stride
    larger than the kernel, every fourth one a 1x1 kernel.
    """
    rng = np.random.default_rng(seed)
    made = 0
    while made < count:
        n, c, o = (int(v) for v in rng.integers(1, [3, 4, 4]))
        h, w, kh, kw = (int(v) for v in rng.integers(1, [10, 10, 5, 5]))
        stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
        padding = tuple(int(v) for v in rng.integers(0, 3, size=2))
        dilation = tuple(int(v) for v in rng.integers(1, 3, size=2))
        kind = made % 4
        if kind == 0:
            kh, kw, stride, dilation = 3, 3, (2, 2), (1, 1)
        elif kind == 1:
            stride, dilation = (kh + int(rng.integers(1, 3)), kw + int(rng.integers(1, 3))), (1, 1)
        elif kind == 2:
            kh, kw = 1, 1
        if dilation[0] * (kh - 1) >= h + 2 * padding[0]:
            continue
        if dilation[1] * (kw - 1) >= w + 2 * padding[1]:
            continue
        oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        weights = rng.standard_normal((o, c, kh, kw)).astype(dtype)
        dy = rng.standard_normal((n, o, oh, ow)).astype(dtype)
        hyper = {name: _maybe_int(rng, value) for name, value in
                 (("stride", stride), ("padding", padding), ("dilation", dilation))}
        made += 1
        yield x, weights, dy, hyper


def pool_cases(seed, count, ties=False):
    """Random poolings (x, dy, kwargs): N 1..2, C 1..3, H and W 1..9, kernels 1..4, padding up
    to half the kernel, float64 and float32 in turn.

    Every third case has overlapping windows (AlexNet's 3x3 kernel, stride 2), every third one a
    stride larger than the kernel, the others a random stride (or the default, the kernel size).
    With `ties`, x holds integers 0..2, so that most windows have several maxima.
    """
    rng = np.random.default_rng(seed)
    made = 0
    while made < count:
        n, c = (int(v) for v in rng.integers(1, [3, 4]))
        h, w, kh, kw = (int(v) for v in rng.integers(1, [10, 10, 5, 5]))
        kind = made % 3
        if kind == 0:
            kh, kw, stride = 3, 3, (2, 2)
        elif kind == 1:
            stride = (kh + int(rng.integers(1, 3)), kw + int(rng.integers(1, 3)))
        else:
            stride = None if rng.random() < 0.3 else tuple(int(v) for v in rng.integers(1, 4, 2))
        padding = (int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1)))
        if h + 2 * padding[0] < kh or w + 2 * padding[1] < kw:
            continue
        dtype = DTYPES[made % 2]
        shape = (n, c, h, w)
        x = rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)
        x = x.astype(dtype)
        kwargs = {"kernel_size": _maybe_int(rng, (kh, kw)),
                  "stride": stride if stride is None else _maybe_int(rng, stride),
                  "padding": _maybe_int(rng, padding)}
        dy = rng.standard_normal(pool_out_shape(shape, **kwargs)).astype(dtype)
        made += 1
        yield x, dy, kwargs


def hyper_text(hyper):
    return ", ".join(f"{name}={value!r}" for name, value in hyper.items())


def conv_call(name, dy, first, second, hyper):
    """'conv2d_backward_input(dy 1x2x3x3 float64, x_shape (1, 1, 5, 5), w ..., stride=2, ...)'"""
    def text(label, a):
        return f"{label} {a!r}" if isinstance(a, tuple) else f"{label} {describe_array(a)}"

    labels = {"conv2d_backward_input": ("x_shape", "w"),
              "conv2d_backward_weight": ("x", "w_shape")}[name]
    args = [f"dy {describe_array(dy)}", text(labels[0], first), text(labels[1], second)]
    return f"{name}({', '.join(args)}, {hyper_text(hyper)})"


def pool_call(name, arrays, kwargs):
    """'maxpool2d_backward(dy 1x1x2x2 float64, x 1x1x4x4 float64, kernel_size=2, ...)'"""
    args = [f"{label} {describe_array(a)}" for label, a in arrays]
    return f"{name}({', '.join(args)}, {hyper_text(kwargs)})"


# --- conv2d_backward_input -----------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("conv2d_backward_input", points=1)
def test_conv2d_backward_input_worked_example(student):
    """hand-derived 3x3 input / 2x2 kernel example; dx = scipy.signal.convolve2d(dy, w, 'full')"""
    expected = np.array([[[[1, 1, -2], [5, 5, -4], [6, 8, 0]]]], dtype=np.float64)
    got = student.conv.conv2d_backward_input(CONV_DY, CONV_X.shape, CONV_W)
    assert_close(got, expected, "conv2d_backward_input(dy [[1,-1],[2,0]], x_shape (1, 1, 3, 3), "
                                "w [[1,2],[3,4]]) (worked example)")
    # One channel, stride 1, no padding: dx is the full convolution of dy with the kernel.
    rng = np.random.default_rng(1)
    for h, w, kh, kw in [(5, 5, 3, 3), (6, 4, 2, 3), (4, 7, 4, 1), (3, 3, 1, 1)]:
        kernel = rng.standard_normal((1, 1, kh, kw))
        dy = rng.standard_normal((1, 1, h - kh + 1, w - kw + 1))
        expected = oracle.convolve2d(dy[0, 0], kernel[0, 0], "full")[None, None]
        got = student.conv.conv2d_backward_input(dy, (1, 1, h, w), kernel)
        assert_close(got, expected, conv_call("conv2d_backward_input", dy, (1, 1, h, w), kernel,
                                              {"stride": 1, "padding": 0, "dilation": 1}))


@pytest.mark.public
@pytest.mark.grade("conv2d_backward_input", points=1)
def test_conv2d_backward_input_numerical_gradient(student):
    """dx agrees with central differences (stride, padding, dilation, several channels)"""
    rng = np.random.default_rng(2)
    for x_shape, w_shape, hyper in CONV_CHECKS:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        dy = rng.standard_normal(numpy_conv2d(x, w, **hyper).shape)
        expected = numerical_gradient(lambda x, w=w, h=hyper: numpy_conv2d(x, w, **h), x, dy)
        got = student.conv.conv2d_backward_input(dy, x_shape, w, **hyper)
        assert_close(got, expected, conv_call("conv2d_backward_input", dy, x_shape, w, hyper)
                     + " vs central differences", **NUMERICAL)


@pytest.mark.grade("conv2d_backward_input", points=1)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_conv2d_backward_input_random(student, reference, dtype):
    """random cases: overlapping windows, padding, stride > kernel, dilation, 1x1 kernels"""
    for x, w, dy, hyper in conv_cases(30 + DTYPES.index(dtype), 50, dtype):
        expected = reference.conv.conv2d_backward_input(dy, x.shape, w, **hyper)
        got = student.conv.conv2d_backward_input(dy, x.shape, w, **hyper)
        assert_close(got, expected, conv_call("conv2d_backward_input", dy, x.shape, w, hyper))


# --- conv2d_backward_weight ----------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("conv2d_backward_weight", points=1)
def test_conv2d_backward_weight_worked_example(student):
    """hand-derived 3x3 input / 2x2 kernel example; dw = scipy.signal.correlate2d(x, dy, 'valid')"""
    expected = np.array([[[[7, 9], [13, 15]]]], dtype=np.float64)
    got = student.conv.conv2d_backward_weight(CONV_DY, CONV_X, CONV_W.shape)
    assert_close(got, expected, "conv2d_backward_weight(dy [[1,-1],[2,0]], x 1..9 (3x3), "
                                "w_shape (1, 1, 2, 2)) (worked example)")
    # One channel, stride 1, no padding: dw is the valid correlation of x with dy.
    rng = np.random.default_rng(3)
    for h, w, kh, kw in [(5, 5, 3, 3), (6, 4, 2, 3), (4, 7, 4, 1), (3, 3, 1, 1)]:
        x = rng.standard_normal((1, 1, h, w))
        dy = rng.standard_normal((1, 1, h - kh + 1, w - kw + 1))
        expected = oracle.correlate2d(x[0, 0], dy[0, 0], "valid")[None, None]
        got = student.conv.conv2d_backward_weight(dy, x, (1, 1, kh, kw))
        assert_close(got, expected, conv_call("conv2d_backward_weight", dy, x, (1, 1, kh, kw),
                                              {"stride": 1, "padding": 0, "dilation": 1}))


@pytest.mark.public
@pytest.mark.grade("conv2d_backward_weight", points=1)
def test_conv2d_backward_weight_numerical_gradient(student):
    """dw agrees with central differences (stride, padding, dilation, batches)"""
    rng = np.random.default_rng(4)
    for x_shape, w_shape, hyper in CONV_CHECKS:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        dy = rng.standard_normal(numpy_conv2d(x, w, **hyper).shape)
        expected = numerical_gradient(lambda w, x=x, h=hyper: numpy_conv2d(x, w, **h), w, dy)
        got = student.conv.conv2d_backward_weight(dy, x, w_shape, **hyper)
        assert_close(got, expected, conv_call("conv2d_backward_weight", dy, x, w_shape, hyper)
                     + " vs central differences", **NUMERICAL)


@pytest.mark.grade("conv2d_backward_weight", points=1)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_conv2d_backward_weight_random(student, reference, dtype):
    """random cases: overlapping windows, padding, stride > kernel, dilation, 1x1 kernels"""
    for x, w, dy, hyper in conv_cases(40 + DTYPES.index(dtype), 50, dtype):
        expected = reference.conv.conv2d_backward_weight(dy, x, w.shape, **hyper)
        got = student.conv.conv2d_backward_weight(dy, x, w.shape, **hyper)
        assert_close(got, expected, conv_call("conv2d_backward_weight", dy, x, w.shape, hyper))


# --- conv2d_backward_bias ------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("conv2d_backward_bias", points=1)
def test_conv2d_backward_bias_numerical_gradient(student):
    """worked example (db = [2]); db agrees with central differences (batches, several filters)"""
    assert_close(student.conv.conv2d_backward_bias(CONV_DY), np.array([2.0]),
                 "conv2d_backward_bias(dy [[1,-1],[2,0]]) (worked example)")
    rng = np.random.default_rng(5)
    for x_shape, w_shape, hyper in CONV_CHECKS:
        x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), np.zeros(w_shape[0])
        dy = rng.standard_normal(numpy_conv2d(x, w, **hyper).shape)
        expected = numerical_gradient(
            lambda b, x=x, w=w, h=hyper: numpy_conv2d(x, w, b, **h), b, dy)
        got = student.conv.conv2d_backward_bias(dy)
        assert_close(got, expected, f"conv2d_backward_bias(dy {describe_array(dy)}) vs central "
                                    "differences", **NUMERICAL)


@pytest.mark.grade("conv2d_backward_bias", points=1)
def test_conv2d_backward_bias_random(student, reference):
    """random upstream gradients (batches, several filters, float32 and float64)"""
    for dtype in DTYPES:
        for _, _, dy, _ in conv_cases(50 + DTYPES.index(dtype), 30, dtype):
            expected = reference.conv.conv2d_backward_bias(dy)
            got = student.conv.conv2d_backward_bias(dy)
            assert_close(got, expected, f"conv2d_backward_bias(dy {describe_array(dy)})")


# --- conv2d_backward_gemm ------------------------------------------------------------------

# Public cases of the GEMM backward: (x shape, w shape, hyper-parameters, groups).
GEMM_CHECKS = (
    *((x_shape, w_shape, hyper, 1) for x_shape, w_shape, hyper in CONV_CHECKS),
    ((2, 4, 6, 5), (6, 2, 3, 3), dict(stride=1, padding=1, dilation=1), 2),
    ((1, 6, 7, 7), (3, 2, 3, 2), dict(stride=2, padding=(1, 0), dilation=1), 3),
    ((2, 3, 6, 6), (6, 1, 3, 3), dict(stride=1, padding=1, dilation=(2, 1)), 3),  # depthwise
)


def numpy_grouped_conv2d(x, w, b=None, groups=1, **hyper):
    """`numpy_conv2d` of every group of channels with its group of filters, concatenated."""
    cg, og = x.shape[1] // groups, w.shape[0] // groups
    return np.concatenate([
        numpy_conv2d(x[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og],
                     None if b is None else b[g * og:(g + 1) * og], **hyper)
        for g in range(groups)], axis=1)


def gemm_cases(seed, count, dtype):
    """`conv_cases` with groups = 1, 2, 3 in turn: C and O become groups times larger."""
    rng = np.random.default_rng(seed + 1000)
    for index, (x, w, dy, hyper) in enumerate(conv_cases(seed, count, dtype)):
        groups = 1 + index % 3
        (n, c, h, wd), (o, _, kh, kw) = x.shape, w.shape
        x = rng.standard_normal((n, groups * c, h, wd)).astype(dtype)
        w = rng.standard_normal((groups * o, c, kh, kw)).astype(dtype)
        dy = rng.standard_normal((n, groups * o, *dy.shape[2:])).astype(dtype)
        yield x, w, dy, hyper, groups


def gemm_call(dy, x, w, hyper, groups):
    """'conv2d_backward_gemm(dy 1x2x3x3 float64, x ..., w ..., stride=2, ..., groups=2)'"""
    return (f"conv2d_backward_gemm(dy {describe_array(dy)}, x {describe_array(x)}, "
            f"w {describe_array(w)}, {hyper_text(hyper)}, groups={groups})")


def gemm_hint(name, w_shape, hyper, groups):
    """What a wrong `name` (dx, dw or db) of conv2d_backward_gemm most likely got wrong."""
    (kh, kw), (sh, sw), (dh, dw) = w_shape[2:], _pair(hyper["stride"]), _pair(hyper["dilation"])
    if groups > 1 and name != "db":
        return (f"with groups={groups}, filters g*O/G ... (g+1)*O/G - 1 see only the channels "
                "g*C/G ... (g+1)*C/G - 1: take x, w and dy group by group, and put group g's dx "
                "into its own channels and its dw into its own filters")
    if name == "dx" and (dh * (kh - 1) + 1 > sh or dw * (kw - 1) + 1 > sw):
        return ("here windows overlap: a pixel under several windows receives the sum of their "
                "gradients, so col2im must add (+=) the columns, not assign (=) them")
    if name == "dx":
        return ("dcols = W^T @ dY: (C*KH*KW, O) @ (O, OH*OW) for every image, then "
                "dx = col2im(dcols, (H, W), (KH, KW), stride, padding, dilation)")
    if name == "dw":
        return ("dW = dY @ cols^T: (O, OH*OW) @ (OH*OW, C*KH*KW) summed over the images, then "
                "reshaped to w's shape (O, C, KH, KW); a transposed product gives (C*KH*KW, O), "
                "which reshapes without an error but mixes up the weights")
    return "db is dy summed over the images and the pixels, one value per filter"


def check_gemm(got, expected, call, w_shape, hyper, groups, **tolerances):
    """Compare the (dx, dw, db) of conv2d_backward_gemm, with a hint for the first wrong one."""
    if not (isinstance(got, tuple) and len(got) == 3):
        raise AssertionError(f"{call} must return a tuple (dx, dw, db), got {type(got).__name__}")
    for name, mine, theirs in zip(("dx", "dw", "db"), got, expected, strict=True):
        try:
            assert_close(mine, theirs, f"{call}: {name}", **tolerances)
        except AssertionError as error:
            hint = gemm_hint(name, w_shape, hyper, groups)
            raise AssertionError(f"{error}\n  hint: {hint}") from None


@pytest.mark.public
@pytest.mark.grade("conv2d_backward_gemm", points=1)
def test_conv2d_backward_gemm_worked_example(student):
    """the hand-derived example; the same layer as two groups of one channel"""
    expected = (np.array([[[[1, 1, -2], [5, 5, -4], [6, 8, 0]]]], dtype=np.float64),
                np.array([[[[7, 9], [13, 15]]]], dtype=np.float64), np.array([2.0]))
    hyper = {"stride": 1, "padding": 0, "dilation": 1}
    got = student.conv.conv2d_backward_gemm(CONV_DY, CONV_X, CONV_W)
    check_gemm(got, expected, "conv2d_backward_gemm(dy [[1,-1],[2,0]], x 1..9 (3x3), "
               "w [[1,2],[3,4]]) (worked example)", CONV_W.shape, hyper, 1)
    # Two copies of the example side by side as two groups: each group its own worked example.
    x2, w2 = np.concatenate([CONV_X, -CONV_X], 1), np.concatenate([CONV_W, 2 * CONV_W])
    dy2 = np.concatenate([CONV_DY, CONV_DY], 1)
    expected2 = (np.concatenate([expected[0], 2 * expected[0]], 1),
                 np.concatenate([expected[1], -expected[1]]), np.array([2.0, 2.0]))
    got = student.conv.conv2d_backward_gemm(dy2, x2, w2, groups=2)
    check_gemm(got, expected2, "conv2d_backward_gemm(worked example and its negative as two "
               "groups, groups=2)", w2.shape, hyper, 2)


@pytest.mark.public
@pytest.mark.grade("conv2d_backward_gemm", points=1)
def test_conv2d_backward_gemm_numerical_gradient(student):
    """dx, dw, db agree with central differences (stride, padding, dilation, groups)"""
    rng = np.random.default_rng(6)
    for x_shape, w_shape, hyper, groups in GEMM_CHECKS:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        b = rng.standard_normal(w_shape[0])
        dy = rng.standard_normal(numpy_grouped_conv2d(x, w, b, groups, **hyper).shape)

        def forward(x=x, w=w, b=b, h=hyper, g=groups):
            return numpy_grouped_conv2d(x, w, b, g, **h)

        expected = (numerical_gradient(lambda x: forward(x=x), x, dy),
                    numerical_gradient(lambda w: forward(w=w), w, dy),
                    numerical_gradient(lambda b: forward(b=b), b, dy))
        got = student.conv.conv2d_backward_gemm(dy, x, w, **hyper, groups=groups)
        check_gemm(got, expected, gemm_call(dy, x, w, hyper, groups) + " vs central differences",
                   w_shape, hyper, groups, **NUMERICAL)


@pytest.mark.grade("conv2d_backward_gemm", points=1)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_conv2d_backward_gemm_random(student, reference, dtype):
    """random cases with groups 1-3: overlapping windows, padding, stride > kernel, dilation"""
    for x, w, dy, hyper, groups in gemm_cases(60 + DTYPES.index(dtype), 45, dtype):
        expected = reference.conv.conv2d_backward_gemm(dy, x, w, **hyper, groups=groups)
        got = student.conv.conv2d_backward_gemm(dy, x, w, **hyper, groups=groups)
        check_gemm(got, expected, gemm_call(dy, x, w, hyper, groups), w.shape, hyper, groups)


# --- maxpool2d_forward ---------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("maxpool2d_forward", points=1)
def test_maxpool2d_forward_worked_example(student):
    """the worked example (2x2, stride 2), and padding never wins over negative inputs"""
    expected = np.array([[[[6, 8], [3, 4]], [[5, 7], [9, 6]]]], dtype=np.float64)
    got = student.pooling.maxpool2d_forward(WORKED_X, 2, stride=2)
    assert_close(got, expected, "maxpool2d_forward(x 1x2x4x4 worked example, kernel_size=2, "
                                "stride=2)")
    x = -np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    expected = -np.array([[[[1, 1, 2, 3], [1, 1, 2, 3], [4, 4, 5, 6], [7, 7, 8, 9]]]], dtype=float)
    got = student.pooling.maxpool2d_forward(x, 2, stride=1, padding=1)
    assert_close(got, expected, "maxpool2d_forward(x -[[1,2,3],[4,5,6],[7,8,9]], kernel_size=2, "
                                "stride=1, padding=1)")


@pytest.mark.public
@pytest.mark.grade("maxpool2d_forward", points=1)
def test_maxpool2d_forward_matches_numpy(student):
    """agrees with a NumPy max over windows (overlapping, padding, stride > kernel, float32)"""
    rng = np.random.default_rng(6)
    for case, (shape, kwargs) in enumerate(POOL_CHECKS):
        x = rng.standard_normal(shape).astype(DTYPES[case % 2])
        got = student.pooling.maxpool2d_forward(x, **kwargs)
        assert_close(got, numpy_pool("max", x, **kwargs),
                     pool_call("maxpool2d_forward", [("x", x)], kwargs))


@pytest.mark.grade("maxpool2d_forward", points=1)
def test_maxpool2d_forward_random(student, reference):
    """random cases with and without ties (overlapping, padding, stride > kernel, float32)"""
    for ties in (False, True):
        for x, _, kwargs in pool_cases(60 + ties, 30, ties):
            expected = reference.pooling.maxpool2d_forward(x, **kwargs)
            got = student.pooling.maxpool2d_forward(x, **kwargs)
            assert_close(got, expected, pool_call("maxpool2d_forward", [("x", x)], kwargs))


# --- maxpool2d_backward --------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("maxpool2d_backward", points=1)
def test_maxpool2d_backward_worked_example(student):
    """worked example: each gradient goes to its window's maximum; ties: to the first maximum"""
    expected = np.array([[
        [[0, 0, 0, 0], [0, 1, 0, 2], [2, 0, 0, 0], [0, 0, 0, 4]],
        [[0, 0, 0, 0], [0, 3, 0, 5], [0, 8, 0, 0], [0, 0, 0, 2]],
    ]], dtype=np.float64)
    got = student.pooling.maxpool2d_backward(WORKED_DY, WORKED_X, 2, stride=2)
    assert_close(got, expected, "maxpool2d_backward(dy [[1,2],[2,4]],[[3,5],[8,2]], x 1x2x4x4 "
                                "worked example, kernel_size=2, stride=2)")
    # All ones: every 2x2 window (stride 1) ties; its first maximum in row-major order, its
    # top-left corner, gets the window's whole gradient (like PyTorch).
    dy = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    expected = np.array([[[[1, 10, 0], [100, 1000, 0], [0, 0, 0]]]], dtype=np.float64)
    got = student.pooling.maxpool2d_backward(dy, np.ones((1, 1, 3, 3)), 2, stride=1)
    assert_close(got, expected, "maxpool2d_backward(dy [[1,10],[100,1000]], x ones 3x3 (ties), "
                                "kernel_size=2, stride=1)")


@pytest.mark.public
@pytest.mark.grade("maxpool2d_backward", points=1)
def test_maxpool2d_backward_numerical_gradient(student):
    """dx agrees with central differences (distinct values), and sum(dx) = sum(dy)"""
    rng = np.random.default_rng(7)
    for shape, kwargs in POOL_CHECKS:
        # Distinct values at least 1/size apart: a nudge of 1e-6 never changes a window's argmax.
        x = rng.permutation(np.prod(shape)).reshape(shape) / np.prod(shape)
        dy = rng.uniform(0.5, 1.5, pool_out_shape(shape, **kwargs))
        expected = numerical_gradient(lambda x, kw=kwargs: numpy_pool("max", x, **kw), x, dy)
        got = student.pooling.maxpool2d_backward(dy, x, **kwargs)
        call = pool_call("maxpool2d_backward", [("dy", dy), ("x", x)], kwargs)
        assert_close(got, expected, call + " vs central differences", **NUMERICAL)
        # Every window passes its whole gradient to one input: nothing is lost or made up.
        assert_close(np.sum(got, keepdims=True), np.sum(dy, keepdims=True),
                     f"sum of {call}, expected the sum of dy")


@pytest.mark.grade("maxpool2d_backward", points=1)
def test_maxpool2d_backward_random(student, reference):
    """random cases (overlapping windows, padding, stride > kernel, float32 and float64)"""
    for x, dy, kwargs in pool_cases(70, 60):
        expected = reference.pooling.maxpool2d_backward(dy, x, **kwargs)
        got = student.pooling.maxpool2d_backward(dy, x, **kwargs)
        assert_close(got, expected, pool_call("maxpool2d_backward", [("dy", dy), ("x", x)], kwargs))


@pytest.mark.grade("maxpool2d_backward", points=1)
def test_maxpool2d_backward_ties(student, reference):
    """random cases with ties (inputs 0, 1, 2): the first maximum of each window gets it all"""
    for x, dy, kwargs in pool_cases(71, 60, ties=True):
        expected = reference.pooling.maxpool2d_backward(dy, x, **kwargs)
        got = student.pooling.maxpool2d_backward(dy, x, **kwargs)
        assert_close(got, expected, pool_call("maxpool2d_backward", [("dy", dy), ("x", x)], kwargs))


# --- avgpool2d_forward ---------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("avgpool2d_forward", points=1)
def test_avgpool2d_forward_worked_example(student):
    """the worked example (2x2, stride 2), and padded zeros count in the divisor (always KH*KW)"""
    expected = np.array([[[[3.25, 5.25], [2, 2]], [[2.5, 4.5], [6, 3]]]])
    got = student.pooling.avgpool2d_forward(WORKED_X, 2, stride=2)
    assert_close(got, expected, "avgpool2d_forward(x 1x2x4x4 worked example, kernel_size=2, "
                                "stride=2)")
    # A corner window of a 3x3 image of ones, padded by 1, holds 4 ones and 5 padded zeros.
    expected = np.array([[[[4, 6, 4], [6, 9, 6], [4, 6, 4]]]]) / 9
    got = student.pooling.avgpool2d_forward(np.ones((1, 1, 3, 3)), 3, stride=1, padding=1)
    assert_close(got, expected, "avgpool2d_forward(x ones 3x3, kernel_size=3, stride=1, "
                                "padding=1)")


@pytest.mark.public
@pytest.mark.grade("avgpool2d_forward", points=1)
def test_avgpool2d_forward_matches_numpy(student):
    """agrees with a NumPy mean over windows (overlapping, padding, stride > kernel, float32)"""
    rng = np.random.default_rng(8)
    for case, (shape, kwargs) in enumerate(POOL_CHECKS):
        x = rng.standard_normal(shape).astype(DTYPES[case % 2])
        got = student.pooling.avgpool2d_forward(x, **kwargs)
        assert_close(got, numpy_pool("avg", x, **kwargs),
                     pool_call("avgpool2d_forward", [("x", x)], kwargs))


@pytest.mark.grade("avgpool2d_forward", points=1)
def test_avgpool2d_forward_random(student, reference):
    """random cases (overlapping windows, padding, stride > kernel, float32 and float64)"""
    for x, _, kwargs in pool_cases(80, 60):
        expected = reference.pooling.avgpool2d_forward(x, **kwargs)
        got = student.pooling.avgpool2d_forward(x, **kwargs)
        assert_close(got, expected, pool_call("avgpool2d_forward", [("x", x)], kwargs))


# --- avgpool2d_backward --------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("avgpool2d_backward", points=1)
def test_avgpool2d_backward_worked_example(student):
    """worked example: dy/4 to each input of a window; with padding, shares are still dy/(KH*KW)"""
    expected = np.array([[
        [[0.25, 0.25, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5], [0.5, 0.5, 1, 1], [0.5, 0.5, 1, 1]],
        [[0.75, 0.75, 1.25, 1.25], [0.75, 0.75, 1.25, 1.25], [2, 2, 0.5, 0.5], [2, 2, 0.5, 0.5]],
    ]])
    got = student.pooling.avgpool2d_backward(WORKED_DY, WORKED_X, 2, stride=2)
    assert_close(got, expected, "avgpool2d_backward(dy [[1,2],[2,4]],[[3,5],[8,2]], x 1x2x4x4 "
                                "worked example, kernel_size=2, stride=2)")
    # dy all ones, 3x3 windows, stride 1, padding 1: each input gets 1/9 from every window
    # covering it (4 for a corner); the shares of padded positions are dropped.
    ones = np.ones((1, 1, 3, 3))
    expected = np.array([[[[4, 6, 4], [6, 9, 6], [4, 6, 4]]]]) / 9
    got = student.pooling.avgpool2d_backward(ones, ones, 3, stride=1, padding=1)
    assert_close(got, expected, "avgpool2d_backward(dy ones 3x3, x 3x3, kernel_size=3, stride=1, "
                                "padding=1)")


@pytest.mark.public
@pytest.mark.grade("avgpool2d_backward", points=1)
def test_avgpool2d_backward_numerical_gradient(student):
    """dx agrees with central differences; without padding, sum(dx) = sum(dy)"""
    rng = np.random.default_rng(9)
    for shape, kwargs in POOL_CHECKS:
        x = rng.standard_normal(shape)
        dy = rng.uniform(0.5, 1.5, pool_out_shape(shape, **kwargs))
        expected = numerical_gradient(lambda x, kw=kwargs: numpy_pool("avg", x, **kw), x, dy)
        got = student.pooling.avgpool2d_backward(dy, x, **kwargs)
        call = pool_call("avgpool2d_backward", [("dy", dy), ("x", x)], kwargs)
        assert_close(got, expected, call + " vs central differences", **NUMERICAL)
        if kwargs.get("padding", 0) == 0:  # every window lies inside x: nothing is dropped
            assert_close(np.sum(got, keepdims=True), np.sum(dy, keepdims=True),
                         f"sum of {call}, expected the sum of dy")


@pytest.mark.grade("avgpool2d_backward", points=1)
def test_avgpool2d_backward_random(student, reference):
    """random cases (overlapping windows, padding, stride > kernel, float32 and float64)"""
    for x, dy, kwargs in pool_cases(90, 60):
        expected = reference.pooling.avgpool2d_backward(dy, x, **kwargs)
        got = student.pooling.avgpool2d_backward(dy, x, **kwargs)
        assert_close(got, expected, pool_call("avgpool2d_backward", [("dy", dy), ("x", x)], kwargs))


# --- global_avgpool2d ----------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("global_avgpool2d", points=1)
def test_global_avgpool2d_mean_and_numerical_gradient(student):
    """forward: x.mean((2, 3), keepdims=True); backward: agrees with central differences"""
    x = np.arange(40.0).reshape(1, 2, 4, 5)
    assert_close(student.pooling.global_avgpool2d_forward(x), np.array([[[[9.5]], [[29.5]]]]),
                 "global_avgpool2d_forward(x 0..39 as 1x2x4x5)")
    rng = np.random.default_rng(10)
    for shape in [(2, 3, 4, 5), (1, 2, 1, 7), (3, 1, 6, 1)]:
        x = rng.standard_normal(shape).astype(DTYPES[shape[0] % 2])
        assert_close(student.pooling.global_avgpool2d_forward(x), x.mean((2, 3), keepdims=True),
                     f"global_avgpool2d_forward(x {describe_array(x)})")
        x = x.astype(np.float64)
        dy = rng.standard_normal(shape[:2] + (1, 1))
        expected = numerical_gradient(lambda x: x.mean((2, 3), keepdims=True), x, dy)
        got = student.pooling.global_avgpool2d_backward(dy, x)
        assert_close(got, expected, f"global_avgpool2d_backward(dy {describe_array(dy)}, "
                                    f"x {describe_array(x)}) vs central differences", **NUMERICAL)


@pytest.mark.grade("global_avgpool2d", points=1)
def test_global_avgpool2d_random(student, reference):
    """random non-square inputs, forward and backward, float32 and float64"""
    rng = np.random.default_rng(11)
    for case in range(40):
        shape = tuple(int(v) for v in rng.integers(1, [3, 4, 10, 10]))
        dtype = DTYPES[case % 2]
        x = rng.standard_normal(shape).astype(dtype)
        dy = rng.standard_normal(shape[:2] + (1, 1)).astype(dtype)
        assert_close(student.pooling.global_avgpool2d_forward(x),
                     reference.pooling.global_avgpool2d_forward(x),
                     f"global_avgpool2d_forward(x {describe_array(x)})")
        assert_close(student.pooling.global_avgpool2d_backward(dy, x),
                     reference.pooling.global_avgpool2d_backward(dy, x),
                     f"global_avgpool2d_backward(dy {describe_array(dy)}, x {describe_array(x)})")
