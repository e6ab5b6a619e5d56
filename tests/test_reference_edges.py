"""The chapter 1 reference (cnnlab.edges) agrees with SciPy and rejects bad input clearly."""

import numpy as np
import pytest
import scipy.signal

MODES = ("valid", "same", "full")


def random_pairs(seed, count):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        h, w, kh, kw = rng.integers(1, 10, size=4)
        yield rng.standard_normal((h, w)), rng.standard_normal((kh, kw))


def scipy_or_error(function, image, kernel, mode):
    try:
        return function(image, kernel, mode)
    except ValueError:
        return ValueError


@pytest.mark.parametrize("name", ["correlate2d", "convolve2d"])
def test_matches_scipy_on_random_cases(ref, name):
    ours, theirs = getattr(ref.edges, name), getattr(scipy.signal, name)
    checked = 0
    for image, kernel in random_pairs(0, 300):
        for mode in MODES:
            expected = scipy_or_error(theirs, image, kernel, mode)
            if expected is ValueError:  # SciPy refuses: neither input contains the other
                with pytest.raises(ValueError, match="at least as large"):
                    ours(image, kernel, mode)
                with pytest.raises(ValueError, match="at least as large"):
                    ref.edges.output_shape(image.shape, kernel.shape, mode)
                continue
            got = ours(image, kernel, mode)
            shape = ref.edges.output_shape(image.shape, kernel.shape, mode)
            assert got.shape == expected.shape == shape
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
            checked += 1
    assert checked > 700


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_follows_input(ref, dtype):
    image = np.random.default_rng(1).random((6, 5)).astype(dtype)
    kernel = np.ones((2, 3), dtype=dtype)
    for mode in MODES:
        got = ref.edges.correlate2d(image, kernel, mode)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, scipy.signal.correlate2d(image, kernel, mode),
                                   rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert ref.edges.correlate2d(image, kernel.astype(np.float64)).dtype == np.float64
    assert ref.edges.correlate2d(np.arange(9).reshape(3, 3), [[1]]).dtype == np.float64


def test_worked_examples(ref):
    image = np.array([[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3],
                      [0, 1, 3, 1, 7, 8], [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]])
    out = ref.edges.correlate2d(image, [[1, 0, -1]] * 3)
    assert out.shape == (4, 4) and out[0, 0] == -5
    half = ref.edges.correlate2d([[10, 10, 10, 0, 0, 0]] * 6, [[1, 0, -1]] * 3)
    np.testing.assert_array_equal(half, [[0, 30, 30, 0]] * 4)
    same = ref.edges.convolve2d(np.arange(1, 10).reshape(3, 3),
                                [[-1, -2, -1], [0, 0, 0], [1, 2, 1]], "same")
    np.testing.assert_array_equal(same, [[-13, -20, -17], [-18, -24, -18], [13, 20, 17]])


def test_sobel_is_separable_and_magnitude_is_consistent(ref):
    e = ref.edges
    np.testing.assert_array_equal(e.SOBEL_X, np.outer(e.SOBEL_SMOOTH, e.SOBEL_DIFF))
    rng = np.random.default_rng(2)
    for mode in MODES:
        image = rng.random((9, 7))
        np.testing.assert_allclose(
            e.correlate2d_separable(image, e.SOBEL_SMOOTH, e.SOBEL_DIFF, mode),
            e.correlate2d(image, e.SOBEL_X, mode), rtol=1e-12, atol=1e-12)
        gx, gy = e.sobel(image, mode)
        np.testing.assert_allclose(e.gradient_magnitude(image, "sobel", mode), np.hypot(gx, gy),
                                   rtol=1e-12)
        px, py = e.prewitt(image, mode)
        np.testing.assert_allclose(px, scipy.signal.correlate2d(image, e.PREWITT_X, mode))
        np.testing.assert_allclose(py, scipy.signal.correlate2d(image, e.PREWITT_Y, mode))


@pytest.mark.parametrize(("args", "error", "match"), [
    ((np.ones((3, 3, 1)), np.ones((2, 2))), ValueError, r"image must be 2-D, got shape \(3, 3, 1"),
    ((np.ones((3, 3)), np.ones(3)), ValueError, r"kernel must be 2-D, got shape \(3,\)"),
    ((np.ones((0, 3)), np.ones((1, 1))), ValueError, r"image must not be empty"),
    ((np.ones((3, 3)), np.ones((2, 2)), "middle"), ValueError, r"mode must be one of"),
    ((np.ones((3, 5)), np.ones((4, 2))), ValueError, r"image \(3, 5\) and kernel \(4, 2\)"),
    ((np.ones((3, 3), dtype=complex), np.ones((2, 2))), TypeError, r"image must be real"),
    ((np.array([["a"]]), np.ones((1, 1))), TypeError, r"numeric array"),
])
def test_bad_input_names_the_problem(ref, args, error, match):
    for function in (ref.edges.correlate2d, ref.edges.convolve2d):
        with pytest.raises(error, match=match):
            function(*args)


def test_gradient_magnitude_rejects_unknown_operator(ref):
    with pytest.raises(ValueError, match="operator must be one of 'sobel', 'prewitt'"):
        ref.edges.gradient_magnitude(np.ones((4, 4)), operator="canny")
