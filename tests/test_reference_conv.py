"""The reference `cnnlab.arithmetic` and `cnnlab.conv` against PyTorch (CPU, torch==2.13.0).

Hundreds of random configurations (seeded): N, C, O in 1..3, non-square H x W in 1..9, KH x KW in
1..4, asymmetric stride/padding/dilation pairs, float32 and float64. float64 must agree with
PyTorch to 1e-12 (relative to the result's scale), float32 to 1e-5.
"""

import itertools
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

N_CONFIGS = 300
TOL = {np.float64: 1e-12, np.float32: 1e-5}


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def _hyper(rng, low, high):
    """An int or an (h, w) pair in [low, high], pairs (mostly asymmetric) three times in four."""
    if rng.random() < 0.25:
        return int(rng.integers(low, high + 1))
    return (int(rng.integers(low, high + 1)), int(rng.integers(low, high + 1)))


def _pair(value):
    return value if isinstance(value, tuple) else (value, value)


def _random_config(rng):
    """A random convolution whose dilated kernel fits in the padded input."""
    while True:
        cfg = dict(
            N=int(rng.integers(1, 4)),
            C=int(rng.integers(1, 4)),
            O=int(rng.integers(1, 4)),
            H=int(rng.integers(1, 10)),
            W=int(rng.integers(1, 10)),
            KH=int(rng.integers(1, 5)),
            KW=int(rng.integers(1, 5)),
            stride=_hyper(rng, 1, 3),
            padding=_hyper(rng, 0, 2),
            dilation=_hyper(rng, 1, 3),
        )
        (ph, pw), (dh, dw) = _pair(cfg["padding"]), _pair(cfg["dilation"])
        if dh * (cfg["KH"] - 1) < cfg["H"] + 2 * ph and dw * (cfg["KW"] - 1) < cfg["W"] + 2 * pw:
            return cfg


def _configs(seed, count=N_CONFIGS):
    rng = np.random.default_rng(seed)
    return [(rng, _random_config(rng)) for _ in range(count)]


def _describe(cfg, dtype=None):
    text = (
        f"x ({cfg['N']}, {cfg['C']}, {cfg['H']}, {cfg['W']}), "
        f"w ({cfg['O']}, {cfg['C']}, {cfg['KH']}, {cfg['KW']}), stride={cfg['stride']}, "
        f"padding={cfg['padding']}, dilation={cfg['dilation']}"
    )
    return text if dtype is None else f"{text}, {np.dtype(dtype).name}"


def _hp(cfg):
    return dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"])


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


def _torch_out_hw(cfg):
    """PyTorch's output spatial size, from an actual forward pass."""
    x = torch.zeros(1, 1, cfg["H"], cfg["W"], dtype=torch.float64)
    w = torch.zeros(1, 1, cfg["KH"], cfg["KW"], dtype=torch.float64)
    return tuple(F.conv2d(x, w, **_hp(cfg)).shape[2:])


# ----------------------------------------------------------------------------------------------
# Forward pass, im2col, col2im against PyTorch
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_forward_and_gemm_match_torch(ref, dtype):
    for rng, cfg in _configs(1, N_CONFIGS):
        x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"])).astype(dtype)
        w = rng.standard_normal((cfg["O"], cfg["C"], cfg["KH"], cfg["KW"])).astype(dtype)
        b = rng.standard_normal(cfg["O"]).astype(dtype) if rng.random() < 0.7 else None
        expected = F.conv2d(_t(x), _t(w), None if b is None else _t(b), **_hp(cfg)).numpy()
        what = f"{_describe(cfg, dtype)}, bias={'yes' if b is not None else 'no'}"
        _assert_close(ref.conv.conv2d_forward(x, w, b, **_hp(cfg)), expected, dtype, what)
        _assert_close(ref.conv.conv2d_forward_gemm(x, w, b, **_hp(cfg)), expected, dtype, what)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_im2col_matches_unfold(ref, dtype):
    for rng, cfg in _configs(2, N_CONFIGS):
        x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"])).astype(dtype)
        kernel = (cfg["KH"], cfg["KW"])
        expected = F.unfold(_t(x), kernel, **_hp(cfg)).numpy()
        got = ref.conv.im2col(x, kernel, **_hp(cfg))
        what = _describe(cfg, dtype)
        assert got.shape == expected.shape and got.dtype == dtype, what
        np.testing.assert_array_equal(got, expected, err_msg=what)  # a copy: exact


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_col2im_matches_fold(ref, dtype):
    for rng, cfg in _configs(3, N_CONFIGS):
        oh, ow = _torch_out_hw(cfg)
        kernel, size = (cfg["KH"], cfg["KW"]), (cfg["H"], cfg["W"])
        cols = rng.standard_normal((cfg["N"], cfg["C"] * cfg["KH"] * cfg["KW"], oh * ow))
        cols = cols.astype(dtype)
        expected = F.fold(_t(cols), size, kernel, **_hp(cfg)).numpy()
        got = ref.conv.col2im(cols, size, kernel, **_hp(cfg))
        _assert_close(got, expected, dtype, _describe(cfg, dtype))


def test_col2im_adds_overlaps(ref):
    # 1x1 image of ones, 3x3 input, 2x2 kernel, stride 1: the centre is in all four windows.
    cols = ref.conv.im2col(np.ones((1, 1, 3, 3)), 2)
    got = ref.conv.col2im(cols, 3, 2)
    np.testing.assert_array_equal(got[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_dtypes_follow_the_input(ref):
    rng = np.random.default_rng(4)
    x64, w64 = rng.standard_normal((1, 2, 5, 4)), rng.standard_normal((3, 2, 2, 2))
    x32, w32 = x64.astype(np.float32), w64.astype(np.float32)
    xi, wi = np.arange(40).reshape(1, 2, 5, 4), np.ones((3, 2, 2, 2), dtype=np.int64)
    conv = ref.conv
    for x, w, dtype in [
        (x32, w32, np.float32),
        (x64, w64, np.float64),
        (xi, wi, np.float64),
        (x32, w64, np.float64),
    ]:
        assert conv.conv2d_forward(x, w).dtype == dtype
        assert conv.conv2d_forward_gemm(x, w).dtype == dtype
        assert conv.conv2d_forward(x, w, np.zeros(3, np.float32)).dtype == dtype
        grads = conv.conv2d_backward(np.ones((1, 3, 4, 3), dtype), x, w)
        assert [g.dtype for g in grads] == [dtype] * 3
    assert conv.im2col(x32, 2).dtype == np.float32 and conv.im2col(xi, 2).dtype == np.float64
    assert conv.col2im(conv.im2col(x32, 2), (5, 4), 2).dtype == np.float32
    # Integer images give the float64 result of the same float images.
    np.testing.assert_array_equal(conv.conv2d_forward(xi, wi), conv.conv2d_forward(xi * 1.0, wi))


def test_inputs_are_not_modified(ref):
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((3, 2, 3, 2)), np.ones(3)
    dy = rng.standard_normal((2, 3, 3, 7))
    copies = [a.copy() for a in (x, w, b, dy)]
    ref.conv.conv2d_forward(x, w, b, padding=(0, 1))
    ref.conv.conv2d_forward_gemm(x, w, b, padding=(0, 1))
    ref.conv.conv2d_backward(dy, x, w, padding=(0, 1))
    ref.conv.col2im(ref.conv.im2col(x, 2), (5, 6), 2)
    for a, copy in zip((x, w, b, dy), copies, strict=True):
        np.testing.assert_array_equal(a, copy)


# ----------------------------------------------------------------------------------------------
# Backward pass against PyTorch autograd and against finite differences
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_backward_matches_autograd(ref, dtype):
    for rng, cfg in _configs(6, N_CONFIGS):
        x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"])).astype(dtype)
        w = rng.standard_normal((cfg["O"], cfg["C"], cfg["KH"], cfg["KW"])).astype(dtype)
        b = rng.standard_normal(cfg["O"]).astype(dtype)
        xt, wt, bt = (_t(a).requires_grad_() for a in (x, w, b))
        yt = F.conv2d(xt, wt, bt, **_hp(cfg))
        dy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
        yt.backward(_t(dy))
        dx, dw, db = ref.conv.conv2d_backward(dy, x, w, **_hp(cfg))
        what = _describe(cfg, dtype)
        _assert_close(dx, xt.grad.numpy(), dtype, f"dx, {what}")
        _assert_close(dw, wt.grad.numpy(), dtype, f"dw, {what}")
        _assert_close(db, bt.grad.numpy(), dtype, f"db, {what}")


def test_backward_pieces_match_torch_nn_grad(ref):
    """conv2d_backward_input / _weight / _bias, each on its own, against torch.nn.grad."""
    for rng, cfg in _configs(15, 50):
        x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"]))
        w = rng.standard_normal((cfg["O"], cfg["C"], cfg["KH"], cfg["KW"]))
        dy = rng.standard_normal((cfg["N"], cfg["O"], *_torch_out_hw(cfg)))
        what = _describe(cfg, np.float64)
        expected = torch.nn.grad.conv2d_input(x.shape, _t(w), _t(dy), **_hp(cfg)).numpy()
        got = ref.conv.conv2d_backward_input(dy, x.shape, w, **_hp(cfg))
        _assert_close(got, expected, np.float64, f"conv2d_backward_input, {what}")
        expected = torch.nn.grad.conv2d_weight(_t(x), w.shape, _t(dy), **_hp(cfg)).numpy()
        got = ref.conv.conv2d_backward_weight(dy, x, w.shape, **_hp(cfg))
        _assert_close(got, expected, np.float64, f"conv2d_backward_weight, {what}")
        expected = _t(dy).sum((0, 2, 3)).numpy()
        _assert_close(ref.conv.conv2d_backward_bias(dy), expected, np.float64,
                      f"conv2d_backward_bias, {what}")
        # conv2d_backward is the three pieces together.
        for got, piece in zip(ref.conv.conv2d_backward(dy, x, w, **_hp(cfg)),
                              (ref.conv.conv2d_backward_input(dy, x.shape, w, **_hp(cfg)),
                               ref.conv.conv2d_backward_weight(dy, x, w.shape, **_hp(cfg)),
                               ref.conv.conv2d_backward_bias(dy)), strict=True):
            np.testing.assert_array_equal(got, piece, err_msg=what)


def test_conv2d_backward_matches_central_differences(ref):
    rng = np.random.default_rng(7)
    hp = dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))
    x, w, b = rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((3, 2, 3, 2)), np.zeros(3)
    dy = rng.standard_normal(ref.conv.conv2d_forward(x, w, b, **hp).shape)

    def loss(x, w, b):
        return float(np.sum(dy * ref.conv.conv2d_forward(x, w, b, **hp)))

    def numerical(arrays, which, h=1e-6):
        grad = np.zeros_like(arrays[which])
        for index in np.ndindex(grad.shape):
            plus, minus = [a.copy() for a in arrays], [a.copy() for a in arrays]
            plus[which][index] += h
            minus[which][index] -= h
            grad[index] = (loss(*plus) - loss(*minus)) / (2 * h)
        return grad

    analytic = ref.conv.conv2d_backward(dy, x, w, **hp)
    for which, name in enumerate(("dx", "dw", "db")):
        num = numerical([x, w, b], which)
        np.testing.assert_allclose(analytic[which], num, rtol=1e-6, atol=1e-8, err_msg=name)
    # Padding rows/columns that no window reaches get no gradient, but real pixels do.
    assert np.count_nonzero(analytic[0]) > 0


# ----------------------------------------------------------------------------------------------
# Arithmetic against PyTorch's actual shapes, parameter counts and FLOP counter
# ----------------------------------------------------------------------------------------------


def test_conv_output_size_matches_torch_shapes(ref):
    rng = np.random.default_rng(8)
    for _ in range(400):
        # One axis per call: height gets one random config, width a trivial one.
        size, k, s = int(rng.integers(1, 13)), int(rng.integers(1, 7)), int(rng.integers(1, 5))
        p, d = int(rng.integers(0, 4)), int(rng.integers(1, 4))
        x = torch.zeros(1, 1, size, 1)
        w = torch.zeros(1, 1, k, 1)
        call = f"conv_output_size({size}, {k}, stride={s}, padding={p}, dilation={d})"
        try:
            expected = F.conv2d(x, w, stride=(s, 1), padding=(p, 0), dilation=(d, 1)).shape[2]
        except RuntimeError:
            with pytest.raises(ValueError, match=f"kernel_size={k}"):
                ref.arithmetic.conv_output_size(size, k, s, p, d)
            continue
        assert ref.arithmetic.conv_output_size(size, k, s, p, d) == expected, call


def test_transposed_conv_output_size_matches_torch_shapes(ref):
    rng = np.random.default_rng(9)
    raised = 0
    for _ in range(400):
        size, k, s = int(rng.integers(1, 7)), int(rng.integers(1, 6)), int(rng.integers(1, 5))
        p, op, d = int(rng.integers(0, 4)), int(rng.integers(0, 4)), int(rng.integers(1, 4))
        x, w = torch.zeros(1, 1, size, 1), torch.zeros(1, 1, k, 1)
        call = f"transposed_conv_output_size({size}, {k}, {s}, {p}, {op}, {d})"
        try:
            expected = F.conv_transpose2d(
                x, w, stride=(s, 1), padding=(p, 0), output_padding=(op, 0), dilation=(d, 1)
            ).shape[2]
        except RuntimeError:
            raised += 1
            with pytest.raises(ValueError, match=r"output_padding=|padding=\d+ crops"):
                ref.arithmetic.transposed_conv_output_size(size, k, s, p, op, d)
            continue
        assert ref.arithmetic.transposed_conv_output_size(size, k, s, p, op, d) == expected, call
    assert 20 < raised < 380  # both branches were exercised


def test_conv_params_match_torch(ref):
    rng = np.random.default_rng(10)
    for _ in range(100):
        groups = int(rng.integers(1, 4))
        cin, cout = groups * int(rng.integers(1, 5)), groups * int(rng.integers(1, 5))
        kernel = _hyper(rng, 1, 7)
        bias = bool(rng.random() < 0.5)
        layer = torch.nn.Conv2d(cin, cout, kernel, groups=groups, bias=bias)
        expected = sum(p.numel() for p in layer.parameters())
        got = ref.arithmetic.conv_params(cin, cout, kernel, groups=groups, bias=bias)
        assert got == expected, f"conv_params({cin}, {cout}, {kernel}, {groups}, {bias})"


def test_conv_flops_and_macs_match_torch_flop_counter(ref):
    rng = np.random.default_rng(11)
    for _ in range(40):
        groups = int(rng.integers(1, 3))
        cin, cout = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
        cfg = _random_config(rng)
        size, kernel, hp = (cfg["H"], cfg["W"]), (cfg["KH"], cfg["KW"]), _hp(cfg)
        layer = torch.nn.Conv2d(cin, cout, kernel, groups=groups, bias=True, **hp)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            layer(torch.zeros(1, cin, *size))
        args = (size, cin, cout, kernel, hp["stride"], hp["padding"], hp["dilation"], groups)
        assert ref.arithmetic.conv_flops(*args) == counter.get_total_flops(), args
        assert 2 * ref.arithmetic.conv_macs(*args) == counter.get_total_flops(), args


def test_activation_memory(ref):
    for shape in [(1,), (2, 3, 4, 5), (8, 96, 55, 55), (0, 3)]:
        for dtype in (torch.float32, torch.float64, torch.float16):
            t = torch.empty(shape, dtype=dtype)
            expected = t.numel() * t.element_size()
            assert ref.arithmetic.activation_memory(shape, t.element_size()) == expected
    assert ref.arithmetic.activation_memory(torch.Size((3, 227, 227))) == 4 * 3 * 227 * 227
    assert ref.arithmetic.activation_memory(()) == 4  # a scalar


def _empirical_field(layers):
    """Receptive field and jump measured with autograd on a stack of 1-D convolutions of ones."""
    rf = 1 + sum(
        d * (k - 1) * int(np.prod([s for _, s, _ in layers[:i]]))
        for i, (k, _, d) in enumerate(layers)
    )
    step = int(np.prod([s for _, s, _ in layers]))
    x = torch.ones(1, 1, rf + step, dtype=torch.float64, requires_grad=True)
    y = x
    for k, s, d in layers:
        y = F.conv1d(y, torch.ones(1, 1, k, dtype=torch.float64), stride=s, dilation=d)
    assert y.shape[-1] >= 2
    (g0,) = torch.autograd.grad(y[0, 0, 0], x, retain_graph=True)
    (g1,) = torch.autograd.grad(y[0, 0, 1], x)
    support0, support1 = g0[0, 0].nonzero()[:, 0], g1[0, 0].nonzero()[:, 0]
    return int(support0.max() - support0.min() + 1), int(support1.min() - support0.min())


def test_receptive_field_and_jump_match_autograd(ref):
    rng = np.random.default_rng(12)
    for _ in range(100):
        depth = int(rng.integers(1, 5))
        layers = [
            tuple(int(v) for v in (rng.integers(1, 5), rng.integers(1, 4), rng.integers(1, 4)))
            for _ in range(depth)
        ]
        field, step = _empirical_field(layers)
        assert ref.arithmetic.receptive_field(layers) == field, layers
        assert ref.arithmetic.jump(layers) == step, layers


# ----------------------------------------------------------------------------------------------
# Worked examples of the course
# ----------------------------------------------------------------------------------------------


def test_alexnet_conv1(ref):
    a = ref.arithmetic
    assert a.conv_params(3, 96, 11) == 34_944
    assert a.conv_output_size(227, 11, stride=4) == 55
    assert a.conv_output_size(224, 11, stride=4, padding=2) == 55  # torchvision's variant
    assert 55 * 55 * a.conv_params(3, 96, 11) == 105_705_600  # without parameter sharing
    assert a.conv_macs(227, 3, 96, 11, stride=4) == 55 * 55 * 96 * 11 * 11 * 3 == 105_415_200
    assert a.activation_memory((96, 55, 55)) == 1_161_600


def test_cs231n_demo_5x5_padded_to_7x7(ref):
    # 5x5x3 input padded by 1 (7x7x3), two 3x3x3 filters, stride 2 -> 3x3x2.
    assert ref.arithmetic.conv_output_size(5, 3, stride=2, padding=1) == 3
    rng = np.random.default_rng(13)
    x, w, b = rng.integers(0, 3, (1, 3, 5, 5)), rng.integers(-1, 2, (2, 3, 3, 3)), np.array([1, 0])
    expected = F.conv2d(_t(x * 1.0), _t(w * 1.0), _t(b * 1.0), stride=2, padding=1).numpy()
    got = ref.conv.conv2d_forward(x, w, b, stride=2, padding=1)
    assert got.shape == (1, 2, 3, 3)
    np.testing.assert_array_equal(got, expected)  # small integers: exact


def test_output_size_examples(ref):
    a = ref.arithmetic
    assert a.conv_output_size(5, 3, stride=1, padding=1) == 5  # "same" padding
    assert a.conv_output_size(5, 3, stride=2, padding=1) == 3
    assert a.conv_output_size(5, 3, stride=3, padding=1) == 2  # 5/3 + 1: PyTorch floors
    assert a.conv_output_size(7, 3, dilation=2) == 3
    assert a.conv_output_size(np.int64(7), np.int32(3)) == 5  # NumPy ints are ints
    assert a.transposed_conv_output_size(2, 4, stride=3) == 7
    x = F.conv_transpose2d(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 4, 4), stride=3)
    assert x.shape[2:] == (7, 7)
    assert a.transposed_conv_output_size(3, 3, stride=2, padding=1, output_padding=1) == 6
    assert a.receptive_field([(3, 1, 1)] * 3) == 7
    assert a.jump([(3, 1, 1)] * 3) == 1
    assert a.receptive_field([]) == 1 and a.jump([]) == 1
    assert a.receptive_field([(3, 1, 1), (2, 2, 1), (3, 1, 1)]) == 8
    assert a.jump([(3, 1, 1), (2, 2, 1), (3, 1, 1)]) == 2
    assert a.receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)]) == 15  # dilations 1, 2, 4


# ----------------------------------------------------------------------------------------------
# Bad inputs: a ValueError/TypeError naming the parameter and the offending shape
# ----------------------------------------------------------------------------------------------


def _shape(shape):
    return re.escape(str(tuple(shape)))


def test_conv_bad_inputs_raise(ref):
    conv = ref.conv
    x, w = np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3))
    forwards = (conv.conv2d_forward, conv.conv2d_forward_gemm)
    for forward in forwards:
        # Channel mismatch: both shapes are named.
        w2 = np.zeros((4, 2, 3, 3))
        with pytest.raises(ValueError, match=f"{_shape(w2.shape)}.*{_shape(x.shape)}"):
            forward(x, w2)
        # Kernel larger than the (padded) input.
        small = np.zeros((1, 3, 2, 4))
        with pytest.raises(ValueError, match=rf"kernel \(3, 3\).*{_shape(small.shape)}"):
            forward(small, w)
        with pytest.raises(ValueError, match=r"dilation \(3, 3\)"):
            forward(x, w, dilation=3)
        # Wrong number of dimensions.
        with pytest.raises(ValueError, match=rf"x must be 4-D.*{_shape((3, 5, 5))}"):
            forward(np.zeros((3, 5, 5)), w)
        with pytest.raises(ValueError, match=rf"w must be 4-D.*{_shape((3, 3, 3))}"):
            forward(x, np.zeros((3, 3, 3)))
        # Bias of the wrong shape.
        with pytest.raises(ValueError, match=rf"b must have shape \(4,\).*{_shape((3,))}"):
            forward(x, w, np.zeros(3))
        # Bad hyper-parameters.
        with pytest.raises(ValueError, match="stride must be >= 1"):
            forward(x, w, stride=0)
        with pytest.raises(ValueError, match=r"stride must be >= 1, got \(1, 0\)"):
            forward(x, w, stride=(1, 0))
        with pytest.raises(ValueError, match="padding must be >= 0"):
            forward(x, w, padding=-1)
        with pytest.raises(ValueError, match="dilation must be >= 1"):
            forward(x, w, dilation=0)
        with pytest.raises(TypeError, match="stride"):
            forward(x, w, stride=1.5)
        with pytest.raises(TypeError, match="padding"):
            forward(x, w, padding=True)
        with pytest.raises(TypeError, match="stride"):
            forward(x, w, stride=(1, 2, 3))
        with pytest.raises(TypeError, match="x must be real"):
            forward(x + 1j, w)
        with pytest.raises(ValueError, match=r"x must not be empty.*\(0, 3, 5, 5\)"):
            forward(np.zeros((0, 3, 5, 5)), w)


def test_conv2d_backward_bad_inputs_raise(ref):
    conv = ref.conv
    x, w = np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3))
    # dy must have the forward output's shape (2, 4, 3, 3); both shapes are named.
    for bad in [(2, 4, 5, 5), (2, 3, 3, 3), (1, 4, 3, 3), (2, 4, 3, 2)]:
        with pytest.raises(ValueError, match=rf"{_shape((2, 4, 3, 3))}.*{_shape(bad)}"):
            conv.conv2d_backward(np.zeros(bad), x, w)
    with pytest.raises(ValueError, match=rf"\(2, 4, 2, 2\).*{_shape((2, 4, 3, 3))}"):
        conv.conv2d_backward(np.zeros((2, 4, 3, 3)), x, w, stride=2)
    with pytest.raises(ValueError, match=rf"dy must be 4-D.*{_shape((4, 3, 3))}"):
        conv.conv2d_backward(np.zeros((4, 3, 3)), x, w)
    with pytest.raises(ValueError, match=f"{_shape((4, 2, 3, 3))}.*{_shape(x.shape)}"):
        conv.conv2d_backward(np.zeros((2, 4, 3, 3)), x, np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match=rf"kernel \(3, 3\).*{_shape((2, 3, 2, 2))}"):
        conv.conv2d_backward(np.zeros((2, 4, 1, 1)), np.zeros((2, 3, 2, 2)), w)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        conv.conv2d_backward(np.zeros((2, 4, 3, 3)), x, w, stride=0)


def test_backward_pieces_bad_inputs_raise(ref):
    conv = ref.conv
    x, w, dy = np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros((2, 4, 3, 3))
    for bad in [(2, 4, 5, 5), (1, 4, 3, 3), (2, 4, 3, 2)]:
        with pytest.raises(ValueError, match=rf"{_shape((2, 4, 3, 3))}.*{_shape(bad)}"):
            conv.conv2d_backward_input(np.zeros(bad), x.shape, w)
        with pytest.raises(ValueError, match=rf"{_shape((2, 4, 3, 3))}.*{_shape(bad)}"):
            conv.conv2d_backward_weight(np.zeros(bad), x, w.shape)
    # A stride-2 output size fits two input sizes: x_shape says which one.
    assert conv.conv2d_backward_input(np.ones((2, 4, 2, 2)), (2, 3, 6, 5), w, stride=2).shape \
        == (2, 3, 6, 5)
    with pytest.raises(ValueError, match=f"{_shape((4, 2, 3, 3))}.*{_shape(x.shape)}"):
        conv.conv2d_backward_input(dy, x.shape, np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match=f"{_shape((4, 2, 3, 3))}.*{_shape(x.shape)}"):
        conv.conv2d_backward_weight(dy, x, (4, 2, 3, 3))
    with pytest.raises(ValueError, match=rf"kernel \(3, 3\).*{_shape((2, 3, 2, 2))}"):
        conv.conv2d_backward_input(np.zeros((2, 4, 1, 1)), (2, 3, 2, 2), w)
    with pytest.raises(TypeError, match=r"x_shape must be a tuple of 4 ints.*\(2, 3, 5\)"):
        conv.conv2d_backward_input(dy, (2, 3, 5), w)
    with pytest.raises(TypeError, match="w_shape must be a tuple of 4 ints"):
        conv.conv2d_backward_weight(dy, x, w)  # the filters instead of their shape
    with pytest.raises(ValueError, match=r"x_shape must have 4 sizes >= 1.*\(2, 0, 5, 5\)"):
        conv.conv2d_backward_input(dy, (2, 0, 5, 5), w)
    with pytest.raises(ValueError, match=rf"x must be 4-D.*{_shape((3, 5, 5))}"):
        conv.conv2d_backward_weight(dy, np.zeros((3, 5, 5)), w.shape)
    with pytest.raises(ValueError, match=rf"dy must be 4-D.*{_shape((4, 3))}"):
        conv.conv2d_backward_bias(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        conv.conv2d_backward_input(dy, x.shape, w, stride=0)
    # dtypes: float32 stays float32, ints become float64.
    f32 = np.float32
    assert conv.conv2d_backward_input(dy.astype(f32), x.shape, w.astype(f32)).dtype == f32
    assert conv.conv2d_backward_input(dy.astype(f32), x.shape, w).dtype == np.float64
    assert conv.conv2d_backward_weight(dy.astype(f32), x.astype(f32), w.shape).dtype == f32
    assert conv.conv2d_backward_bias(dy.astype(f32)).dtype == f32
    assert conv.conv2d_backward_bias(np.ones((2, 4, 3, 3), int)).dtype == np.float64
    assert conv.conv2d_backward_input(dy, torch.Size(x.shape), w).shape == x.shape


def test_im2col_col2im_bad_inputs_raise(ref):
    conv = ref.conv
    x = np.zeros((2, 3, 4, 5))
    with pytest.raises(ValueError, match=rf"kernel \(5, 2\).*{_shape(x.shape)}"):
        conv.im2col(x, (5, 2))
    with pytest.raises(ValueError, match=rf"x must be 4-D.*{_shape((3, 4, 5))}"):
        conv.im2col(np.zeros((3, 4, 5)), 2)
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        conv.im2col(x, 0)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        conv.im2col(x, 2, stride=0)
    cols = conv.im2col(x, 2)  # (2, 12, 12)
    with pytest.raises(ValueError, match=rf"{_shape(cols.shape)}.*OH \* OW = 3 \* 3 = 9"):
        conv.col2im(cols, (4, 4), 2)
    with pytest.raises(ValueError, match=rf"{_shape((2, 10, 12))}.*KH \* KW = 4"):
        conv.col2im(np.zeros((2, 10, 12)), (4, 5), 2)
    with pytest.raises(ValueError, match=rf"cols must be 3-D.*{_shape((12, 12))}"):
        conv.col2im(np.zeros((12, 12)), (4, 5), 2)
    with pytest.raises(ValueError, match=r"kernel \(5, 5\).*input_size \(4, 5\)"):
        conv.col2im(np.zeros((2, 75, 1)), (4, 5), 5)


def test_arithmetic_bad_inputs_raise(ref):
    a = ref.arithmetic
    with pytest.raises(ValueError, match="kernel_size=3 with dilation=1.*size=2, padding=0"):
        a.conv_output_size(2, 3)
    with pytest.raises(ValueError, match="kernel_size=3 with dilation=2 spans 5"):
        a.conv_output_size(4, 3, dilation=2)
    for kwargs, message in [
        (dict(size=0, kernel_size=1), "size must be >= 1, got size=0"),
        (dict(size=5, kernel_size=0), "kernel_size must be >= 1, got kernel_size=0"),
        (dict(size=5, kernel_size=3, stride=0), "stride must be >= 1, got stride=0"),
        (dict(size=5, kernel_size=3, padding=-1), "padding must be >= 0, got padding=-1"),
        (dict(size=5, kernel_size=3, dilation=0), "dilation must be >= 1, got dilation=0"),
    ]:
        with pytest.raises(ValueError, match=message):
            a.conv_output_size(**kwargs)
    for args, name in [
        ((5.0, 3), "size"),
        ((5, True), "kernel_size"),
        ((5, 3, "2"), "stride"),
        ((5, 3, 1, None), "padding"),
        ((5, 3, 1, 0, 1.0), "dilation"),
    ]:
        with pytest.raises(TypeError, match=f"{name} must be an int"):
            a.conv_output_size(*args)
    with pytest.raises(ValueError, match="output_padding=2 must be smaller than stride=2"):
        a.transposed_conv_output_size(3, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="output would be 0 pixels: padding=1"):
        a.transposed_conv_output_size(1, 2, padding=1)
    with pytest.raises(ValueError, match="output would be -1 pixels"):
        a.transposed_conv_output_size(1, 1, padding=1)
    with pytest.raises(ValueError, match="groups=2 must divide both in_channels=3"):
        a.conv_params(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        a.conv_params(3, 4, (3, 0))
    with pytest.raises(TypeError, match="bias must be True or False"):
        a.conv_params(3, 4, 3, bias=1)
    with pytest.raises(ValueError, match="groups=4 must divide"):
        a.conv_macs(8, 4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="along the width: kernel_size=5"):
        a.conv_macs((8, 4), 1, 1, 5)
    with pytest.raises(ValueError, match="along the height: kernel_size=3 with dilation=4"):
        a.conv_flops((8, 9), 1, 1, 3, dilation=(4, 1))
    with pytest.raises(TypeError, match="input_size"):
        a.conv_macs(8.0, 1, 1, 3)
    with pytest.raises(ValueError, match=r"shape\[1\] must be >= 0, got shape\[1\]=-3"):
        a.activation_memory((2, -3))
    with pytest.raises(TypeError, match="shape must be a tuple"):
        a.activation_memory(12)
    with pytest.raises(TypeError, match=r"layers\[1\] must be a \(kernel, stride, dilation\)"):
        a.receptive_field([(3, 1, 1), (3, 1)])
    with pytest.raises(ValueError, match=r"layers\[0\].stride must be >= 1"):
        a.jump([(3, 0, 1)])
    with pytest.raises(TypeError, match="layers must be a list"):
        a.receptive_field(3)


def test_every_combination_of_int_and_pair_hyperparameters(ref):
    # int and (h, w) spellings of the same hyper-parameters give the same result.
    rng = np.random.default_rng(14)
    x, w = rng.standard_normal((1, 2, 7, 8)), rng.standard_normal((2, 2, 2, 3))
    for s, p, d in itertools.product((1, 2), (0, 1), (1, 2)):
        a = ref.conv.conv2d_forward(x, w, stride=s, padding=p, dilation=d)
        b = ref.conv.conv2d_forward(x, w, stride=(s, s), padding=[p, p], dilation=(d, d))
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------------------------
# The fast path: conv2d_forward_gemm and conv2d_backward_gemm with groups, thread counts
# ----------------------------------------------------------------------------------------------


def _grouped_configs(seed, count=N_CONFIGS):
    """`_configs` with groups = 1, 2, 3 in turn (C and O become multiples of groups)."""
    for index, (rng, cfg) in enumerate(_configs(seed, count)):
        groups = 1 + index % 3
        yield rng, dict(cfg, C=groups * cfg["C"], O=groups * cfg["O"], groups=groups)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gemm_forward_and_backward_match_torch_with_groups(ref, dtype):
    """conv2d_forward_gemm against F.conv2d, conv2d_backward_gemm against autograd, groups 1-3."""
    for rng, cfg in _grouped_configs(21):
        g = cfg["groups"]
        x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"])).astype(dtype)
        w = rng.standard_normal((cfg["O"], cfg["C"] // g, cfg["KH"], cfg["KW"])).astype(dtype)
        b = rng.standard_normal(cfg["O"]).astype(dtype)
        xt, wt, bt = (_t(a).requires_grad_() for a in (x, w, b))
        yt = F.conv2d(xt, wt, bt, **_hp(cfg), groups=g)
        dy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
        yt.backward(_t(dy))
        what = f"{_describe(cfg, dtype)}, groups={g}"
        got = ref.conv.conv2d_forward_gemm(x, w, b, **_hp(cfg), groups=g)
        _assert_close(got, yt.detach().numpy(), dtype, f"forward, {what}")
        dx, dw, db = ref.conv.conv2d_backward_gemm(dy, x, w, **_hp(cfg), groups=g)
        _assert_close(dx, xt.grad.numpy(), dtype, f"dx, {what}")
        _assert_close(dw, wt.grad.numpy(), dtype, f"dw, {what}")
        _assert_close(db, bt.grad.numpy(), dtype, f"db, {what}")


def test_gemm_on_network_sized_layers(ref):
    """Layers of a real network (ResNet/MobileNet shapes, a batch) in float32, against torch."""
    rng = np.random.default_rng(22)
    for n, c, o, size, k, stride, groups in [(4, 16, 32, 16, 3, 1, 1), (3, 32, 64, 8, 3, 2, 1),
                                             (5, 24, 48, 9, 1, 2, 1), (4, 32, 32, 12, 3, 1, 32),
                                             (2, 12, 18, 10, 5, 1, 3)]:
        x = rng.standard_normal((n, c, size, size)).astype(np.float32)
        w = rng.standard_normal((o, c // groups, k, k)).astype(np.float32)
        hp = dict(stride=stride, padding=k // 2, groups=groups)
        xt, wt = _t(x).requires_grad_(), _t(w).requires_grad_()
        yt = F.conv2d(xt, wt, **hp)
        dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
        yt.backward(_t(dy))
        what = f"x {x.shape}, w {w.shape}, {hp}"
        _assert_close(ref.conv.conv2d_forward_gemm(x, w, **hp), yt.detach().numpy(), np.float32,
                      what)
        dx, dw, _ = ref.conv.conv2d_backward_gemm(dy, x, w, **hp)
        _assert_close(dx, xt.grad.numpy(), np.float32, f"dx, {what}")
        _assert_close(dw, wt.grad.numpy(), np.float32, f"dw, {what}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_image_chunks_path_matches_torch(ref, dtype):
    """Layers that `_fast.image_chunks` runs by chunks of images (groups 1, stride 1, at least as
    many output pixels per image as filters, at least MIN_CHUNKS chunks), forward and backward,
    against torch: kernels of any shape, padding and dilation, with and without bias, a last
    chunk smaller than the others, one image per chunk; and neighbours of them that must stay
    on the whole-batch GEMM (a stride, groups, more filters than pixels, too few chunks)."""
    import importlib

    fast = importlib.import_module(f"{ref.__name__}._fast")
    rng = np.random.default_rng(24)
    layers = [  # n, c, o, h, w, (kh, kw), stride, padding, dilation, groups, bias, chunks
        (13, 16, 16, 32, 32, (3, 3), 1, 1, 1, 1, True, 4),  # of 3 and 4 images
        (6, 3, 40, 90, 91, (3, 3), 1, 1, 1, 1, False, 6),  # one image per chunk
        (70, 9, 12, 20, 21, (3, 5), 1, (0, 2), (2, 1), 1, True, 8),
        (80, 64, 64, 8, 8, (3, 3), 1, 1, 1, 1, True, 8),
        (30, 17, 8, 64, 64, (1, 1), 1, 0, 1, 1, False, 8),
        (13, 16, 16, 32, 32, (3, 3), 2, 1, 1, 1, True, 0),
        (13, 16, 16, 32, 32, (3, 3), 1, 1, 1, 2, True, 0),
        (80, 64, 65, 8, 8, (3, 3), 1, 1, 1, 1, True, 0),
        (3, 16, 16, 32, 32, (3, 3), 1, 1, 1, 1, True, 0),
    ]
    for n, c, o, h, wd, kernel, stride, padding, dilation, groups, bias, chunks in layers:
        x = rng.standard_normal((n, c, h, wd)).astype(dtype)
        w = rng.standard_normal((o, c // groups, *kernel)).astype(dtype)
        b = rng.standard_normal(o).astype(dtype) if bias else None
        hp = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        xt, wt = _t(x).requires_grad_(), _t(w).requires_grad_()
        yt = F.conv2d(xt, wt, None if b is None else _t(b), **hp)
        out_hw = tuple(yt.shape[2:])
        # The chunk counts listed are float32's; float64 takes the same path in more chunks.
        got = fast.image_chunks(x.shape, w.shape, (stride,) * 2, groups, out_hw, x.itemsize)
        assert got == chunks if dtype == np.float32 else bool(got) == bool(chunks), (x.shape, got)
        dy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
        yt.backward(_t(dy))
        what = f"x {x.shape}, w {w.shape}, {hp}, bias {bias}, {np.dtype(dtype)}"
        _assert_close(ref.conv.conv2d_forward_gemm(x, w, b, **hp), yt.detach().numpy(), dtype,
                      what)
        dx, dw, db = ref.conv.conv2d_backward_gemm(dy, x, w, **hp)
        _assert_close(dx, xt.grad.numpy(), dtype, f"dx, {what}")
        _assert_close(dw, wt.grad.numpy(), dtype, f"dw, {what}")
        _assert_close(db, dy.sum(axis=(0, 2, 3)), dtype, f"db, {what}")


def test_results_do_not_depend_on_the_thread_count(ref):
    """Every kernel runs on 1 and on 2 threads (Numba's count for cnnlab's own kernels, and
    threadpoolctl's for BLAS) and gives identical results: each output is computed by one thread
    in a fixed order, and the matrix products run in blocks fixed by the shapes, each block on
    one thread of BLAS (`_fast.matmul`, `_fast.run_chunks`)."""
    import numba
    from threadpoolctl import threadpool_limits

    conv, pooling = ref.conv, ref.pooling
    rng = np.random.default_rng(23)
    x = rng.standard_normal((5, 8, 11, 10)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    w1 = rng.standard_normal((6, 8, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((5, 6, 11, 10)).astype(np.float32)
    dyp = rng.standard_normal((5, 8, 5, 4)).astype(np.float32)
    xs = rng.standard_normal((13, 16, 32, 32)).astype(np.float32)
    ws = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    dys = rng.standard_normal((13, 16, 32, 32)).astype(np.float32)
    bs = rng.standard_normal(16).astype(np.float32)
    exact = {
        "conv2d_forward": lambda: conv.conv2d_forward(x, w1, padding=1),
        "conv2d_backward": lambda: conv.conv2d_backward(dy, x, w1, padding=1),
        "im2col": lambda: conv.im2col(x, 3, padding=1),
        # 4 chunks of images (`_fast.image_chunks`), each product on one thread, the chunks'
        # parts of dw and db summed in their order: the same on any number of threads
        "chunked forward": lambda: conv.conv2d_forward_gemm(xs, ws, bs, padding=1),
        "chunked backward": lambda: conv.conv2d_backward_gemm(dys, xs, ws, padding=1),
        # one product for the whole batch, by blocks of rows or columns (`_fast.matmul`)
        "conv2d_forward_gemm": lambda: conv.conv2d_forward_gemm(x, w, padding=1, groups=2),
        "conv2d_backward_gemm": lambda: conv.conv2d_backward_gemm(dy, x, w, padding=1, groups=2),
        "maxpool2d": lambda: (pooling.maxpool2d_forward(x, 3, 2),
                              pooling.maxpool2d_backward(dyp, x, 3, 2)),
        "avgpool2d": lambda: (pooling.avgpool2d_forward(x, 3, 2),
                              pooling.avgpool2d_backward(dyp, x, 3, 2)),
    }
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            with threadpool_limits(threads):
                results.append({name: f() for name, f in exact.items()})
    finally:
        numba.set_num_threads(before)
    def arrays(result):
        return result if isinstance(result, tuple) else (result,)

    for name in exact:
        for one, two in zip(arrays(results[0][name]), arrays(results[1][name]), strict=True):
            np.testing.assert_array_equal(one, two, err_msg=name)


def test_fast_matmul_equals_numpy(ref):
    """`_fast.matmul` by blocks of a's rows, of b's columns, with stacks, broadcasting, out= and
    a transposed operand, equals np.matmul."""
    import importlib

    fast = importlib.import_module(f"{ref.__name__}._fast")
    rng = np.random.default_rng(25)
    for a_shape, b_shape in [((3, 700, 40), (3, 40, 5)), ((2, 6, 900), (2, 900, 300)),
                             ((4, 130, 7), (7, 129)), ((1, 1), (1, 1)), ((5, 3), (3, 2000))]:
        a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
        expected = np.matmul(a, b)
        np.testing.assert_allclose(fast.matmul(a, b), expected, rtol=1e-12, atol=1e-12)
        out = np.empty_like(expected)
        assert fast.matmul(a, b, out=out) is out
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    a, b = rng.standard_normal((2, 900, 6)), rng.standard_normal((2, 900, 300))
    np.testing.assert_allclose(fast.matmul(a.transpose(0, 2, 1), b),
                               a.transpose(0, 2, 1) @ b, rtol=1e-12, atol=1e-12)


def test_parallel_for_covers_the_range_once_and_raises(ref):
    import importlib

    parallel = importlib.import_module(f"{ref.__name__}._parallel")
    for count in (0, 1, 2, 3, 7, 100):
        seen = np.zeros(count, int)

        def body(start, stop, seen=seen):
            seen[start:stop] += 1

        parallel.parallel_for(count, body)
        np.testing.assert_array_equal(seen, np.ones(count, int), err_msg=f"count {count}")
    # A fixed number of chunks, whatever the thread count; the results in the chunks' order.
    for count, chunks in [(10, 1), (10, 3), (10, 7), (3, 5), (100, 16)]:
        spans = parallel.parallel_for(count, lambda start, stop: (start, stop), chunks=chunks)
        assert len(spans) == min(count, chunks), (count, chunks, spans)
        assert spans[0][0] == 0 and spans[-1][1] == count, spans
        assert all(a[1] == b[0] < b[1] for a, b in zip(spans, spans[1:], strict=False)), spans

    # Called from a body, parallel_for runs its chunks on that body's thread (its pool's threads
    # are busy with the outer call; waiting for them would never end), and covers them once.
    import threading

    def outer(start, stop):
        me = threading.get_ident()
        inner = parallel.parallel_for(9, lambda a, z: (a, z, threading.get_ident()), chunks=3)
        assert [(a, z) for a, z, _ in inner] == [(0, 3), (3, 6), (6, 9)], inner
        assert {t for *_, t in inner} == {me}, (me, inner)
        return start, stop

    assert parallel.parallel_for(4, outer, chunks=4) == [(0, 1), (1, 2), (2, 3), (3, 4)]

    def failing(start, stop):
        if stop == 10:
            raise NotImplementedError("a stub")

    with pytest.raises(NotImplementedError, match="a stub"):
        parallel.parallel_for(10, failing)


def test_layout_changes_match_numpy_transposes(ref):
    """`to_channels_last` / `to_channels_first` (the parallel NCHW <-> channels-last copies, by
    tiles of channels on large planes) equal NumPy's transposes: planes of >= 4 KB (tiles of 8,
    a channel count that is no multiple of 8), of >= 1 KB (tiles of 16) and smaller, into the
    inside of a padded array, with and without a bias, on 1 and 2 threads."""
    import importlib

    import numba

    parallel = importlib.import_module(f"{ref.__name__}._parallel")
    rng = np.random.default_rng(31)
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            for shape in [(3, 13, 32, 32), (5, 21, 16, 17), (4, 6, 5, 7), (1, 40, 64, 64)]:
                x = rng.standard_normal(shape).astype(np.float32)
                n, c, h, w = shape
                grid = np.zeros((n, h + 2, w + 4, c), np.float32)
                parallel.to_channels_last(x, grid[:, 1 : h + 1, 2 : w + 2])
                expected = np.zeros_like(grid)
                expected[:, 1 : h + 1, 2 : w + 2] = x.transpose(0, 2, 3, 1)
                np.testing.assert_array_equal(grid, expected, err_msg=f"{shape}")
                b = rng.standard_normal(c).astype(np.float32)
                for bias in (None, b):
                    back = parallel.to_channels_first(grid[:, 1 : h + 1, 2 : w + 2],
                                                      np.empty(shape, np.float32), bias)
                    want = x if bias is None else x + b[:, None, None]
                    np.testing.assert_array_equal(back, want, err_msg=f"{shape}, bias {bias}")
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def test_groups_bad_inputs_raise(ref):
    conv = ref.conv
    x, w = np.zeros((2, 6, 5, 5)), np.zeros((4, 3, 3, 3))
    dy = np.zeros((2, 4, 3, 3))
    calls = (lambda **kw: conv.conv2d_forward_gemm(x, w, **kw),
             lambda **kw: conv.conv2d_backward_gemm(dy, x, w, **kw))
    for call in calls:
        call(groups=2)  # fine: 6 channels and 4 filters in 2 groups, 3 channels per filter
        with pytest.raises(ValueError, match=r"groups must be >= 1, got groups=0"):
            call(groups=0)
        with pytest.raises(TypeError, match="groups must be an int"):
            call(groups=2.0)
        with pytest.raises(TypeError, match="groups must be an int"):
            call(groups=True)
        with pytest.raises(ValueError, match=r"groups=3 must divide .*C=6.*O=4"):
            call(groups=3)  # divides the 6 channels, not the 4 filters
        with pytest.raises(ValueError, match=rf"{_shape(w.shape)}.*{_shape(x.shape)} has C=6"):
            call()  # groups=1 needs 6 channels per filter
    with pytest.raises(ValueError, match=rf"{_shape((2, 4, 3, 3))}.*{_shape((2, 4, 5, 5))}"):
        conv.conv2d_backward_gemm(np.zeros((2, 4, 5, 5)), x, w, groups=2)
