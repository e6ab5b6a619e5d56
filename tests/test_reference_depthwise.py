"""The reference of chapter 4 against PyTorch (CPU, torch==2.13.0): grouped convolution
(`cnnlab.conv` with groups), `cnnlab.depthwise` (pointwise, depthwise with channel multipliers,
separable) and the separable counters of `cnnlab.arithmetic`.

Hundreds of random configurations (seeded): groups 1, a divisor g of C and O, and C; channel
multipliers 1-3; non-square inputs and kernels; asymmetric stride/padding/dilation pairs; batch
sizes of 1; float32 and float64, forward and autograd. float64 must agree with PyTorch to 1e-12
(relative to the result's scale), float32 to 1e-5. Gradients are also checked against central
differences in float64.
"""

import importlib
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

N_CONFIGS = 300
TOL = {np.float64: 1e-12, np.float32: 1e-5}
DTYPES = [np.float64, np.float32]


def _hyper(rng, low, high):
    """An int or an (h, w) pair in [low, high], pairs (mostly asymmetric) three times in four."""
    if rng.random() < 0.25:
        return int(rng.integers(low, high + 1))
    return (int(rng.integers(low, high + 1)), int(rng.integers(low, high + 1)))


def _pair(value):
    return value if isinstance(value, tuple) else (value, value)


def _spatial(rng):
    """H, W, KH, KW and hyper-parameters whose dilated kernel fits in the padded input; stride 1
    (the kernels' fast path) in about one case of three."""
    while True:
        h, w = (int(v) for v in rng.integers(1, 10, 2))
        kh, kw = (int(v) for v in rng.integers(1, 5, 2))
        hp = dict(stride=1 if rng.random() < 0.35 else _hyper(rng, 1, 3),
                  padding=_hyper(rng, 0, 2), dilation=_hyper(rng, 1, 3))
        (ph, pw), (dh, dw) = _pair(hp["padding"]), _pair(hp["dilation"])
        if dh * (kh - 1) < h + 2 * ph and dw * (kw - 1) < w + 2 * pw:
            return h, w, kh, kw, hp


def _grouped_config(rng, kind):
    """(x shape, w shape, hyper-parameters with groups) of a grouped layer; `kind` picks groups:
    "1" (standard), "g" (a group count 2..3 dividing C and O) or "C" (depthwise, multiplier
    1..3)."""
    h, w, kh, kw, hp = _spatial(rng)
    n = 1 if rng.random() < 0.3 else int(rng.integers(2, 4))
    if kind == "1":
        groups, c, o = 1, int(rng.integers(1, 4)), int(rng.integers(1, 4))
    elif kind == "g":
        groups = int(rng.integers(2, 4))
        c, o = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    else:
        c = int(rng.integers(1, 5))
        groups, o = c, c * int(rng.integers(1, 4))
    return (n, c, h, w), (o, c // groups, kh, kw), dict(hp, groups=groups)


def _describe(x_shape, w_shape, hp, dtype=None):
    text = f"x {x_shape}, w {w_shape}, " + ", ".join(f"{k}={v!r}" for k, v in hp.items())
    return text if dtype is None else f"{text}, {np.dtype(dtype).name}"


def _assert_close(got, expected, dtype, what):
    """Same shape and dtype, and equal up to TOL[dtype] relative to the result's scale."""
    expected = np.asarray(expected)
    assert isinstance(got, np.ndarray), f"{what}: got {type(got).__name__}, not an ndarray"
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype} != {np.dtype(dtype)}"
    tol = TOL[dtype]
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * scale, err_msg=what)


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def _numerical(loss, arrays, which, h=1e-6):
    """Central differences of loss(*arrays) with respect to arrays[which] (float64)."""
    grad = np.zeros_like(arrays[which])
    for index in np.ndindex(grad.shape):
        plus, minus = [a.copy() for a in arrays], [a.copy() for a in arrays]
        plus[which][index] += h
        minus[which][index] -= h
        grad[index] = (loss(*plus) - loss(*minus)) / (2 * h)
    return grad


# ----------------------------------------------------------------------------------------------
# Grouped convolution (groups = 1, g, C) against PyTorch's forward and autograd
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["1", "g", "C"])
def test_grouped_conv2d_matches_torch_forward_and_autograd(ref, kind, dtype):
    rng = np.random.default_rng({"1": 1, "g": 2, "C": 3}[kind] + 10 * DTYPES.index(dtype))
    for _ in range(N_CONFIGS // 3):
        x_shape, w_shape, hp = _grouped_config(rng, kind)
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal(w_shape).astype(dtype)
        b = rng.standard_normal(w_shape[0]).astype(dtype)
        xt, wt, bt = (_t(a).requires_grad_() for a in (x, w, b))
        yt = F.conv2d(xt, wt, bt, **hp)
        dy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
        yt.backward(_t(dy))
        what = _describe(x_shape, w_shape, hp, dtype)
        _assert_close(ref.conv.conv2d_forward(x, w, b, **hp), yt.detach().numpy(), dtype, what)
        dx, dw, db = ref.conv.conv2d_backward(dy, x, w, **hp)
        _assert_close(dx, xt.grad.numpy(), dtype, f"dx, {what}")
        _assert_close(dw, wt.grad.numpy(), dtype, f"dw, {what}")
        _assert_close(db, bt.grad.numpy(), dtype, f"db, {what}")


def test_grouped_backward_pieces_match_torch_nn_grad(ref):
    rng = np.random.default_rng(4)
    for kind in ["g", "C"] * 30:
        x_shape, w_shape, hp = _grouped_config(rng, kind)
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        y = F.conv2d(_t(x), _t(w), **hp)
        dy = rng.standard_normal(tuple(y.shape))
        what = _describe(x_shape, w_shape, hp)
        expected = torch.nn.grad.conv2d_input(x_shape, _t(w), _t(dy), **hp).numpy()
        _assert_close(ref.conv.conv2d_backward_input(dy, x_shape, w, **hp), expected, np.float64,
                      f"conv2d_backward_input, {what}")
        expected = torch.nn.grad.conv2d_weight(_t(x), w_shape, _t(dy), **hp).numpy()
        _assert_close(ref.conv.conv2d_backward_weight(dy, x, w_shape, **hp), expected,
                      np.float64, f"conv2d_backward_weight, {what}")


def test_grouped_conv2d_is_groups_separate_convolutions(ref):
    """Output group g is the groups=1 convolution of input group g with the filters of group g."""
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 6, 7, 6)), rng.standard_normal((9, 2, 3, 2)), np.arange(9.)
    hp = dict(stride=(2, 1), padding=1, dilation=(1, 2))
    out = ref.conv.conv2d_forward(x, w, b, groups=3, **hp)
    for g in range(3):
        alone = ref.conv.conv2d_forward(x[:, 2 * g : 2 * g + 2], w[3 * g : 3 * g + 3],
                                        b[3 * g : 3 * g + 3], **hp)
        np.testing.assert_array_equal(out[:, 3 * g : 3 * g + 3], alone)


def test_grouped_conv2d_matches_central_differences(ref):
    rng = np.random.default_rng(6)
    hp = dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    x, w, b = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((6, 2, 3, 2)), np.zeros(6)
    dy = rng.standard_normal(ref.conv.conv2d_forward(x, w, b, **hp).shape)

    def loss(x, w, b):
        return float(np.sum(dy * ref.conv.conv2d_forward(x, w, b, **hp)))

    analytic = ref.conv.conv2d_backward(dy, x, w, **hp)
    for which, name in enumerate(("dx", "dw", "db")):
        np.testing.assert_allclose(analytic[which], _numerical(loss, [x, w, b], which),
                                   rtol=1e-6, atol=1e-8, err_msg=name)


def test_grouped_bad_inputs_raise(ref):
    conv = ref.conv
    x = np.zeros((2, 6, 5, 5))
    # groups must divide C and O; the message names C, O and groups.
    with pytest.raises(ValueError, match=r"groups=4 .*C=6.*O=8"):
        conv.conv2d_forward(x, np.zeros((8, 1, 3, 3)), groups=4)
    with pytest.raises(ValueError, match=r"groups=3 .*C=6.*O=4"):
        conv.conv2d_forward(x, np.zeros((4, 2, 3, 3)), groups=3)
    # w must have C // groups input channels.
    with pytest.raises(ValueError, match=r"groups=2.*C // groups = 3.*C=6.*\(O, 3, KH, KW\).*"
                                         r"\(4, 6, 3, 3\)"):
        conv.conv2d_forward(x, np.zeros((4, 6, 3, 3)), groups=2)
    for bad, error in [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError)]:
        with pytest.raises(error, match="groups"):
            conv.conv2d_forward(x, np.zeros((6, 6, 3, 3)), groups=bad)
    # The backward functions check the same.
    dy = np.zeros((2, 4, 3, 3))
    with pytest.raises(ValueError, match=r"groups=3 .*C=6.*O=4"):
        conv.conv2d_backward(dy, x, np.zeros((4, 2, 3, 3)), groups=3)
    with pytest.raises(ValueError, match=r"groups=4 .*C=6.*O=4"):
        conv.conv2d_backward_input(dy, x.shape, np.zeros((4, 1, 3, 3)), groups=4)
    with pytest.raises(ValueError, match=r"C // groups = 3"):
        conv.conv2d_backward_weight(dy, x, (4, 2, 3, 3), groups=2)
    # dy of the wrong shape for a grouped layer.
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(2, 4, 3, 3\)"):
        conv.conv2d_backward(np.zeros((2, 6, 3, 3)), x, np.zeros((4, 3, 3, 3)), groups=2)


# ----------------------------------------------------------------------------------------------
# Depthwise convolution against PyTorch's groups=C
# ----------------------------------------------------------------------------------------------


def _depthwise_case(rng, dtype):
    x_shape, w_shape, hp = _grouped_config(rng, "C")
    hp.pop("groups")
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype) if rng.random() < 0.7 else None
    return x, w, b, hp


def _assert_depthwise_matches_torch(ref, x, w, b, hp, rng, what):
    """The reference's depthwise forward and backward against torch's conv2d(groups=C) and its
    autograd, for a random upstream gradient dy drawn from `rng`. Returns the output's shape."""
    dtype = x.dtype.type
    xt, wt = _t(x).requires_grad_(), _t(w).requires_grad_()
    yt = F.conv2d(xt, wt, None if b is None else _t(b), groups=x.shape[1], **hp)
    dy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    yt.backward(_t(dy))
    _assert_close(ref.depthwise.depthwise_conv2d_forward(x, w, b, **hp), yt.detach().numpy(),
                  dtype, what)
    dx, dw, db = ref.depthwise.depthwise_conv2d_backward(dy, x, w, **hp)
    _assert_close(dx, xt.grad.numpy(), dtype, f"dx, {what}")
    _assert_close(dw, wt.grad.numpy(), dtype, f"dw, {what}")
    _assert_close(db, _t(dy).sum((0, 2, 3)).numpy(), dtype, f"db, {what}")
    return tuple(yt.shape)


@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_matches_torch_forward_and_autograd(ref, dtype):
    rng = np.random.default_rng(20 + DTYPES.index(dtype))
    multipliers = set()
    for _ in range(N_CONFIGS):
        x, w, b, hp = _depthwise_case(rng, dtype)
        multipliers.add(w.shape[0] // x.shape[1])
        what = f"{_describe(x.shape, w.shape, hp, dtype)}, bias={b is not None}"
        _assert_depthwise_matches_torch(ref, x, w, b, hp, rng, what)
    assert multipliers == {1, 2, 3}


@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_large_layers_in_chunks_match_torch(ref, dtype):
    """Layers large enough to run in several chunks of images (each padded on its own) agree
    with PyTorch: channel multipliers 1 and 2, padding 0 and 1, strides, dilation, 5x5."""
    rng = np.random.default_rng(24 + DTYPES.index(dtype))
    cases = [  # n, c, m, h, w, kernel, hyper-parameters
        (12, 32, 2, 48, 47, 3, dict(padding=1)), (4, 32, 1, 30, 17, 3, dict(padding=0)),
        (9, 24, 1, 14, 14, 3, dict(padding=1)), (4, 32, 2, 48, 47, 3, dict(stride=(2, 1),
                                                                          padding=(1, 0))),
        (3, 32, 2, 48, 47, 3, dict(dilation=2, padding=2)), (6, 16, 1, 40, 40, 5, dict(padding=2)),
        (40, 64, 1, 9, 9, 3, dict(padding=1)), (2, 8, 1, 9, 9, 3, dict(padding=1)),
    ]
    chunks = []
    for n, c, m, h, wd, k, hp in cases:
        x = rng.standard_normal((n, c, h, wd)).astype(dtype)
        w = rng.standard_normal((c * m, 1, k, k)).astype(dtype)
        b = rng.standard_normal(c * m).astype(dtype)
        p = hp.get("padding", 0)
        ph, pw = (p, p) if isinstance(p, int) else p
        chunks.append(ref.depthwise._image_chunks((n, c, h + 2 * ph, wd + 2 * pw), x.itemsize))
        _assert_depthwise_matches_torch(ref, x, w, b, hp, rng, _describe(x.shape, w.shape, hp,
                                                                          dtype))
    assert min(chunks) == 2 and max(chunks) == 4, chunks  # 2 images: 2 chunks; else MIN_CHUNKS
    # A batch of 18.9 MB padded float32: chunks of 14 images (4 MB) at most.
    assert ref.depthwise._image_chunks((64, 64, 34, 34), 4) == 5


@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_fused_planes_path_matches_torch(ref, dtype):
    """The reference's fast path (3x3, stride 1, at least 4096 output pixels: one padded plane
    at a time in the cache, dx as a gather) agrees with PyTorch: padding 0, 1, 2 and uneven,
    dilation 1, 2 and uneven, multipliers 1 to 3, with and without bias, small and odd planes."""
    fast = importlib.import_module(f"{ref.__name__}._fast_depthwise")  # the reference's only
    rng = np.random.default_rng(26 + DTYPES.index(dtype))
    cases = [  # n, c, m, h, w, hyper-parameters
        (32, 8, 1, 16, 16, dict(padding=1)), (6, 6, 2, 31, 29, dict(padding=0)),
        (3, 4, 3, 40, 37, dict(padding=2, dilation=2)), (9, 5, 1, 24, 23, dict(padding=(1, 0))),
        (4, 3, 2, 33, 35, dict(padding=(2, 1), dilation=(2, 1))), (120, 2, 1, 8, 8, dict()),
        (2, 3, 1, 60, 70, dict(padding=3, dilation=3)), (1, 2, 2, 5, 900, dict(padding=1)),
    ]
    for index, (n, c, m, h, wd, hp) in enumerate(cases):
        x = rng.standard_normal((n, c, h, wd)).astype(dtype)
        w = rng.standard_normal((c * m, 1, 3, 3)).astype(dtype)
        b = rng.standard_normal(c * m).astype(dtype) if index % 2 == 0 else None
        what = f"{_describe(x.shape, w.shape, hp, dtype)}, bias={b is not None}"
        out_n, _, out_h, out_w = _assert_depthwise_matches_torch(ref, x, w, b, hp, rng, what)
        assert fast.fused_planes_apply(w.shape, (1, 1), out_n, (out_h, out_w)), what
    # Its neighbours take the chapter's kernels: stride 2, 5x5 and 3x1 filters, small layers.
    assert not fast.fused_planes_apply((8, 1, 3, 3), (2, 1), 1, (1000, 1000))
    assert not fast.fused_planes_apply((8, 1, 5, 5), (1, 1), 1, (1000, 1000))
    assert not fast.fused_planes_apply((8, 1, 3, 1), (1, 1), 1, (1000, 1000))
    assert not fast.fused_planes_apply((8, 1, 3, 3), (1, 1), 3, (35, 39))


@pytest.mark.parametrize("stride, kernel", [(1, 3), (2, 3), (1, 5)])
def test_depthwise_results_do_not_depend_on_the_thread_count(ref, stride, kernel):
    """The fast path (stride 1, 3x3: each filter's gradient summed by one thread) and the chunks
    of images (fixed by the input) give identical results on 1 and 2 threads."""
    import numba

    rng = np.random.default_rng(25)
    x = rng.standard_normal((7, 32, 40, 33)).astype(np.float32)
    w = rng.standard_normal((64, 1, kernel, kernel)).astype(np.float32)
    hp = dict(stride=stride, padding=kernel // 2)
    dy = rng.standard_normal(ref.depthwise.depthwise_conv2d_forward(x, w, **hp).shape)
    before, results = numba.get_num_threads(), []
    try:
        for threads in (1, 2):
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            results.append((ref.depthwise.depthwise_conv2d_forward(x, w, **hp),
                            *ref.depthwise.depthwise_conv2d_backward(dy, x, w, **hp)))
    finally:
        numba.set_num_threads(before)
    for one, two in zip(*results, strict=True):
        np.testing.assert_array_equal(one, two)


def test_depthwise_equals_the_grouped_path(ref):
    """The dedicated kernels and conv2d with groups=C compute the same thing."""
    rng = np.random.default_rng(21)
    for _ in range(60):
        x, w, b, hp = _depthwise_case(rng, np.float64)
        c = x.shape[1]
        out = ref.depthwise.depthwise_conv2d_forward(x, w, b, **hp)
        np.testing.assert_allclose(out, ref.conv.conv2d_forward(x, w, b, groups=c, **hp),
                                   rtol=1e-12, atol=1e-12)
        dy = rng.standard_normal(out.shape)
        for got, expected in zip(ref.depthwise.depthwise_conv2d_backward(dy, x, w, **hp),
                                 ref.conv.conv2d_backward(dy, x, w, groups=c, **hp), strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_depthwise_matches_central_differences(ref):
    rng = np.random.default_rng(22)
    for hp in [dict(stride=1, padding=1, dilation=1), dict(stride=(2, 1), padding=(0, 1),
                                                            dilation=(1, 2))]:
        x, w, b = rng.standard_normal((2, 2, 6, 5)), rng.standard_normal((6, 1, 3, 2)), np.ones(6)
        dy = rng.standard_normal(ref.depthwise.depthwise_conv2d_forward(x, w, b, **hp).shape)

        def loss(x, w, b, hp=hp, dy=dy):
            return float(np.sum(dy * ref.depthwise.depthwise_conv2d_forward(x, w, b, **hp)))

        analytic = ref.depthwise.depthwise_conv2d_backward(dy, x, w, **hp)
        for which, name in enumerate(("dx", "dw", "db")):
            np.testing.assert_allclose(analytic[which], _numerical(loss, [x, w, b], which),
                                       rtol=1e-6, atol=1e-8, err_msg=f"{name}, {hp}")


def test_depthwise_output_order_is_by_input_channel(ref):
    """Output c * M + m is input channel c with filter c * M + m (PyTorch's order)."""
    x = np.stack([np.full((3, 3), 1.0), np.full((3, 3), 100.0)])[None]  # C = 2
    w = np.arange(1.0, 7.0)[:, None, None, None] * np.ones((6, 1, 1, 1))  # M = 3, 1x1 filters
    out = ref.depthwise.depthwise_conv2d_forward(x, w)
    assert out[0, :, 0, 0].tolist() == [1, 2, 3, 400, 500, 600]


def test_depthwise_bad_inputs_raise(ref):
    dw = ref.depthwise
    x = np.zeros((2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"\(C \* M, 1, KH, KW\).*C=3.*\(2, 3, 5, 5\).*"
                                         r"\(4, 1, 3, 3\)"):
        dw.depthwise_conv2d_forward(x, np.zeros((4, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"\(C \* M, 1, KH, KW\).*\(3, 3, 3, 3\)"):
        dw.depthwise_conv2d_forward(x, np.zeros((3, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"b must have shape \(6,\)"):
        dw.depthwise_conv2d_forward(x, np.zeros((6, 1, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"kernel \(7, 7\)"):
        dw.depthwise_conv2d_forward(x, np.zeros((3, 1, 7, 7)))
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape "
                                         r"\(2, 6, 3, 3\)"):
        dw.depthwise_conv2d_backward(np.zeros((2, 3, 3, 3)), x, np.zeros((6, 1, 3, 3)))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        dw.depthwise_conv2d_forward(x, np.zeros((3, 1, 3, 3)), stride=0)


# ----------------------------------------------------------------------------------------------
# Pointwise and separable convolutions
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_pointwise_matches_torch_forward_and_autograd(ref, dtype):
    rng = np.random.default_rng(30 + DTYPES.index(dtype))
    for case in range(N_CONFIGS // 2):
        n, c, o, h, w = (int(v) for v in rng.integers(1, [4, 7, 7, 9, 9]))
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        w4 = rng.standard_normal((o, c, 1, 1)).astype(dtype)
        b = rng.standard_normal(o).astype(dtype) if case % 3 else None
        xt, wt = _t(x).requires_grad_(), _t(w4).requires_grad_()
        yt = F.conv2d(xt, wt, None if b is None else _t(b))
        dy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
        yt.backward(_t(dy))
        weights = w4 if case % 2 else w4[:, :, 0, 0]  # (O, C, 1, 1) or (O, C)
        what = f"x {x.shape}, w {weights.shape}, {np.dtype(dtype).name}"
        got = ref.depthwise.pointwise_conv2d_forward(x, weights, b)
        _assert_close(got, yt.detach().numpy(), dtype, what)
        dx, dw, db = ref.depthwise.pointwise_conv2d_backward(dy, x, weights)
        _assert_close(dx, xt.grad.numpy(), dtype, f"dx, {what}")
        _assert_close(dw, wt.grad.numpy().reshape(weights.shape), dtype, f"dw, {what}")
        _assert_close(db, _t(dy).sum((0, 2, 3)).numpy(), dtype, f"db, {what}")


def test_pointwise_bad_inputs_raise(ref):
    pw = ref.depthwise
    x = np.zeros((2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\(O, C, 1, 1\) or \(O, C\).*\(5, 3, 3, 3\)"):
        pw.pointwise_conv2d_forward(x, np.zeros((5, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"channel mismatch.*\(5, 2\).*C=3"):
        pw.pointwise_conv2d_forward(x, np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape "
                                         r"\(2, 5, 4, 4\)"):
        pw.pointwise_conv2d_backward(np.zeros((2, 5, 3, 4)), x, np.zeros((5, 3)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_separable_matches_torch_forward_and_autograd(ref, dtype):
    rng = np.random.default_rng(40 + DTYPES.index(dtype))
    for _ in range(N_CONFIGS // 3):
        x, wd, bd, hp = _depthwise_case(rng, dtype)
        o = int(rng.integers(1, 6))
        wp = rng.standard_normal((o, wd.shape[0], 1, 1)).astype(dtype)
        bp = rng.standard_normal(o).astype(dtype)
        tensors = [_t(a).requires_grad_() for a in (x, wd, wp, bp)]
        bdt = None if bd is None else _t(bd).requires_grad_()
        hidden = F.conv2d(tensors[0], tensors[1], bdt, groups=x.shape[1], **hp)
        yt = F.conv2d(hidden, tensors[2], tensors[3])
        dy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
        yt.backward(_t(dy))
        what = f"{_describe(x.shape, wd.shape, hp, dtype)}, pointwise {wp.shape}"
        got = ref.depthwise.separable_conv2d_forward(x, wd, wp, bd, bp, **hp)
        _assert_close(got, yt.detach().numpy(), dtype, what)
        grads = ref.depthwise.separable_conv2d_backward(dy, x, wd, wp, bd, **hp)
        names = ("dx", "dw_depthwise", "dw_pointwise", "db_pointwise")
        for name, got_grad, tensor in zip(names, (grads[0], grads[1], grads[2], grads[4]),
                                          tensors, strict=True):
            _assert_close(got_grad, tensor.grad.numpy(), dtype, f"{name}, {what}")
        if bdt is not None:
            _assert_close(grads[3], bdt.grad.numpy(), dtype, f"db_depthwise, {what}")


def test_separable_matches_central_differences(ref):
    rng = np.random.default_rng(41)
    hp = dict(stride=(1, 2), padding=1, dilation=1)
    x, wd, wp = (rng.standard_normal(s) for s in ((2, 2, 5, 6), (4, 1, 3, 3), (3, 4, 1, 1)))
    bd, bp = rng.standard_normal(4), rng.standard_normal(3)
    dy = rng.standard_normal(ref.depthwise.separable_conv2d_forward(x, wd, wp, bd, bp,
                                                                    **hp).shape)

    def loss(x, wd, wp, bd, bp):
        return float(np.sum(dy * ref.depthwise.separable_conv2d_forward(x, wd, wp, bd, bp, **hp)))

    analytic = ref.depthwise.separable_conv2d_backward(dy, x, wd, wp, bd, **hp)
    order = (0, 1, 2, 3, 4)  # dx, dw_depthwise, dw_pointwise, db_depthwise, db_pointwise
    for which in order:
        np.testing.assert_allclose(analytic[which], _numerical(loss, [x, wd, wp, bd, bp], which),
                                   rtol=1e-6, atol=1e-8, err_msg=str(which))


def test_depthwise_module_dtypes_follow_the_input_and_inputs_stay_unchanged(ref):
    rng = np.random.default_rng(42)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    wd = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    wp = rng.standard_normal((4, 6)).astype(np.float32)
    copies = [a.copy() for a in (x, wd, wp)]
    out = ref.depthwise.separable_conv2d_forward(x, wd, wp, padding=1)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32
               for g in ref.depthwise.separable_conv2d_backward(out, x, wd, wp, padding=1))
    for a, copy in zip((x, wd, wp), copies, strict=True):
        np.testing.assert_array_equal(a, copy)
    ints = ref.depthwise.depthwise_conv2d_forward(np.ones((1, 2, 3, 3), int),
                                                  np.ones((2, 1, 2, 2), int))
    assert ints.dtype == np.float64 and ints.max() == 4


# ----------------------------------------------------------------------------------------------
# Counters of separable layers against PyTorch's parameters and FLOP counter
# ----------------------------------------------------------------------------------------------


def _separable_layers(cin, cout, kernel, multiplier, bias, **hp):
    return torch.nn.Sequential(
        torch.nn.Conv2d(cin, cin * multiplier, kernel, groups=cin, bias=bias, **hp),
        torch.nn.Conv2d(cin * multiplier, cout, 1, bias=bias),
    )


def test_separable_counters_match_torch(ref):
    rng = np.random.default_rng(50)
    for _ in range(60):
        cin, cout, multiplier = (int(v) for v in rng.integers(1, [9, 9, 4]))
        h, w, kh, kw, hp = _spatial(rng)
        bias = bool(rng.random() < 0.5)
        layers = _separable_layers(cin, cout, (kh, kw), multiplier, bias, **hp)
        expected = sum(p.numel() for p in layers.parameters())
        got = ref.arithmetic.separable_conv_params(cin, cout, (kh, kw), multiplier, bias)
        assert got == expected, (cin, cout, (kh, kw), multiplier, bias)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            layers(torch.zeros(1, cin, h, w))
        macs = ref.arithmetic.separable_conv_macs((h, w), cin, cout, (kh, kw), hp["stride"],
                                                  hp["padding"], hp["dilation"], multiplier)
        assert 2 * macs == counter.get_total_flops(), (cin, cout, (h, w), (kh, kw), hp)


def test_worked_numbers_of_the_chapter(ref):
    a = ref.arithmetic
    # 3 -> 256 channels with 3x3 kernels: standard vs depthwise separable.
    assert a.conv_params(3, 256, 3, bias=False) == 6912
    assert a.separable_conv_params(3, 256, 3, bias=False) == 795
    # The MAC ratio is 1/O + 1/K^2.
    ratio = a.separable_conv_macs(56, 128, 256, 3, padding=1) / a.conv_macs(56, 128, 256, 3,
                                                                           padding=1)
    assert ratio == pytest.approx(1 / 256 + 1 / 9)
    # ResNet's bottleneck against one 3x3 layer, 256 -> 256.
    assert a.conv_params(256, 256, 3, bias=False) == 589_824
    bottleneck = (a.conv_params(256, 64, 1, bias=False) + a.conv_params(64, 64, 3, bias=False)
                  + a.conv_params(64, 256, 1, bias=False))
    assert bottleneck == 69_632
    # Grouped layers divide parameters and MACs by the number of groups.
    for groups in (1, 2, 4, 8, 32):
        assert a.conv_params(32, 64, 3, groups=groups, bias=False) * groups == 32 * 64 * 9
        macs = a.conv_macs(16, 32, 64, 3, padding=1, groups=groups)
        assert macs * groups == 16 * 16 * 32 * 64 * 9


def test_separable_counters_bad_inputs_raise(ref):
    a = ref.arithmetic
    with pytest.raises(ValueError, match="depth_multiplier must be >= 1"):
        a.separable_conv_params(3, 8, 3, depth_multiplier=0)
    with pytest.raises(TypeError, match="bias must be True or False"):
        a.separable_conv_params(3, 8, 3, bias=1)
    with pytest.raises(ValueError, match=re.escape("kernel does not fit along the width")):
        a.separable_conv_macs((9, 2), 3, 8, 3)
