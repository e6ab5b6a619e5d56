"""autograder.oracle gives scipy.signal's correlate2d and convolve2d results."""

import numpy as np
import pytest
import scipy.signal

from autograder import oracle


def cases(seed, count):
    rng = np.random.default_rng(seed)
    for case in range(count):
        h, w = rng.integers(1, 10, size=2)
        kh, kw = rng.integers(1, 7, size=2)
        larger = case % 4 == 3
        dtype = (np.float64, np.float32, np.int64)[case % 3]
        image = (rng.standard_normal((h, w)) * 5).astype(dtype)
        kernel = (rng.standard_normal((kh, kw)) * 5).astype(dtype)
        yield image, kernel, larger


@pytest.mark.parametrize("name", ["correlate2d", "convolve2d"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_the_oracle_gives_scipys_results(name, mode):
    for image, kernel, larger in cases(hash((name, mode)) % 1000, 300):
        (h, w), (kh, kw) = image.shape, kernel.shape
        if mode == "valid":  # one input covers the other (either way round)
            if larger:
                kernel = np.ones((h + kh % 3, w + kw % 3), image.dtype) * kernel[0, 0]
            else:
                kernel = kernel[:min(kh, h), :min(kw, w)]
        expected = getattr(scipy.signal, name)(image, kernel, mode)
        got = getattr(oracle, name)(image, kernel, mode)
        assert got.shape == expected.shape and got.dtype == expected.dtype, (image, kernel)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_the_oracle_refuses_what_scipy_refuses():
    with pytest.raises(ValueError):
        scipy.signal.correlate2d(np.ones((3, 5)), np.ones((4, 2)), "valid")
    with pytest.raises(ValueError, match="valid mode"):
        oracle.correlate2d(np.ones((3, 5)), np.ones((4, 2)), "valid")
    with pytest.raises(ValueError, match="mode"):
        oracle.convolve2d(np.ones((3, 3)), np.ones((2, 2)), "wrap")
