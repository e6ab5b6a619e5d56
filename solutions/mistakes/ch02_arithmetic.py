"""Classic chapter 2 bugs, as exact text substitutions on the reference package.

Each (name, file, old, new, exercise, hint) must make `exercise` lose points, and grading it must
name it: `hint` is what the learner reads when their result equals this mistake's (the format is in
autograder/mistakes.py; without a hint, the name is shown).

The padding of conv2d_forward / im2col / col2im is given code (the wrappers call `_pad` and crop),
so the student's kernels never see the padding amount. Bugs that would read outside the padded
input in a learner's code (where Numba does no bounds checking) are emulated here with a bounds
guard that reads zeros instead, so that a mutant loses points without undefined behaviour.
"""

_TAP = " " * 32  # indentation of the innermost loop body of _conv2d_forward_loops

# The solution body of _conv2d_forward_loops inside `for o`; every conv2d_forward mutant edits it.
_FORWARD = """\
out[n, o] = b[o]
            for c in range(C):
                for i in range(KH):
                    for j in range(KW):
                        weight = w[o, c, i, j]
                        for y in range(OH):
                            for x in range(OW):
                                yi = y * sh + i * dil_h  # input pixel under tap (i, j)
                                xj = x * sw + j * dil_w
                                out[n, o, y, x] += weight * xpad[n, c, yi, xj]"""


def _edit(body, *edits):
    """(old, new) texts of a mutant: `body`, and `body` with each (old, new) pair of `edits`
    replaced (every old occurs once in `body`)."""
    new = body
    for old, replacement in edits:
        assert new.count(old) == 1, f"{old!r} must occur once in {new!r}"
        new = new.replace(old, replacement)
    return body, new


def _guard(condition, read="xpad[n, c, yi, xj]"):
    """Edit: the innermost update reads `read`, skipped (reads zero) unless `condition` holds."""
    return (
        "out[n, o, y, x] += weight * xpad[n, c, yi, xj]",
        f"if {condition}:\n{_TAP}    out[n, o, y, x] += weight * {read}",
    )


_IN_BOUNDS = "yi < xpad.shape[2] and xj < xpad.shape[3]"

# "Padding added once", all of it at the bottom/right: the loops then read the image p rows and
# columns off. The kernel is not told the padding, so the mutant counts it: the all-zero leading
# rows and columns of each padded image (the random test images have no zero rows of their own).
_PADDED_ONCE = (
    "out[n, o] = b[o]\n",
    "out[n, o] = b[o]\n"
    "            ph = 0\n"
    "            while ph < xpad.shape[2] and not np.any(xpad[n, :, ph, :]):\n"
    "                ph += 1\n"
    "            pw = 0\n"
    "            while pw < xpad.shape[3] and not np.any(xpad[n, :, :, pw]):\n"
    "                pw += 1\n",
)

_IM2COL_TAP = (
    "xj = x * sw + j * dil_w\n"
    "                            cols[n, row, y * OW + x] = xpad[n, c, yi, xj]"
)
_IM2COL_ROW = (
    "row = (c * KH + i) * KW + j\n"
    "                    for y in range(OH):\n"
    "                        for x in range(OW):\n"
    "                            yi = y * sh + i * dil_h  # input pixel under tap (i, j)\n"
    "                            xj = x * sw + j * dil_w\n"
    "                            cols[n, row"
)

MUTANTS = [
    # --- conv_output_size ---------------------------------------------------------------------
    ("conv_output_size rounds up (ceil instead of floor)", "arithmetic.py",
     "return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1",
     "return math.ceil((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1",
     "conv_output_size",
     "off by one: the output size rounds down (floor, Python's //); yours rounds up, as with "
     "ceil."),
    ("conv_output_size adds the padding once, not on both sides", "arithmetic.py",
     "return (size + 2 * padding - dilation", "return (size + padding - dilation",
     "conv_output_size",
     "padding adds P pixels on both sides: size + 2 * padding."),
    ("conv_output_size ignores the dilation", "arithmetic.py",
     "return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1",
     "return (size + 2 * padding - (kernel_size - 1) - 1) // stride + 1", "conv_output_size",
     "a dilated kernel spans dilation * (kernel_size - 1) + 1 pixels; your size ignores the "
     "dilation."),
    # --- transposed_conv_output_size ----------------------------------------------------------
    ("transposed output size misses the +1", "arithmetic.py",
     "dilation * (kernel_size - 1) + output_padding + 1\n    if out < 1",
     "dilation * (kernel_size - 1) + output_padding\n    if out < 1",
     "transposed_conv_output_size",
     "off by one: the transposed size is (size - 1) * stride - 2 * padding + dilation * "
     "(kernel_size - 1) + output_padding + 1; yours misses the + 1."),
    ("transposed output size ignores output_padding", "arithmetic.py",
     "dilation * (kernel_size - 1) + output_padding + 1\n    if out < 1",
     "dilation * (kernel_size - 1) + 1\n    if out < 1", "transposed_conv_output_size",
     "output_padding adds to the transposed output size; yours ignores it."),
    # --- conv_params --------------------------------------------------------------------------
    ("conv_params ignores groups", "arithmetic.py",
     "weights = out_channels * (in_channels // groups) * kh * kw",
     "weights = out_channels * in_channels * kh * kw", "conv_params",
     "with groups each filter sees in_channels // groups channels: weights = out_channels * "
     "(in_channels // groups) * kh * kw."),
    ("conv_params always counts the biases", "arithmetic.py",
     "return weights + (out_channels if bias else 0)", "return weights + out_channels",
     "conv_params",
     "bias=False means no bias parameters: add out_channels only when bias is True."),
    ("conv_params counts one bias per layer, not per filter", "arithmetic.py",
     "return weights + (out_channels if bias else 0)", "return weights + (1 if bias else 0)",
     "conv_params",
     "there is one bias per filter (out_channels of them), not one per layer."),
    # --- conv_macs ----------------------------------------------------------------------------
    ("conv_macs ignores groups", "arithmetic.py",
     "return out_channels * oh * ow * (in_channels // groups) * kh * kw",
     "return out_channels * oh * ow * in_channels * kh * kw", "conv_macs",
     "with groups each output sums over in_channels // groups channels, not all in_channels."),
    ("conv_macs counts input pixels instead of output pixels", "arithmetic.py",
     "return out_channels * oh * ow * (in_channels // groups) * kh * kw",
     "return out_channels * h * w * (in_channels // groups) * kh * kw", "conv_macs",
     "MACs count output pixels (OH x OW, from the output size), not input pixels (H x W)."),
    # --- receptive_field ----------------------------------------------------------------------
    ("receptive_field ignores the jump (product of earlier strides)", "arithmetic.py",
     "field += dilation * (kernel - 1) * step", "field += dilation * (kernel - 1)",
     "receptive_field",
     "each layer widens the field by dilation * (kernel - 1) times the jump, the product of "
     "the strides of the layers before it; yours ignores the jump."),
    ("receptive_field updates the jump before using it", "arithmetic.py",
     "field += dilation * (kernel - 1) * step\n        step *= stride",
     "step *= stride\n        field += dilation * (kernel - 1) * step", "receptive_field",
     "a layer's own stride only affects the layers after it: add dilation * (kernel - 1) * "
     "jump first, then multiply the jump by the stride."),
    ("receptive_field ignores the dilation", "arithmetic.py",
     "field += dilation * (kernel - 1) * step", "field += (kernel - 1) * step",
     "receptive_field",
     "a dilated layer widens the field by dilation * (kernel - 1) * jump; yours ignores the "
     "dilation."),
    # --- conv2d_forward -----------------------------------------------------------------------
    ("conv2d_forward pads once: padding only at the bottom/right (loops skip the top/left)",
     "conv.py",
     *_edit(_FORWARD, _PADDED_ONCE, ("y * sh + i * dil_h", "y * sh + i * dil_h + ph"),
            ("x * sw + j * dil_w", "x * sw + j * dil_w + pw"), _guard(_IN_BOUNDS)),
     "conv2d_forward",
     "the padding goes on both sides: your result equals one padded only at the bottom and "
     "right (the top rows and left columns of padding are skipped)."),
    ("conv2d_forward dilates the input instead of the kernel", "conv.py",
     *_edit(_FORWARD, ("y * sh + i * dil_h", "(y * sh + i) * dil_h"),
            ("x * sw + j * dil_w", "(x * sw + j) * dil_w"), _guard(_IN_BOUNDS)),
     "conv2d_forward",
     "dilation spaces out the kernel's taps: tap (i, j) of output (y, x) reads row y * stride "
     "+ i * dilation; yours reads (y * stride + i) * dilation."),
    ("conv2d_forward ignores the dilation", "conv.py",
     *_edit(_FORWARD, ("y * sh + i * dil_h", "y * sh + i"), ("x * sw + j * dil_w", "x * sw + j")),
     "conv2d_forward",
     "tap (i, j) of output (y, x) reads row y * stride + i * dilation and column x * stride + "
     "j * dilation; yours ignores the dilation."),
    ("conv2d_forward forgets the bias", "conv.py",
     *_edit(_FORWARD, ("out[n, o] = b[o]\n            ", "")), "conv2d_forward",
     "the bias is missing: start output map o at b[o]."),
    ("conv2d_forward adds the bias once per input channel", "conv.py",
     *_edit(_FORWARD, ("out[n, o] = b[o]\n            for c in range(C):\n",
                       "for c in range(C):\n                out[n, o] += b[o]\n")),
     "conv2d_forward",
     "the bias is added once per input channel (C times); add b[o] once per output."),
    ("conv2d_forward indexes the bias by input channel", "conv.py",
     *_edit(_FORWARD, ("out[n, o] = b[o]\n            for c in range(C):\n",
                       "for c in range(C):\n                out[n, o] += b[c % O]\n")),
     "conv2d_forward",
     "the bias is indexed by the input channel; it belongs to the filter: b[o]."),
    ("conv2d_forward indexes the bias by batch", "conv.py",
     *_edit(_FORWARD, ("out[n, o] = b[o]", "out[n, o] = b[n % O]")), "conv2d_forward",
     "the bias is indexed by the image of the batch; it belongs to the filter: b[o]."),
    ("conv2d_forward swaps the channel and row axes of x", "conv.py",
     *_edit(_FORWARD, _guard("yi < xpad.shape[1] and c < xpad.shape[2]",
                             read="xpad[n, yi, c, xj]")),
     "conv2d_forward",
     "x is read as x[n, y, c, x]; in NCHW it is x[n, c, y, x]."),
    ("conv2d_forward indexes x as NHWC instead of NCHW", "conv.py",
     *_edit(_FORWARD, _guard("yi < xpad.shape[1] and xj < xpad.shape[2] and c < xpad.shape[3]",
                             read="xpad[n, yi, xj, c]")),
     "conv2d_forward",
     "x is read as NHWC (x[n, y, x, c]); the layout is NCHW: x[n, c, y, x]."),
    ("conv2d_forward applies the stride along the height only", "conv.py",
     *_edit(_FORWARD, ("x * sw + j * dil_w", "x + j * dil_w")), "conv2d_forward",
     "the stride applies along both axes: column x * stride_w + j * dilation_w; yours ignores "
     "the stride along the width."),
    ("conv2d_forward flips the kernel (true convolution)", "conv.py",
     *_edit(_FORWARD, ("weight = w[o, c, i, j]", "weight = w[o, c, KH - 1 - i, KW - 1 - j]")),
     "conv2d_forward",
     "conv2d (as in PyTorch) is a cross-correlation: w[o, c, i, j] multiplies the pixel under "
     "tap (i, j); yours flips the kernel."),
    # --- im2col / col2im ----------------------------------------------------------------------
    ("im2col applies the stride along the height only", "conv.py", _IM2COL_TAP,
     _IM2COL_TAP.replace("xj = x * sw + j * dil_w", "xj = x + j * dil_w"), "im2col",
     "the stride applies along the width too: column x * stride_w + j * dilation_w."),
    ("im2col orders rows by kernel tap, then channel", "conv.py", _IM2COL_ROW,
     _IM2COL_ROW.replace("row = (c * KH + i) * KW + j", "row = (i * KW + j) * C + c"),
     "im2col",
     "the row of tap (i, j) of channel c is (c * KH + i) * KW + j, the order of w.reshape(O, "
     "-1); yours orders by tap first, then channel."),
    ("im2col numbers columns x * OH + y (column-major)", "conv.py",
     "cols[n, row, y * OW + x] = xpad[n, c, yi, xj]",
     "cols[n, row, x * OH + y] = xpad[n, c, yi, xj]", "im2col",
     "the column of output pixel (y, x) is y * OW + x (row-major, like a reshape to (OH, OW)); "
     "yours is x * OH + y."),
    ("col2im assigns (=) instead of accumulating (+=)", "conv.py",
     "xpad[n, c, yi, xj] += cols[n, row, y * OW + x]",
     "xpad[n, c, yi, xj] = cols[n, row, y * OW + x]", "im2col",
     "col2im overwrites (=) where windows overlap; it must add (+=) every window's value onto "
     "its pixel."),
    # --- conv2d_forward_gemm ------------------------------------------------------------------
    ("gemm reshapes the filter matrices instead of transposing them", "conv.py",
     "out = _fast.matmul(rows, _weight_matrices(w, groups).transpose(0, 2, 1))",
     "out = _fast.matmul(rows, _weight_matrices(w, groups).reshape(groups, -1, O // groups))",
     "conv2d_forward_gemm",
     "the product needs the filter matrix transposed (rows @ W.T); a reshape to the transposed "
     "shape scrambles the taps."),
    ("gemm reshapes the output to (OW, OH)", "conv.py",
     "return _rows_to_nchw(out, N, oh, ow)", "return _rows_to_nchw(out, N, ow, oh)",
     "conv2d_forward_gemm",
     "the GEMM result reshapes to (N, O, OH, OW); yours swaps OH and OW."),
    ("gemm forgets the bias", "conv.py", "        out += b.reshape(groups, 1, O // groups)",
     "        pass", "conv2d_forward_gemm",
     "the bias is missing: add b[o] to every pixel of output channel o."),
    ("gemm broadcasts the bias along the pixels", "conv.py",
     "out += b.reshape(groups, 1, O // groups)", "out += b.reshape(groups, O // groups, 1)",
     "conv2d_forward_gemm",
     "the bias broadcasts along the pixels instead of the output channels: one bias per output "
     "channel, the same at every pixel."),
]
