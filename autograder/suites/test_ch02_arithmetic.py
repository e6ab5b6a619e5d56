"""Grading suite of chapter 2, convolution arithmetic and the multi-channel forward pass.

Exercises: conv_output_size, transposed_conv_output_size, conv_params, conv_macs, receptive_field
(`cnnlab.arithmetic`), conv2d_forward, im2col (with col2im) and conv2d_forward_gemm (`cnnlab.conv`).

Public checks use the chapter's worked examples and small oracles written here in plain NumPy
(which every learner has); hidden tests compare with the reference solution on many random cases:
non-square inputs and kernels, asymmetric (h, w) stride/padding/dilation pairs, batch and channel
sizes of 1, float32 and float64, with and without bias.
"""

from numbers import Integral

import numpy as np
import pytest

from autograder.feedback import assert_close, describe_array

DTYPES = (np.float64, np.float32)

# Calls each exercise must not make (autograder/forbidden.py checks the student's source).
LIBRARY_CONVOLUTION = ("torch", "scipy.signal", "scipy.ndimage", "numpy.lib.stride_tricks")
FORBIDDEN = {
    "conv2d_forward": (("conv.conv2d_forward",), LIBRARY_CONVOLUTION),
    "im2col": (("conv.im2col", "conv.col2im"), LIBRARY_CONVOLUTION),
    "conv2d_forward_gemm": (("conv.conv2d_forward_gemm",), LIBRARY_CONVOLUTION),
}


def assert_int(got, expected, call):
    """Fail with a message naming `call` unless `got` is the int `expected`."""
    if got is None:
        raise AssertionError(f"{call} returned None (a missing `return`?)")
    if isinstance(got, bool) or not isinstance(got, Integral):
        raise AssertionError(
            f"{call} returned {got!r} ({type(got).__name__}), expected the int {expected}"
        )
    assert got == expected, f"{call} returned {got}, expected {expected}"


def kwargs_text(**kwargs):
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def as_pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def random_hyper(rng, low, high):
    """An int, or (two times in three) an (h, w) pair, mostly asymmetric, in [low, high]."""
    if rng.random() < 1 / 3:
        return int(rng.integers(low, high + 1))
    return (int(rng.integers(low, high + 1)), int(rng.integers(low, high + 1)))


def kernel_fits(size, kernel, padding, dilation):
    return dilation * (kernel - 1) + 1 <= size + 2 * padding


# --- plain NumPy oracles for the public checks ----------------------------------------------


def windows(x, kernel_size, stride, padding, dilation):
    """All receptive fields of x (N, C, H, W) as an array (N, C, KH, KW, OH, OW).

    windows[n, c, i, j, y, x] = xpad[n, c, y * sh + i * dh, x * sw + j * dw], one strided slice of
    the zero-padded input per kernel tap (i, j).
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = map(as_pair, (kernel_size, stride, padding, dilation))
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (xpad.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xpad.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], x.shape[1], kh, kw, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i, j] = xpad[:, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                                   j * dw : j * dw + sw * (ow - 1) + 1 : sw]
    return out


def numpy_conv2d(x, w, b, stride, padding, dilation):
    """conv2d_forward as one einsum over the receptive fields."""
    out = np.einsum("ncijyx,ocij->noyx", windows(x, w.shape[2:], stride, padding, dilation), w)
    return out if b is None else out + b[None, :, None, None]


def numpy_im2col(x, kernel_size, stride, padding, dilation):
    win = windows(x, kernel_size, stride, padding, dilation)
    n, c, kh, kw, oh, ow = win.shape
    return win.reshape(n, c * kh * kw, oh * ow)


def numpy_col2im(cols, input_size, kernel_size, stride, padding, dilation):
    """col2im: every column added back onto its receptive field, one strided slice per tap."""
    (h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = map(
        as_pair, (input_size, kernel_size, stride, padding, dilation)
    )
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    n, rows, _ = cols.shape
    c = rows // (kh * kw)
    cols = cols.reshape(n, c, kh, kw, oh, ow)
    xpad = np.zeros((n, c, h + 2 * ph, w + 2 * pw), cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xpad[:, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                 j * dw : j * dw + sw * (ow - 1) + 1 : sw] += cols[:, :, i, j]
    return xpad[:, :, ph : ph + h, pw : pw + w]


# --- random convolution cases ---------------------------------------------------------------


def conv_cases(seed, count, dtypes=DTYPES, max_size=9, max_kernel=4, max_nco=3):
    """Random convolutions: (x, w, b, stride, padding, dilation) whose dilated kernel fits.

    N, C, O in 1..max_nco, non-square H x W in 1..max_size and KH x KW in 1..max_kernel;
    stride in 1..3, padding in 0..2, dilation in 1..3, each an int or an (h, w) pair; b is None
    in one case of three.
    """
    rng = np.random.default_rng(seed)
    case = 0
    while case < count:
        n, c, o = rng.integers(1, max_nco + 1, size=3)
        h, w = rng.integers(1, max_size + 1, size=2)
        kh, kw = rng.integers(1, max_kernel + 1, size=2)
        stride, padding, dilation = (
            random_hyper(rng, 1, 3), random_hyper(rng, 0, 2), random_hyper(rng, 1, 3)
        )
        (ph, pw), (dh, dw) = as_pair(padding), as_pair(dilation)
        if not (kernel_fits(h, kh, ph, dh) and kernel_fits(w, kw, pw, dw)):
            continue
        dtype = dtypes[case % len(dtypes)]
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        weights = rng.standard_normal((o, c, kh, kw)).astype(dtype)
        b = None if case % 3 == 2 else rng.standard_normal(o).astype(dtype)
        case += 1
        yield x, weights, b, stride, padding, dilation


def conv_text(name, x, w, b, stride, padding, dilation):
    bias = "None" if b is None else describe_array(b)
    return (f"{name}(x {describe_array(x)}, w {describe_array(w)}, b {bias}, "
            f"stride={stride!r}, padding={padding!r}, dilation={dilation!r})")


def unfold_text(name, shape, kernel_size, stride, padding, dilation):
    return (f"{name}({shape}, kernel_size={kernel_size!r}, stride={stride!r}, "
            f"padding={padding!r}, dilation={dilation!r})")


# The course's worked example (cs231n's demo): a 5x5x3 input padded by 1 to 7x7x3, two 3x3x3
# filters with stride 2, giving a 3x3x2 output volume.
DEMO_RNG = np.random.default_rng(13)
DEMO_X = DEMO_RNG.integers(0, 3, (1, 3, 5, 5))
DEMO_W = DEMO_RNG.integers(-1, 2, (2, 3, 3, 3))
DEMO_B = np.array([1, 0])


def check_demo(forward, name):
    """Shape (1, 2, 3, 3); every output is sum(window * filter) + bias, spelled out with np.sum."""
    call = f"{name}(5x5x3 input, two 3x3x3 filters, b=[1, 0], stride=2, padding=1)"
    got = forward(DEMO_X, DEMO_W, DEMO_B, stride=2, padding=1)
    xpad = np.pad(DEMO_X, ((0, 0), (0, 0), (1, 1), (1, 1)))  # the 7x7x3 padded input
    if isinstance(got, np.ndarray) and got.shape == (1, 2, 3, 3):
        # Filter 1 at output row 2, column 1 sees rows 4..6 and columns 2..4 of the padded input.
        element = np.sum(xpad[0, :, 4:7, 2:5] * DEMO_W[1]) + DEMO_B[1]
        assert np.isclose(got[0, 1, 2, 1], element), (
            f"{call}: out[0, 1, 2, 1] is {got[0, 1, 2, 1].item()!r}, expected "
            f"np.sum(xpad[0, :, 4:7, 2:5] * w[1]) + b[1] = {element}"
        )
    expected = np.zeros((1, 2, 3, 3))
    for o in range(2):
        for y in range(3):
            for x in range(3):
                window = xpad[0, :, 2 * y : 2 * y + 3, 2 * x : 2 * x + 3]
                expected[0, o, y, x] = np.sum(window * DEMO_W[o]) + DEMO_B[o]
    assert_close(got, expected, call)


# --- conv_output_size -----------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("conv_output_size", points=1)
def test_conv_output_size_worked_examples(student):
    """W=5 F=3 P=1 (S=1 -> 5, S=2 -> 3), 6x6 pad 1 stride 2 -> 3, AlexNet 227 k11 s4 -> 55"""
    examples = [
        (dict(size=5, kernel_size=3, stride=1, padding=1), 5),
        (dict(size=5, kernel_size=3, stride=2, padding=1), 3),
        (dict(size=6, kernel_size=3, stride=2, padding=1), 3),
        (dict(size=227, kernel_size=11, stride=4), 55),
        (dict(size=224, kernel_size=11, stride=4, padding=2), 55),
        (dict(size=5, kernel_size=3, stride=3, padding=1), 2),
        (dict(size=7, kernel_size=3, dilation=2), 3),
        (dict(size=32, kernel_size=5), 28),
    ]
    for kwargs, expected in examples:
        got = student.arithmetic.conv_output_size(**kwargs)
        assert_int(got, expected, f"conv_output_size({kwargs_text(**kwargs)})")


@pytest.mark.public
@pytest.mark.grade("conv_output_size", points=1)
def test_conv_output_size_counts_kernel_positions(student):
    """equals the number of positions of the dilated kernel, counted one by one"""
    rng = np.random.default_rng(21)
    for _ in range(40):
        size, kernel, stride, padding, dilation = (
            int(v) for v in rng.integers((1, 1, 1, 0, 1), (20, 8, 5, 4, 4))
        )
        span = dilation * (kernel - 1) + 1
        if span > size + 2 * padding:
            continue
        # Top-left corners 0, stride, 2 * stride, ... of windows that end inside the padded input.
        expected = len(range(0, size + 2 * padding - span + 1, stride))
        kwargs = dict(size=size, kernel_size=kernel, stride=stride, padding=padding,
                      dilation=dilation)
        got = student.arithmetic.conv_output_size(**kwargs)
        assert_int(got, expected, f"conv_output_size({kwargs_text(**kwargs)})")


@pytest.mark.grade("conv_output_size", points=1)
def test_conv_output_size_random(student, reference):
    """random sizes, kernels, strides, paddings and dilations"""
    rng = np.random.default_rng(22)
    checked = 0
    while checked < 60:
        kwargs = dict(size=int(rng.integers(1, 300)), kernel_size=int(rng.integers(1, 12)),
                      stride=int(rng.integers(1, 6)), padding=int(rng.integers(0, 6)),
                      dilation=int(rng.integers(1, 5)))
        if not kernel_fits(kwargs["size"], kwargs["kernel_size"], kwargs["padding"],
                           kwargs["dilation"]):
            continue
        checked += 1
        expected = reference.arithmetic.conv_output_size(**kwargs)
        got = student.arithmetic.conv_output_size(**kwargs)
        assert_int(got, expected, f"conv_output_size({kwargs_text(**kwargs)})")


# --- transposed_conv_output_size ------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("transposed_conv_output_size", points=1)
def test_transposed_conv_output_size_worked_examples(student):
    """2x2 input, 4x4 kernel, stride 3 -> 7; DCGAN's 4 -> 8; undoing a stride-2 conv: 3 -> 6"""
    examples = [
        (dict(size=2, kernel_size=4, stride=3), 7),
        (dict(size=4, kernel_size=4, stride=2, padding=1), 8),
        (dict(size=3, kernel_size=3, stride=2, padding=1, output_padding=1), 6),
        (dict(size=3, kernel_size=3, stride=2, padding=1), 5),
        (dict(size=5, kernel_size=3), 7),
        (dict(size=3, kernel_size=3, dilation=2), 7),
        (dict(size=1, kernel_size=1), 1),
    ]
    for kwargs, expected in examples:
        got = student.arithmetic.transposed_conv_output_size(**kwargs)
        assert_int(got, expected, f"transposed_conv_output_size({kwargs_text(**kwargs)})")


@pytest.mark.grade("transposed_conv_output_size", points=1)
def test_transposed_conv_output_size_random(student, reference):
    """random sizes, kernels, strides, paddings, output paddings and dilations"""
    rng = np.random.default_rng(23)
    checked = 0
    while checked < 60:
        stride, dilation = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        kwargs = dict(size=int(rng.integers(1, 40)), kernel_size=int(rng.integers(1, 8)),
                      stride=stride, padding=int(rng.integers(0, 4)),
                      output_padding=int(rng.integers(0, max(stride, dilation))),
                      dilation=dilation)
        try:
            expected = reference.arithmetic.transposed_conv_output_size(**kwargs)
        except ValueError:  # padding crops the whole output
            continue
        checked += 1
        got = student.arithmetic.transposed_conv_output_size(**kwargs)
        assert_int(got, expected, f"transposed_conv_output_size({kwargs_text(**kwargs)})")


# --- conv_params ----------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("conv_params", points=1)
def test_conv_params_worked_examples(student):
    """one 3x3x3 filter has 28 parameters; AlexNet's conv1 34,944; groups and bias=False"""
    examples = [
        (dict(in_channels=3, out_channels=1, kernel_size=3), 28),
        (dict(in_channels=3, out_channels=1, kernel_size=3, bias=False), 27),
        (dict(in_channels=3, out_channels=96, kernel_size=11), 34_944),
        (dict(in_channels=3, out_channels=96, kernel_size=(11, 11), bias=False), 34_848),
        (dict(in_channels=64, out_channels=128, kernel_size=(1, 3)), 24_704),
        (dict(in_channels=32, out_channels=32, kernel_size=3, groups=32), 320),  # depthwise
        (dict(in_channels=8, out_channels=4, kernel_size=3, groups=2, bias=False), 144),
    ]
    for kwargs, expected in examples:
        got = student.arithmetic.conv_params(**kwargs)
        assert_int(got, expected, f"conv_params({kwargs_text(**kwargs)})")


@pytest.mark.grade("conv_params", points=1)
def test_conv_params_random(student, reference):
    """random channels, square and (KH, KW) kernels, groups, with and without bias"""
    rng = np.random.default_rng(24)
    for case in range(60):
        groups = int(rng.integers(1, 5))
        kernel = random_hyper(rng, 1, 7)
        kwargs = dict(in_channels=groups * int(rng.integers(1, 9)),
                      out_channels=groups * int(rng.integers(1, 9)),
                      kernel_size=kernel, groups=groups, bias=bool(case % 2))
        expected = reference.arithmetic.conv_params(**kwargs)
        got = student.arithmetic.conv_params(**kwargs)
        assert_int(got, expected, f"conv_params({kwargs_text(**kwargs)})")


# --- conv_macs ------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("conv_macs", points=1)
def test_conv_macs_worked_examples(student):
    """AlexNet's conv1: 55*55*96 outputs of 11*11*3 products each; small cases by hand"""
    examples = [
        (dict(input_size=227, in_channels=3, out_channels=96, kernel_size=11, stride=4),
         55 * 55 * 96 * 11 * 11 * 3),
        (dict(input_size=5, in_channels=3, out_channels=2, kernel_size=3, stride=2, padding=1),
         3 * 3 * 2 * 3 * 3 * 3),
        (dict(input_size=(6, 8), in_channels=4, out_channels=6, kernel_size=(3, 1)),
         4 * 8 * 6 * 4 * 3 * 1),
        (dict(input_size=32, in_channels=16, out_channels=16, kernel_size=3, padding=1,
              groups=16), 32 * 32 * 16 * 1 * 3 * 3),
        (dict(input_size=(9, 7), in_channels=2, out_channels=3, kernel_size=3, stride=(2, 1),
              padding=(0, 1), dilation=(2, 3)), 3 * 3 * 3 * 2 * 3 * 3),
    ]
    for kwargs, expected in examples:
        got = student.arithmetic.conv_macs(**kwargs)
        assert_int(got, expected, f"conv_macs({kwargs_text(**kwargs)})")


@pytest.mark.grade("conv_macs", points=1)
def test_conv_macs_random(student, reference):
    """random non-square inputs, (h, w) strides, paddings and dilations, groups"""
    rng = np.random.default_rng(25)
    checked = 0
    while checked < 60:
        groups = int(rng.integers(1, 4))
        kwargs = dict(input_size=random_hyper(rng, 1, 40),
                      in_channels=groups * int(rng.integers(1, 6)),
                      out_channels=groups * int(rng.integers(1, 6)),
                      kernel_size=random_hyper(rng, 1, 7), stride=random_hyper(rng, 1, 4),
                      padding=random_hyper(rng, 0, 3), dilation=random_hyper(rng, 1, 3),
                      groups=groups)
        (h, w), (kh, kw), (ph, pw), (dh, dw) = (
            as_pair(kwargs[k]) for k in ("input_size", "kernel_size", "padding", "dilation")
        )
        if not (kernel_fits(h, kh, ph, dh) and kernel_fits(w, kw, pw, dw)):
            continue
        checked += 1
        expected = reference.arithmetic.conv_macs(**kwargs)
        got = student.arithmetic.conv_macs(**kwargs)
        assert_int(got, expected, f"conv_macs({kwargs_text(**kwargs)})")


# --- receptive_field ------------------------------------------------------------------------


def brute_force_receptive_field(layers):
    """Walk back from one unit of the last layer: the input positions it depends on."""
    positions = {0}
    for kernel, stride, dilation in reversed(layers):
        positions = {p * stride + dilation * i for p in positions for i in range(kernel)}
    return max(positions) - min(positions) + 1


@pytest.mark.public
@pytest.mark.grade("receptive_field", points=1)
def test_receptive_field_worked_examples(student):
    """three 3x3 convs see 7x7; strides and dilations widen later layers' steps (and brute force)"""
    examples = [
        ([(3, 1, 1)] * 3, 7),
        ([(3, 1, 1)], 3),
        ([], 1),
        ([(3, 1, 1), (2, 2, 1), (3, 1, 1)], 8),
        ([(3, 1, 1), (3, 1, 2), (3, 1, 4)], 15),  # dilations 1, 2, 4
        ([(11, 4, 1), (3, 2, 1), (5, 1, 1)], 51),  # AlexNet: conv1, pool1, conv2
        ([(3, 2, 1), (3, 2, 1), (3, 2, 1)], 15),
    ]
    rng = np.random.default_rng(27)
    for _ in range(20):  # and random stacks, walked back pixel by pixel
        layers = [(int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 3)))
                  for _ in range(int(rng.integers(1, 5)))]
        examples.append((layers, brute_force_receptive_field(layers)))
    for layers, expected in examples:
        got = student.arithmetic.receptive_field(layers)
        assert_int(got, expected, f"receptive_field({layers!r})")


@pytest.mark.grade("receptive_field", points=1)
def test_receptive_field_random(student, reference):
    """random stacks of up to 6 layers with kernels, strides and dilations"""
    rng = np.random.default_rng(26)
    for _ in range(60):
        layers = [
            (int(rng.integers(1, 8)), int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            for _ in range(int(rng.integers(0, 7)))
        ]
        expected = reference.arithmetic.receptive_field(layers)
        got = student.arithmetic.receptive_field(layers)
        assert_int(got, expected, f"receptive_field({layers!r})")


# --- conv2d_forward -------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("conv2d_forward", points=1)
def test_conv2d_forward_worked_example(student):
    """5x5x3 input padded to 7x7x3, two 3x3x3 filters, stride 2: a (1, 2, 3, 3) output"""
    check_demo(student.conv.conv2d_forward, "conv2d_forward")


@pytest.mark.public
@pytest.mark.grade("conv2d_forward", points=1)
def test_conv2d_forward_matches_einsum(student):
    """small cases (strides, paddings, dilations, bias or not) agree with a NumPy einsum"""
    for x, w, b, stride, padding, dilation in conv_cases(31, 12, max_size=7, max_kernel=3):
        expected = numpy_conv2d(x, w, b, stride, padding, dilation)
        got = student.conv.conv2d_forward(x, w, b, stride, padding, dilation)
        assert_close(got, expected, conv_text("conv2d_forward", x, w, b, stride, padding,
                                              dilation))


@pytest.mark.grade("conv2d_forward", points=1)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_conv2d_forward_random(student, reference, dtype):
    """random non-square cases, (h, w) stride/padding/dilation pairs, bias or None"""
    seed = 32 + DTYPES.index(dtype)
    for x, w, b, stride, padding, dilation in conv_cases(seed, 50, dtypes=(dtype,)):
        expected = reference.conv.conv2d_forward(x, w, b, stride, padding, dilation)
        got = student.conv.conv2d_forward(x, w, b, stride, padding, dilation)
        assert_close(got, expected, conv_text("conv2d_forward", x, w, b, stride, padding,
                                              dilation))


def edge_cases(seed):
    """Single images/channels/filters, 1x1 kernels, kernels as large as the padded input, strides
    larger than the kernel, 1-pixel-wide inputs."""
    rng = np.random.default_rng(seed)
    shapes = [  # (N, C, O, H, W, KH, KW, stride, padding, dilation)
        (1, 1, 1, 5, 7, 3, 2, 1, 0, 1),
        (1, 1, 1, 1, 1, 1, 1, 1, 0, 1),
        (1, 1, 1, 1, 6, 1, 3, (1, 2), 0, 1),
        (1, 1, 1, 6, 1, 3, 1, (2, 1), (1, 0), 1),
        (2, 3, 4, 6, 5, 1, 1, 1, 0, 1),
        (1, 2, 1, 6, 5, 1, 1, (2, 3), 0, 1),
        (2, 1, 3, 4, 6, 4, 6, 1, 0, 1),  # kernel as large as the input: a 1x1 output
        (1, 2, 2, 3, 4, 5, 6, 1, 1, 1),  # ... as large as the padded input
        (3, 2, 1, 7, 8, 2, 2, 3, 0, 1),  # stride larger than the kernel: skipped pixels
        (1, 1, 2, 9, 9, 3, 3, (4, 3), (2, 1), (3, 4)),
        (2, 3, 1, 5, 3, 2, 3, 2, (2, 0), (3, 1)),
        (1, 3, 3, 2, 2, 3, 3, 1, 2, 2),  # mostly padding
    ]
    for case, (n, c, o, h, w, kh, kw, stride, padding, dilation) in enumerate(shapes):
        dtype = DTYPES[case % 2]
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        weights = rng.standard_normal((o, c, kh, kw)).astype(dtype)
        b = rng.standard_normal(o).astype(dtype) if case % 3 else None
        yield x, weights, b, stride, padding, dilation


@pytest.mark.grade("conv2d_forward", points=1)
def test_conv2d_forward_edge_cases(student, reference):
    """N, C or O of 1, 1x1 kernels, kernels as large as the padded input, strides > kernel"""
    for x, w, b, stride, padding, dilation in edge_cases(33):
        expected = reference.conv.conv2d_forward(x, w, b, stride, padding, dilation)
        got = student.conv.conv2d_forward(x, w, b, stride, padding, dilation)
        assert_close(got, expected, conv_text("conv2d_forward", x, w, b, stride, padding,
                                              dilation))


@pytest.mark.grade("conv2d_forward", points=1)
def test_conv2d_forward_bias(student, reference):
    """one bias per filter, added once to each output (several images, channels and filters)"""
    rng = np.random.default_rng(34)
    for case in range(30):
        n, c, o = rng.integers(2, 5, size=3)
        h, w = rng.integers(3, 8, size=2)
        kh, kw = rng.integers(1, 4, size=2)
        dtype = DTYPES[case % 2]
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        weights = rng.standard_normal((o, c, kh, kw)).astype(dtype)
        b = (rng.standard_normal(o) * 10).astype(dtype) if case % 5 else None
        stride, padding = random_hyper(rng, 1, 2), random_hyper(rng, 0, 1)
        expected = reference.conv.conv2d_forward(x, weights, b, stride, padding)
        got = student.conv.conv2d_forward(x, weights, b, stride, padding)
        assert_close(got, expected, conv_text("conv2d_forward", x, weights, b, stride, padding,
                                              1))


# --- im2col (and col2im) --------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("im2col", points=1)
def test_im2col_worked_example(student):
    """the 3x3 image 0..8 with a 2x2 kernel gives 4 columns; random cases agree with NumPy"""
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    expected = np.array([[[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]]], np.float64)
    assert_close(student.conv.im2col(x, 2), expected, "im2col(0..8 as 1x1x3x3, kernel_size=2)")
    for x, w, _, stride, padding, dilation in conv_cases(41, 12, max_size=7, max_kernel=3):
        kernel = w.shape[2:]
        expected = numpy_im2col(x, kernel, stride, padding, dilation)
        got = student.conv.im2col(x, kernel, stride, padding, dilation)
        assert_close(got, expected, unfold_text("im2col", f"x {describe_array(x)}", kernel,
                                                stride, padding, dilation))


@pytest.mark.public
@pytest.mark.grade("im2col", points=1)
def test_col2im_worked_example(student):
    """col2im of all-ones columns counts the windows covering each pixel; random cases too"""
    cols = np.ones((1, 4, 4))
    expected = np.array([[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]], np.float64)
    assert_close(student.conv.col2im(cols, 3, 2), expected,
                 "col2im(ones 1x4x4, input_size=3, kernel_size=2)")
    rng = np.random.default_rng(42)
    for x, w, _, stride, padding, dilation in conv_cases(43, 12, max_size=7, max_kernel=3):
        kernel, size = w.shape[2:], x.shape[2:]
        shape = numpy_im2col(x, kernel, stride, padding, dilation).shape
        cols = rng.standard_normal(shape).astype(x.dtype)
        expected = numpy_col2im(cols, size, kernel, stride, padding, dilation)
        got = student.conv.col2im(cols, size, kernel, stride, padding, dilation)
        assert_close(got, expected, unfold_text("col2im", f"cols {describe_array(cols)}, "
                                                f"input_size={size!r}", kernel, stride,
                                                padding, dilation))


def unfold_cases(seed, count):
    """(x, kernel_size, stride, padding, dilation) for im2col/col2im, kernel as int or pair."""
    for case, (x, w, _, stride, padding, dilation) in enumerate(conv_cases(seed, count)):
        kernel = tuple(int(k) for k in w.shape[2:])
        if case % 4 == 3 and kernel[0] == kernel[1]:
            kernel = kernel[0]
        yield x, kernel, stride, padding, dilation


@pytest.mark.grade("im2col", points=1)
def test_im2col_random(student, reference):
    """random non-square cases, (h, w) stride/padding/dilation pairs, float32 and float64"""
    for x, kernel, stride, padding, dilation in unfold_cases(44, 60):
        expected = reference.conv.im2col(x, kernel, stride, padding, dilation)
        got = student.conv.im2col(x, kernel, stride, padding, dilation)
        assert_close(got, expected, unfold_text("im2col", f"x {describe_array(x)}", kernel,
                                                stride, padding, dilation))


@pytest.mark.grade("im2col", points=1)
def test_col2im_random(student, reference):
    """random columns folded back: overlapping windows add up, padding is cropped"""
    rng = np.random.default_rng(45)
    for x, kernel, stride, padding, dilation in unfold_cases(46, 60):
        size = tuple(int(s) for s in x.shape[2:])
        shape = reference.conv.im2col(x, kernel, stride, padding, dilation).shape
        cols = rng.standard_normal(shape).astype(x.dtype)
        expected = reference.conv.col2im(cols, size, kernel, stride, padding, dilation)
        got = student.conv.col2im(cols, size, kernel, stride, padding, dilation)
        assert_close(got, expected, unfold_text("col2im", f"cols {describe_array(cols)}, "
                                                f"input_size={size!r}", kernel, stride,
                                                padding, dilation))


# --- conv2d_forward_gemm --------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("conv2d_forward_gemm", points=1)
def test_conv2d_forward_gemm_worked_example(student):
    """the 7x7x3 padded demo with two filters, then small cases against a NumPy einsum"""
    check_demo(student.conv.conv2d_forward_gemm, "conv2d_forward_gemm")
    for x, w, b, stride, padding, dilation in conv_cases(51, 12, max_size=7, max_kernel=3):
        expected = numpy_conv2d(x, w, b, stride, padding, dilation)
        got = student.conv.conv2d_forward_gemm(x, w, b, stride, padding, dilation)
        assert_close(got, expected, conv_text("conv2d_forward_gemm", x, w, b, stride, padding,
                                              dilation))


@pytest.mark.grade("conv2d_forward_gemm", points=1)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_conv2d_forward_gemm_random(student, reference, dtype):
    """random cases: non-square, (h, w) pairs, bias or None, N, C or O of 1"""
    seed = 52 + DTYPES.index(dtype)
    cases = [*conv_cases(seed, 40, dtypes=(dtype,)), *edge_cases(54)]
    for x, w, b, stride, padding, dilation in cases:
        x, w = x.astype(dtype), w.astype(dtype)
        b = None if b is None else b.astype(dtype)
        expected = reference.conv.conv2d_forward(x, w, b, stride, padding, dilation)
        got = student.conv.conv2d_forward_gemm(x, w, b, stride, padding, dilation)
        assert_close(got, expected, conv_text("conv2d_forward_gemm", x, w, b, stride, padding,
                                              dilation))
