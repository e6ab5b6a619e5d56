"""Grading suite of chapter 1, edge detection: correlate2d, convolve2d, gradient_magnitude.

Public checks use the chapter's worked examples and SciPy's results (`autograder.oracle`, which
tests/test_oracle.py checks against scipy.signal); hidden tests compare with the reference solution
on many random cases.
"""

import numpy as np
import pytest

from autograder import oracle  # scipy.signal's results (importing SciPy costs ~1 s)
from autograder.feedback import assert_close, describe_array

MODES = ("valid", "same", "full")

WORKED_IMAGE = np.array(
    [[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3],
     [0, 1, 3, 1, 7, 8], [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]]
)
VERTICAL_EDGE = np.array([[1, 0, -1]] * 3)

# Calls each exercise must not make (autograder/forbidden.py checks the student's source).
LIBRARY_CONVOLUTION = ("scipy.signal", "scipy.ndimage", "numpy.convolve", "numpy.correlate",
                       "numpy.lib.stride_tricks.sliding_window_view", "torch")
FORBIDDEN = {
    "correlate2d": (("edges.correlate2d", "edges._correlate2d_valid"), LIBRARY_CONVOLUTION),
    "convolve2d": (("edges.convolve2d",), LIBRARY_CONVOLUTION),
    "gradient_magnitude": (("edges.gradient_magnitude",), LIBRARY_CONVOLUTION),
}


def random_cases(seed, count, mode, max_size=9, max_kernel=5):
    """(image, kernel) pairs of random non-square sizes, float64 and float32, 1x1 kernels too.

    In "valid" mode the kernel fits the image, or (every few cases) is larger in both axes.
    """
    rng = np.random.default_rng(seed)
    for case in range(count):
        h, w = rng.integers(1, max_size + 1, size=2)
        kh, kw = rng.integers(1, max_kernel + 1, size=2)
        if case % 7 == 3:
            kh, kw = 1, 1
        if mode == "valid":
            if case % 5 == 4:
                kh, kw = h + rng.integers(0, 3), w + rng.integers(0, 3)
            else:
                kh, kw = min(kh, h), min(kw, w)
        dtype = np.float32 if case % 2 else np.float64
        image = rng.standard_normal((h, w)).astype(dtype)
        kernel = rng.standard_normal((kh, kw)).astype(dtype)
        yield image, kernel


def call_text(name, image, kernel, mode):
    return f"{name}(image {describe_array(image)}, kernel {describe_array(kernel)}, mode={mode!r})"


# --- correlate2d ---------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("correlate2d", points=1)
def test_correlate2d_worked_example(student):
    """the 6x6 image with the vertical-edge filter (valid mode, first element -5)"""
    expected = np.array([[-5, -4, 0, 8], [-10, -2, 2, 3], [0, -2, -4, -7], [-3, -2, -3, -16]])
    got = student.edges.correlate2d(WORKED_IMAGE, VERTICAL_EDGE)
    assert_close(got, expected.astype(np.float64), "correlate2d(6x6 worked example, [[1,0,-1]]*3)")


@pytest.mark.public
@pytest.mark.grade("correlate2d", points=1)
def test_correlate2d_bright_dark_edge(student):
    """half-bright/half-dark image: the edge shows as a band of 30s"""
    image = np.array([[10, 10, 10, 0, 0, 0]] * 6)
    expected = np.array([[0, 30, 30, 0]] * 4, dtype=np.float64)
    assert_close(student.edges.correlate2d(image, VERTICAL_EDGE), expected,
                 "correlate2d(10s|0s image, [[1,0,-1]]*3)")


@pytest.mark.public
@pytest.mark.grade("correlate2d", points=1)
def test_correlate2d_matches_scipy(student):
    """a few non-square images and kernels in every mode agree with scipy.signal.correlate2d"""
    for mode in MODES:
        for image, kernel in random_cases(1, 6, mode):
            expected = oracle.correlate2d(image, kernel, mode)
            got = student.edges.correlate2d(image, kernel, mode)
            assert_close(got, expected, call_text("correlate2d", image, kernel, mode))


@pytest.mark.grade("correlate2d", points=1)
@pytest.mark.parametrize("mode", MODES)
def test_correlate2d_random(student, reference, mode):
    """random cases (sizes, 1x1 and larger-than-image kernels, float32/float64)"""
    for image, kernel in random_cases(100 + MODES.index(mode), 40, mode):
        expected = reference.edges.correlate2d(image, kernel, mode)
        got = student.edges.correlate2d(image, kernel, mode)
        assert_close(got, expected, call_text("correlate2d", image, kernel, mode))


# --- convolve2d ----------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("convolve2d", points=1)
def test_convolve2d_worked_example(student):
    """the 3x3 image 1..9 convolved in "same" mode with [[-1,-2,-1],[0,0,0],[1,2,1]]"""
    image = np.arange(1, 10).reshape(3, 3)
    kernel = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
    expected = np.array([[-13, -20, -17], [-18, -24, -18], [13, 20, 17]], dtype=np.float64)
    assert_close(student.edges.convolve2d(image, kernel, "same"), expected,
                 "convolve2d(1..9, [[-1,-2,-1],[0,0,0],[1,2,1]], mode='same')")


@pytest.mark.public
@pytest.mark.grade("convolve2d", points=1)
def test_convolve2d_matches_scipy(student):
    """a few non-square images and kernels in every mode agree with scipy.signal.convolve2d"""
    for mode in MODES:
        for image, kernel in random_cases(2, 6, mode):
            expected = oracle.convolve2d(image, kernel, mode)
            got = student.edges.convolve2d(image, kernel, mode)
            assert_close(got, expected, call_text("convolve2d", image, kernel, mode))


@pytest.mark.grade("convolve2d", points=1)
@pytest.mark.parametrize("mode", MODES)
def test_convolve2d_random(student, reference, mode):
    """random cases, including even-sized kernels in "same" mode"""
    for image, kernel in random_cases(200 + MODES.index(mode), 40, mode):
        expected = reference.edges.convolve2d(image, kernel, mode)
        got = student.edges.convolve2d(image, kernel, mode)
        assert_close(got, expected, call_text("convolve2d", image, kernel, mode))


# --- gradient_magnitude --------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.grade("gradient_magnitude", points=1)
def test_gradient_magnitude_matches_scipy(student):
    """Sobel magnitude sqrt(gx² + gy²) of a random image agrees with one built from SciPy"""
    image = np.random.default_rng(3).random((7, 9))
    gx = oracle.correlate2d(image, student.edges.SOBEL_X, "same")
    gy = oracle.correlate2d(image, student.edges.SOBEL_Y, "same")
    assert_close(student.edges.gradient_magnitude(image), np.sqrt(gx**2 + gy**2),
                 "gradient_magnitude(random 7x9 image)")


@pytest.mark.grade("gradient_magnitude", points=1)
def test_gradient_magnitude_random(student, reference):
    """random images, both operators, every mode, float32 and float64"""
    rng = np.random.default_rng(4)
    for case in range(24):
        dtype = np.float32 if case % 2 else np.float64
        image = rng.random(tuple(rng.integers(3, 10, size=2))).astype(dtype)
        operator, mode = ("sobel", "prewitt")[case % 4 // 2], MODES[case % 3]
        expected = reference.edges.gradient_magnitude(image, operator, mode)
        got = student.edges.gradient_magnitude(image, operator, mode)
        assert_close(got, expected, f"gradient_magnitude(image {describe_array(image)}, "
                                    f"operator={operator!r}, mode={mode!r})")
