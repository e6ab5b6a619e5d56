"""The reference pooling (chapter 3) against PyTorch, and the gradient checker.

Oracles: torch.nn.functional.max_pool2d / avg_pool2d (dilation 1, ceil_mode=False,
count_include_pad=True) and their autograd, x.mean((2, 3), keepdim=True) for global average
pooling, and central differences (`cnnlab.gradcheck`) in float64.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

TORCH_POOL = {"max": F.max_pool2d, "avg": F.avg_pool2d}


@pytest.fixture(scope="module")
def P(ref):
    return ref.pooling


@pytest.fixture(scope="module")
def G(ref):
    return ref.gradcheck


def random_configs(seed, count):
    """`count` random valid pooling configurations: (x shape, kwargs, description).

    N 1..2, C 1..3, H and W 1..9 (independently), kernel 1..4 per axis, stride None or 1..5 per
    axis (so stride < kernel: overlapping windows, and stride > kernel: skipped inputs), padding
    0..K//2 per axis; configurations whose kernel exceeds the padded input are redrawn.
    """
    rng = np.random.default_rng(seed)
    configs = []
    while len(configs) < count:
        n, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
        h, w = int(rng.integers(1, 10)), int(rng.integers(1, 10))
        kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        ph, pw = int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))
        if h + 2 * ph < kh or w + 2 * pw < kw:
            continue
        stride = None if rng.random() < 0.25 else (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        kwargs = {"kernel_size": (kh, kw), "stride": stride, "padding": (ph, pw)}
        configs.append(((n, c, h, w), kwargs, f"x {(n, c, h, w)}, {kwargs}"))
    return configs


def torch_pool(kind, x, dy, kwargs):
    """PyTorch's forward output and dL/dx for L = sum(y * dy) (dy None: drawn after the forward)."""
    xt = torch.tensor(x, requires_grad=True)
    yt = TORCH_POOL[kind](xt, **kwargs)
    yt.backward(torch.tensor(dy))
    return yt.detach().numpy(), xt.grad.numpy()


def ours(P, kind, x, dy, kwargs):
    forward = getattr(P, f"{kind}pool2d_forward")
    backward = getattr(P, f"{kind}pool2d_backward")
    return forward(x, **kwargs), backward(dy, x, **kwargs)


def check_against_torch(P, kind, x, kwargs, rng, what, exact):
    dtype = x.dtype
    expected_shape = P.pool_output_shape(x.shape, **kwargs)
    dy = rng.standard_normal(expected_shape).astype(dtype)
    y, dx = ours(P, kind, x, dy, kwargs)
    y_t, dx_t = torch_pool(kind, x, dy, kwargs)
    assert y.shape == y_t.shape == expected_shape, what
    assert y.dtype == dtype and dx.dtype == dtype, what
    if exact:
        np.testing.assert_array_equal(y, y_t, err_msg=f"forward, {what}")
        np.testing.assert_array_equal(dx, dx_t, err_msg=f"backward, {what}")
    else:
        rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (1e-6, 1e-6)
        np.testing.assert_allclose(y, y_t, rtol=rtol, atol=atol, err_msg=f"forward, {what}")
        np.testing.assert_allclose(dx, dx_t, rtol=rtol, atol=atol, err_msg=f"backward, {what}")


# ------------------------------------------------------------------------------------------------
# Random configurations against PyTorch
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_maxpool_matches_torch(P, dtype):
    rng = np.random.default_rng(1)
    for shape, kwargs, what in random_configs(seed=10, count=400):
        x = rng.standard_normal(shape).astype(dtype)
        # Selecting the maximum and adding up gradients in PyTorch's order: bit for bit.
        check_against_torch(P, "max", x, kwargs, rng, what, exact=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_avgpool_matches_torch(P, dtype):
    rng = np.random.default_rng(2)
    for shape, kwargs, what in random_configs(seed=20, count=400):
        x = rng.standard_normal(shape).astype(dtype)
        check_against_torch(P, "avg", x, kwargs, rng, what, exact=False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_maxpool_ties_match_torch(P, dtype):
    """Integer inputs in 0..2: nearly every window has ties; the first maximum (row-major) wins
    and receives the window's whole gradient, exactly as in PyTorch."""
    rng = np.random.default_rng(3)
    for shape, kwargs, what in random_configs(seed=30, count=400):
        x = rng.integers(0, 3, shape).astype(dtype)
        check_against_torch(P, "max", x, kwargs, rng, f"ties, {what}", exact=True)


def test_maxpool_ties_route_whole_gradient_to_first_maximum(P):
    x = np.ones((1, 1, 3, 3))
    dy = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    # Window (i, j) of a 2x2 kernel with stride 1 starts at (i, j): that is its first maximum.
    expected = np.array([[[[1.0, 10.0, 0.0], [100.0, 1000.0, 0.0], [0.0, 0.0, 0.0]]]])
    np.testing.assert_array_equal(P.maxpool2d_forward(x, 2, stride=1), np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(P.maxpool2d_backward(dy, x, 2, stride=1), expected)
    np.testing.assert_array_equal(torch_pool("max", x, dy, {"kernel_size": 2, "stride": 1})[1],
                                  expected)


def test_maxpool_backward_puts_each_window_gradient_at_its_first_maximum(P):
    """One window at a time (a one-hot dy): its gradient lands, whole, on one input, the one
    np.argmax picks in the -inf padded window (np.argmax returns the first maximum)."""
    rng = np.random.default_rng(4)
    for shape, kwargs, what in random_configs(seed=40, count=30):
        x = rng.integers(0, 3, shape).astype(np.float64)
        (kh, kw), (ph, pw) = kwargs["kernel_size"], kwargs["padding"]
        sh, sw = kwargs["stride"] or (kh, kw)
        padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
        out_shape = P.pool_output_shape(shape, **kwargs)
        for n, c, oh, ow in np.ndindex(out_shape):
            dy = np.zeros(out_shape)
            dy[n, c, oh, ow] = 3.0
            dx = P.maxpool2d_backward(dy, x, **kwargs)
            window = padded[n, c, oh * sh : oh * sh + kh, ow * sw : ow * sw + kw]
            i, j = np.unravel_index(np.argmax(window), window.shape)
            expected = np.zeros(shape)
            expected[n, c, oh * sh + i - ph, ow * sw + j - pw] = 3.0
            np.testing.assert_array_equal(dx, expected, err_msg=f"window {(oh, ow)}, {what}")


def test_maxpool_padding_never_wins(P):
    x = -np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # all negative: a zero padding would win
    y, dx = ours(P, "max", x, np.ones((1, 1, 4, 4)), {"kernel_size": 2, "stride": 1, "padding": 1})
    y_t, dx_t = torch_pool("max", x, np.ones((1, 1, 4, 4)),
                           {"kernel_size": 2, "stride": 1, "padding": 1})
    assert (y < 0).all()
    np.testing.assert_array_equal(y, y_t)
    np.testing.assert_array_equal(dx, dx_t)


def test_maxpool_nan_and_inf_like_torch(P):
    """Not part of the exercise, but the reference must not crash, and it matches PyTorch."""
    rng = np.random.default_rng(5)
    for shape, kwargs, what in random_configs(seed=50, count=100):
        x = rng.standard_normal(shape)
        x[rng.random(shape) < 0.2] = np.nan
        x[rng.random(shape) < 0.2] = -np.inf
        x[rng.random(shape) < 0.1] = np.inf
        dy = rng.standard_normal(P.pool_output_shape(shape, **kwargs))
        y, dx = ours(P, "max", x, dy, kwargs)
        y_t, dx_t = torch_pool("max", x, dy, kwargs)
        np.testing.assert_array_equal(y, y_t, err_msg=what)
        np.testing.assert_array_equal(dx, dx_t, err_msg=what)


def test_avgpool_divisor_counts_padding(P):
    """count_include_pad=True: a corner window with padding 1 sees 4 ones and 5 zeros."""
    x = np.ones((1, 1, 3, 3))
    y = P.avgpool2d_forward(x, 3, stride=1, padding=1)
    expected = np.array([[4.0, 6.0, 4.0], [6.0, 9.0, 6.0], [4.0, 6.0, 4.0]]) / 9.0
    np.testing.assert_allclose(y[0, 0], expected, rtol=1e-15)
    np.testing.assert_allclose(y, F.avg_pool2d(torch.tensor(x), 3, 1, 1).numpy(), rtol=1e-15)


def test_stride_defaults_to_kernel_size(P):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 7, 9))
    for kind in ("max", "avg"):
        forward = getattr(P, f"{kind}pool2d_forward")
        np.testing.assert_array_equal(forward(x, (2, 3)), forward(x, (2, 3), stride=(2, 3)))
        assert forward(x, (2, 3)).shape == (2, 3, 3, 3)


# ------------------------------------------------------------------------------------------------
# The worked example of the chapter
# ------------------------------------------------------------------------------------------------

EXAMPLE_X = [
    [[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]],
    [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [3, 4, 5, 6]],
]


def test_worked_example(P):
    x = np.array([EXAMPLE_X])  # (1, 2, 4, 4), integers: the result is float64
    y = P.maxpool2d_forward(x, 2, stride=2)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [[[[6, 8], [3, 4]], [[5, 7], [9, 6]]]])
    dy = np.array([[[[1, 2], [2, 4]], [[3, 5], [8, 2]]]])
    dx = P.maxpool2d_backward(dy, x, 2, stride=2)
    expected = np.array([[
        [[0, 0, 0, 0], [0, 1, 0, 2], [2, 0, 0, 0], [0, 0, 0, 4]],
        [[0, 0, 0, 0], [0, 3, 0, 5], [0, 8, 0, 0], [0, 0, 0, 2]],
    ]])
    np.testing.assert_array_equal(dx, expected)
    assert dx.sum() == dy.sum()
    np.testing.assert_array_equal(dx, torch_pool("max", x.astype(float), dy.astype(float),
                                                 {"kernel_size": 2, "stride": 2})[1])


# ------------------------------------------------------------------------------------------------
# Global average pooling
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_global_avgpool_matches_torch(P, dtype):
    rng = np.random.default_rng(7)
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (1e-5, 1e-6)
    for _ in range(100):
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)),
                 int(rng.integers(1, 10)), int(rng.integers(1, 10)))
        x = rng.standard_normal(shape).astype(dtype)
        dy = rng.standard_normal(shape[:2] + (1, 1)).astype(dtype)
        xt = torch.tensor(x, requires_grad=True)
        yt = xt.mean((2, 3), keepdim=True)
        yt.backward(torch.tensor(dy))
        y, dx = P.global_avgpool2d_forward(x), P.global_avgpool2d_backward(dy, x)
        assert y.shape == shape[:2] + (1, 1) and dx.shape == shape, shape
        assert y.dtype == dtype and dx.dtype == dtype, shape
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=rtol, atol=atol, err_msg=shape)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=rtol, atol=atol, err_msg=shape)


def test_global_avgpool_is_avgpool_over_the_whole_image(P):
    x = np.random.default_rng(8).standard_normal((2, 3, 5, 4))
    np.testing.assert_allclose(P.global_avgpool2d_forward(x), P.avgpool2d_forward(x, (5, 4)),
                               rtol=1e-14)


# ------------------------------------------------------------------------------------------------
# Numerical gradients
# ------------------------------------------------------------------------------------------------


def test_numerical_gradient_avgpool(P, G):
    rng = np.random.default_rng(9)
    for shape, kwargs, what in random_configs(seed=90, count=40):
        x = rng.standard_normal(shape)
        # Positive dy: no gradient entry is tiny, where roundoff would inflate the relative error.
        dy = rng.uniform(0.5, 1.5, P.pool_output_shape(shape, **kwargs))
        errors = G.gradcheck(lambda x, kw=kwargs: P.avgpool2d_forward(x, **kw), {"x": x},
                             {"x": P.avgpool2d_backward(dy, x, **kwargs)}, dy)
        assert errors["x"] < 1e-7, (what, errors)


def test_numerical_gradient_maxpool_without_ties(P, G):
    rng = np.random.default_rng(10)
    for shape, kwargs, what in random_configs(seed=100, count=40):
        # Distinct values in [0, 1), >= 1/500 apart: a nudge of 1e-6 never moves an argmax.
        x = rng.permutation(np.prod(shape)).reshape(shape) / np.prod(shape)
        dy = rng.uniform(0.5, 1.5, P.pool_output_shape(shape, **kwargs))
        errors = G.gradcheck(lambda x, kw=kwargs: P.maxpool2d_forward(x, **kw), {"x": x},
                             {"x": P.maxpool2d_backward(dy, x, **kwargs)}, dy)
        assert errors["x"] < 1e-7, (what, errors)


def test_numerical_gradient_global_avgpool(P, G):
    x = np.random.default_rng(11).standard_normal((2, 3, 4, 5))
    dy = np.random.default_rng(12).standard_normal((2, 3, 1, 1))
    errors = G.gradcheck(P.global_avgpool2d_forward, {"x": x},
                         {"x": P.global_avgpool2d_backward(dy, x)}, dy)
    assert errors["x"] < 1e-7, errors


def test_gradcheck_basics(G):
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    np.testing.assert_allclose(G.numerical_gradient(lambda v: v**2, x), 2 * x, rtol=1e-8)
    dy = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(G.numerical_gradient(lambda v: v**3, x, dy), 3 * x**2 * dy,
                               rtol=1e-8)
    np.testing.assert_array_equal(x, [[1.0, -2.0], [3.0, 0.5]])  # not modified
    assert G.relative_error(x, x) == 0.0
    assert G.relative_error([1.0, 0.0], [3.0, 0.0]) == pytest.approx(0.5)
    w = np.array([2.0, -1.0])
    good = G.gradcheck(lambda a, b: a * b, {"a": x[0], "b": w}, {"a": w * dy[0], "b": x[0] * dy[0]},
                       dy[0])
    assert max(good.values()) < 1e-8, good
    wrong = G.gradcheck(lambda a, b: a * b, {"a": x[0], "b": w}, {"a": x[0] * dy[0]}, dy[0])
    assert set(wrong) == {"a"} and wrong["a"] > 0.1, wrong
    with pytest.raises(ValueError, match="'c'"):
        G.gradcheck(lambda a: a, {"a": x}, {"c": x})


# ------------------------------------------------------------------------------------------------
# Dtypes and bad inputs
# ------------------------------------------------------------------------------------------------


def test_dtypes_and_layouts(P):
    rng = np.random.default_rng(13)
    x64 = rng.standard_normal((2, 3, 6, 5))
    for kind in ("max", "avg"):
        forward = getattr(P, f"{kind}pool2d_forward")
        backward = getattr(P, f"{kind}pool2d_backward")
        assert forward(np.arange(36).reshape(1, 1, 6, 6), 2).dtype == np.float64
        x32 = x64.astype(np.float32)
        dy32 = np.ones((2, 3, 3, 2), np.float32)
        assert backward(dy32, x32, 2).dtype == np.float32
        assert backward(dy32.astype(np.float64), x32, 2).dtype == np.float64
        assert backward(dy32, x64, 2).dtype == np.float64
        # A non-contiguous view gives the same result as its copy, and inputs are not modified.
        view = x64.transpose(0, 1, 3, 2)
        before = view.copy()
        np.testing.assert_array_equal(forward(view, 2, 1, 1), forward(before, 2, 1, 1))
        dy = np.ones(P.pool_output_shape(view.shape, 2, 1, 1))
        np.testing.assert_array_equal(backward(dy, view, 2, 1, 1), backward(dy, before, 2, 1, 1))
        np.testing.assert_array_equal(view, before)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_bad_inputs(P, kind):
    forward = getattr(P, f"{kind}pool2d_forward")
    backward = getattr(P, f"{kind}pool2d_backward")
    x = np.zeros((1, 2, 4, 5))
    with pytest.raises(ValueError, match=r"x must be 4-D.*\(4, 5\)"):
        forward(np.zeros((4, 5)), 2)
    with pytest.raises(ValueError, match=r"x must be 4-D.*\(2, 4, 5\)"):
        backward(np.zeros((2, 2, 2)), np.zeros((2, 4, 5)), 2)
    with pytest.raises(ValueError, match=r"kernel_size \(5, 2\) is larger than the padded input"):
        forward(x, (5, 2))
    with pytest.raises(ValueError, match=r"kernel_size \(2, 8\) is larger.*\(1, 2, 4, 5\)"):
        forward(x, (2, 8), padding=(0, 1))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        forward(x, 2, stride=0)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        backward(np.zeros((1, 2, 2, 2)), x, 2, stride=(1, 0))
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        forward(x, 0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        forward(x, 2, padding=-1)
    with pytest.raises(ValueError, match=r"padding must be at most half.*\(1, 2\).*\(3, 3\)"):
        forward(x, 3, padding=(1, 2))
    with pytest.raises(ValueError, match=r"padding must be at most half"):
        forward(x, 1, padding=1)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        forward(x, 2.0)
    with pytest.raises(TypeError, match="stride must be an int or a pair"):
        forward(x, 2, stride=(1, 2, 3))
    with pytest.raises(TypeError, match="x must be real"):
        forward(x.astype(complex), 2)
    with pytest.raises(ValueError, match=r"dy must have the shape of the forward output "
                                          r"\(1, 2, 2, 2\).*got shape \(1, 2, 2, 3\)"):
        backward(np.zeros((1, 2, 2, 3)), x, 2)
    with pytest.raises(ValueError, match=r"dy must be 4-D"):
        backward(np.zeros((2, 2, 2)), x, 2)
    with pytest.raises(ValueError, match=r"x must not be empty"):
        forward(np.zeros((1, 0, 4, 4)), 2)
    with pytest.raises(ValueError, match=r"x must be 4-D"):
        P.pool_output_shape((4, 4), 2)


def test_global_bad_inputs(P):
    with pytest.raises(ValueError, match=r"x must be 4-D.*\(3, 4, 5\)"):
        P.global_avgpool2d_forward(np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match=r"dy must have the shape of the forward output "
                                          r"\(2, 3, 1, 1\).*got shape \(2, 3, 4, 5\)"):
        P.global_avgpool2d_backward(np.zeros((2, 3, 4, 5)), np.zeros((2, 3, 4, 5)))
    with pytest.raises(TypeError, match="dy must be a numeric array"):
        P.global_avgpool2d_backward(np.array([[[["a"]]]]), np.zeros((1, 1, 2, 2)))
