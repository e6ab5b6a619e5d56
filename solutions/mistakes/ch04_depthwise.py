"""Classic chapter 4 bugs, as exact text substitutions on the reference package.

Each (name, file, old, new, exercise) must make `exercise` lose points. The name says what went
wrong, as a hint to the learner whose code behaves the same way.

The depthwise kernels have two paths, a general one and a fast one for stride 1; a mutant edits
both, so that it is the same bug whatever the stride.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[2] / "solutions" / "cnnlab"


def _body(module, function):
    """The solution region of `function` in solutions/cnnlab/<module>, marker lines excluded."""
    source = (_PACKAGE / module).read_text()
    start = source.index(f"def {function}(")
    begin = source.index("### BEGIN SOLUTION\n", start) + len("### BEGIN SOLUTION\n")
    end = source.rindex("\n", begin, source.index("### END SOLUTION", begin))
    return source[begin:end]


def _edit(module, function, *edits):
    """(old, new) texts of a mutant: the solution region of `function`, and that region with
    each (old, new) pair of `edits` replaced (every old occurs once in the region)."""
    body = new = _body(module, function)
    for old, replacement in edits:
        assert new.count(old) == 1, f"{old!r} must occur once in {function}'s solution"
        new = new.replace(old, replacement)
    return body, new


_PLANE = "plane = xpad[n, c].reshape(Hp * Wp)"
_CHANNEL_SUMS = "plane = xpad[n].sum(axis=0).reshape(Hp * Wp)"  # every channel, added up

MUTANTS = [
    # --- depthwise_conv2d_forward ---
    ("depthwise sums across channels: each output must see its own input channel only",
     "depthwise.py",
     *_edit("depthwise.py", "_depthwise_forward_kernel", (_PLANE, _CHANNEL_SUMS),
            ("weight * xpad[n, c, yi, xj]", "weight * xpad[n, :, yi, xj].sum()")),
     "depthwise_conv2d_forward"),
    ("channel-multiplier outputs ordered by multiplier (m * C + c) instead of by input channel "
     "(c * M + m, PyTorch's order)", "depthwise.py",
     *_edit("depthwise.py", "_depthwise_forward_kernel", ("k = c * M + m", "k = m * C + c")),
     "depthwise_conv2d_forward"),
    ("depthwise forward drops the bias", "depthwise.py",
     *_edit("depthwise.py", "_depthwise_forward_kernel",
            ("acc = np.full(span, b[k])", "acc = np.zeros(span, out.dtype)"),
            ("out[n, k] = b[k]", "out[n, k] = 0")),
     "depthwise_conv2d_forward"),
    # --- depthwise_conv2d_backward ---
    ("dw of depthwise summed over channels: filter c * M + m met input channel c only",
     "depthwise.py",
     *_edit("depthwise.py", "_depthwise_backward_weight_kernel", (_PLANE, _CHANNEL_SUMS),
            ("dy[n, k, y, x] * xpad[n, c, yi, xj]", "dy[n, k, y, x] * xpad[n, :, yi, xj].sum()")),
     "depthwise_conv2d_backward"),
    ("depthwise dx overwrites (=) instead of accumulating (+=) where windows overlap",
     "depthwise.py",
     *_edit("depthwise.py", "_depthwise_backward_input_kernel",
            ("taps[p] += weight * grad[p]", "taps[p] = weight * grad[p]"),
            ("dxpad[n, c, yi, xj] += weight", "dxpad[n, c, yi, xj] = weight")),
     "depthwise_conv2d_backward"),
    # --- pointwise_conv2d_forward / backward ---
    ("pointwise uses the transposed weight matrix (w.T; w is outputs x inputs, (O, C))",
     "depthwise.py",
     *_edit("depthwise.py", "pointwise_conv2d_forward", ("out = w @ pixels", "out = w.T @ pixels")),
     "pointwise_conv2d_forward"),
    ("pointwise dw of the first image only (the batch sum forgotten)", "depthwise.py",
     *_edit("depthwise.py", "pointwise_conv2d_backward",
            ("dw = (grads @ pixels.transpose(0, 2, 1)).sum(axis=0)",
             "dw = grads[0] @ pixels[0].T")),
     "pointwise_conv2d_backward"),
    # --- grouped_conv2d_forward / backward ---
    ("groups applied to the outputs only: every group reads the first C / groups input channels",
     "conv.py",
     *_edit("conv.py", "_conv2d_forward_grouped",
            ("np.ascontiguousarray(xpad[:, inputs])", "np.ascontiguousarray(xpad[:, :cg])")),
     "grouped_conv2d_forward"),
    ("grouped dx: every group's gradient lands in the first group's input channels", "conv.py",
     *_edit("conv.py", "_conv2d_backward_input_grouped",
            ("dxpad[:, inputs] += part", "dxpad[:, :cg] += part")),
     "grouped_conv2d_backward"),
    ("grouped dw: every group correlates with the first group's input channels", "conv.py",
     *_edit("conv.py", "_conv2d_backward_weight_grouped",
            ("np.ascontiguousarray(xpad[:, inputs])", "np.ascontiguousarray(xpad[:, :cg])")),
     "grouped_conv2d_backward"),
    # --- separable_conv_params / separable_conv_macs ---
    ("separable parameters without groups: the depthwise filters counted with all C channels",
     "arithmetic.py",
     *_edit("arithmetic.py", "separable_conv_params",
            ("(kh, kw), groups=in_channels, bias=bias)", "(kh, kw), bias=bias)")),
     "separable_conv_params"),
    ("separable MACs count the pointwise layer at the input size, not the depthwise output's",
     "arithmetic.py",
     *_edit("arithmetic.py", "separable_conv_macs",
            ("conv_macs((oh, ow), hidden", "conv_macs((h, w), hidden")),
     "separable_conv_macs"),
]
