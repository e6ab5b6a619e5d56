"""Classic chapter 3 bugs, as exact text substitutions on the reference package.

Each (name, file, old, new, exercise, hint) must make `exercise` lose points, and grading it must
name it: `hint` is what the learner reads when their result equals this mistake's (the format is in
autograder/mistakes.py; without a hint, the name is shown).
"""

# The solution bodies of _conv2d_backward_input and _conv2d_backward_weight inside `for o`;
# every conv2d_backward_input / conv2d_backward_weight mutant edits one of them.
_DX = """\
for c in range(C):
                for i in range(KH):
                    for j in range(KW):
                        weight = w[o, c, i, j]
                        for y in range(OH):
                            for x in range(OW):
                                yi = y * sh + i * dil_h  # input pixel under tap (i, j)
                                xj = x * sw + j * dil_w
                                dxpad[n, c, yi, xj] += weight * dy[n, o, y, x]"""
_DW = """\
total = dw_out.dtype.type(0)
                        for y in range(OH):
                            for x in range(OW):
                                yi = y * sh + i * dil_h  # input pixel under tap (i, j)
                                xj = x * sw + j * dil_w
                                total += dy[n, o, y, x] * xpad[n, c, yi, xj]
                        dw_out[o, c, i, j] += total"""


def _edit(body, *edits):
    """(old, new) texts of a mutant: `body`, and `body` with each (old, new) pair of `edits`
    replaced (every old occurs once in `body`)."""
    new = body
    for old, replacement in edits:
        assert new.count(old) == 1, f"{old!r} must occur once in {new!r}"
        new = new.replace(old, replacement)
    return body, new
_POOL = " " * 20  # indentation of the per-window code of the pooling kernels
_ROW = " " * 24  # indentation of the loop over a window's rows

# In-bounds rows and columns of pooling window (oh, ow): what a count_include_pad=False divisor
# counts.
_IN_BOUNDS = (
    f"{_POOL}rows = min(oh * sh - ph + kh, h) - max(oh * sh - ph, 0)\n"
    f"{_POOL}cols = min(ow * sw - pw + kw, w) - max(ow * sw - pw, 0)\n"
)

# Max pooling backward that splits a window's gradient evenly between all its maxima.
_SPLIT_TIES = "".join(
    f"{_POOL}{line}\n"
    for line in (
        "ties = 0",
        "for i in range(kh):",
        "    for j in range(kw):",
        "        row, col = oh * sh - ph + i, ow * sw - pw + j",
        "        if 0 <= row < h and 0 <= col < w and x[n, c, row, col] == best:",
        "            ties += 1",
        "for i in range(kh):",
        "    for j in range(kw):",
        "        row, col = oh * sh - ph + i, ow * sw - pw + j",
        "        if 0 <= row < h and 0 <= col < w and x[n, c, row, col] == best:",
        "            dx[n, c, row, col] += dy[n, c, oh, ow] / ties",
    )
).rstrip("\n")

MUTANTS = [
    # --- conv2d_backward_input ---
    ("dx overwrites (=) instead of accumulating (+=) overlapping contributions", "conv.py",
     *_edit(_DX, ("dxpad[n, c, yi, xj] +=", "dxpad[n, c, yi, xj] =")), "conv2d_backward_input",
     "dx overwrites (=) where windows overlap: every output pixel adds (+=) its share to each "
     "input pixel it saw."),
    ("dx ignores the stride", "conv.py",
     *_edit(_DX, ("y * sh + i * dil_h", "y + i * dil_h"), ("x * sw + j * dil_w", "x + j * dil_w")),
     "conv2d_backward_input",
     "stride ignored in the backward pass: tap (i, j) of output (y, x) saw input row y * "
     "stride + i * dilation."),
    ("dx pairs each pixel with the wrong tap (the kernel's 180-degree rotation is lost)",
     "conv.py",
     *_edit(_DX, ("weight = w[o, c, i, j]", "weight = w[o, c, KH - 1 - i, KW - 1 - j]")),
     "conv2d_backward_input",
     "dx pairs each input pixel with the flipped tap: the pixel under tap (i, j) gets w[o, c, "
     "i, j] * dy (the 180° rotation appears only when dx is written as a full convolution)."),
    ("dx ignores the dilation", "conv.py",
     *_edit(_DX, ("y * sh + i * dil_h", "y * sh + i"), ("x * sw + j * dil_w", "x * sw + j")),
     "conv2d_backward_input",
     "dilation ignored in the backward pass: tap (i, j) sits i * dilation rows and j * "
     "dilation columns from the window's corner."),
    # --- conv2d_backward_weight ---
    ("dw overwrites (=) instead of summing (+=) over the batch and the positions", "conv.py",
     *_edit(_DW, ("total += dy", "total = dy"), ("dw_out[o, c, i, j] +=", "dw_out[o, c, i, j] =")),
     "conv2d_backward_weight",
     "dw overwrites (=) instead of summing (+=) over the batch and the output positions."),
    ("dw ignores the stride", "conv.py",
     *_edit(_DW, ("y * sh + i * dil_h", "y + i * dil_h"), ("x * sw + j * dil_w", "x + j * dil_w")),
     "conv2d_backward_weight",
     "stride ignored in the backward pass: output (y, x) saw input row y * stride + i * "
     "dilation."),
    ("dw correlates with the kernel-flipped input window", "conv.py",
     *_edit(_DW, ("dw_out[o, c, i, j] += total", "dw_out[o, c, KH - 1 - i, KW - 1 - j] += total")),
     "conv2d_backward_weight",
     "dw is stored at the flipped tap: the sum for tap (i, j) goes to dw[o, c, i, j]."),
    # --- conv2d_backward_bias ---
    ("db summed over the wrong axes (channels instead of the batch)", "conv.py",
     "return dy.sum(axis=(0, 2, 3))", "return dy.sum(axis=(1, 2, 3))", "conv2d_backward_bias",
     "db sums dy over the batch and the pixels (axes 0, 2, 3), one value per filter; yours "
     "sums over the channels."),
    ("db of the first image only (the batch axis forgotten)", "conv.py",
     "return dy.sum(axis=(0, 2, 3))", "return dy[0].sum(axis=(1, 2))", "conv2d_backward_bias",
     "db sums over the whole batch; yours uses the first image only."),
    ("db averaged instead of summed", "conv.py",
     "return dy.sum(axis=(0, 2, 3))", "return dy.mean(axis=(0, 2, 3))", "conv2d_backward_bias",
     "db is a sum over the batch and the pixels, not a mean."),
    # --- conv2d_backward_gemm ---
    ("col2im assigns (=) instead of adding (+=) the gradients of overlapping windows", "conv.py",
     "xpad[n, yi, xj, g * Cg + c] += rows[g, n, y, x, i, j, c]",
     "xpad[n, yi, xj, g * Cg + c] = rows[g, n, y, x, i, j, c]", "conv2d_backward_gemm",
     "matches col2im with `=` instead of `+=`: where windows overlap, every window's gradient "
     "must be added onto its pixel."),
    ("dW from the transposed product, reshaped instead of transposed", "conv.py",
     "dw = _fast.matmul(dy_rows.transpose(0, 2, 1), rows)  # (G, O // G, K)",
     "dw = (rows.transpose(0, 2, 1) @ dy_rows).reshape(groups, -1, rows.shape[2])",
     "conv2d_backward_gemm",
     "dW = dYᵀ·cols, shape (O, K): yours computes colsᵀ·dY and reshapes it, which scrambles dW "
     "(transposes swapped)."),
    ("dcols from the transposed product, reshaped instead of transposed", "conv.py",
     "drows = _fast.matmul(dy_rows, _weight_matrices(w, groups), out=rows)",
     "drows = (_weight_matrices(w, groups).transpose(0, 2, 1) @ dy_rows.transpose(0, 2, 1))"
     ".reshape(groups, -1, rows.shape[2])", "conv2d_backward_gemm",
     "dcols = dY·W, one row per output pixel: yours computes Wᵀ·dYᵀ and reshapes it, which "
     "scrambles dX (transposes swapped)."),
    ("groups mixed: each group of filters correlated with another group's channels (dw)",
     "conv.py",
     "dw = _fast.matmul(dy_rows.transpose(0, 2, 1), rows)  # (G, O // G, K)",
     "dw = _fast.matmul(dy_rows.transpose(0, 2, 1), rows[::-1])  # (G, O // G, K)",
     "conv2d_backward_gemm",
     "groups mixed in dW: group g's filters see only group g's input channels."),
    ("groups mixed: each group's dx lands in another group's channels", "conv.py",
     "drows = _fast.matmul(dy_rows, _weight_matrices(w, groups), out=rows)",
     "drows = _fast.matmul(dy_rows, _weight_matrices(w, groups), out=rows)[::-1]",
     "conv2d_backward_gemm",
     "groups mixed in dX: group g's gradient belongs to group g's input channels only."),
    # --- maxpool2d_forward ---
    ("max pooling pads with zeros (padding wins over negative inputs)", "pooling.py",
     f"best = -np.inf\n{_POOL}for i in range(kh):",
     f"best = 0.0\n{_POOL}for i in range(kh):", "maxpool2d_forward",
     "padding never wins a max: start each window's maximum at -inf, not 0."),
    ("max pooling window one row short (off by one)", "pooling.py",
     f"best = -np.inf\n{_POOL}for i in range(kh):",
     f"best = -np.inf\n{_POOL}for i in range(kh - 1):", "maxpool2d_forward",
     "off by one: a window has kh rows; yours loops over kh - 1."),
    # --- maxpool2d_backward ---
    ("max pool backward overwrites (=) instead of accumulating (+=) under overlapping windows",
     "pooling.py",
     "dx[n, c, best_row, best_col] += dy[n, c, oh, ow]",
     "dx[n, c, best_row, best_col] = dy[n, c, oh, ow]", "maxpool2d_backward",
     "max pool backward overwrites (=) where windows overlap: a pixel that is the maximum of "
     "several windows gets the sum (+=) of their gradients."),
    ("max pool backward ignores the stride when it looks for the argmax", "pooling.py",
     f"max(ow * sw - pw, 0)\n{_POOL}for i in range(kh):\n{_ROW}row = oh * sh - ph + i\n"
     f"{_ROW}if row < 0 or row >= h:\n{_ROW}    continue\n{_ROW}for j in range(kw):\n"
     f"{_ROW}    col = ow * sw - pw + j\n",
     f"max(ow * sw - pw, 0)\n{_POOL}for i in range(kh):\n{_ROW}row = oh - ph + i\n"
     f"{_ROW}if row < 0 or row >= h:\n{_ROW}    continue\n{_ROW}for j in range(kw):\n"
     f"{_ROW}    col = ow - pw + j\n", "maxpool2d_backward",
     "stride ignored in the backward pass: window (oh, ow) starts at row oh * stride - "
     "padding, column ow * stride - padding."),
    ("ties routed to the last maximum (>= instead of >)", "pooling.py",
     "if value > best or np.isnan(value):\n"
     "                                best, best_row, best_col = value, row, col",
     "if value >= best or np.isnan(value):\n"
     "                                best, best_row, best_col = value, row, col",
     "maxpool2d_backward",
     "a tie goes to the first maximum of a window (as in PyTorch): compare with >, not >=."),
    ("ties split evenly between all the maxima of a window", "pooling.py",
     f"{_POOL}dx[n, c, best_row, best_col] += dy[n, c, oh, ow]", _SPLIT_TIES,
     "maxpool2d_backward",
     "ties are not split: the first maximum of a window gets its whole gradient (as in "
     "PyTorch)."),
    # --- avgpool2d_forward ---
    ("average divided by the in-bounds count at padded borders (count_include_pad=False)",
     "pooling.py",
     f"{_POOL}y[n, c, oh, ow] = total / area",
     f"{_IN_BOUNDS}{_POOL}y[n, c, oh, ow] = total / (rows * cols)", "avgpool2d_forward",
     "padded zeros count in the divisor (PyTorch's count_include_pad=True): divide by KH*KW at "
     "the borders too."),
    ("average divided by the kernel height only", "pooling.py",
     "y[n, c, oh, ow] = total / area", "y[n, c, oh, ow] = total / kh", "avgpool2d_forward",
     "an average divides by the window's area KH*KW, not by its height."),
    # --- avgpool2d_backward ---
    ("avg pool backward shares divided by the in-bounds count at padded borders", "pooling.py",
     f"{_POOL}share = dy[n, c, oh, ow] / area",
     f"{_IN_BOUNDS}{_POOL}share = dy[n, c, oh, ow] / (rows * cols)", "avgpool2d_backward",
     "each share is dy / (KH*KW), at the borders too (padded zeros count in the divisor)."),
    ("avg pool backward overwrites (=) instead of accumulating (+=) under overlapping windows",
     "pooling.py",
     "dx[n, c, row, col] += share", "dx[n, c, row, col] = share", "avgpool2d_backward",
     "avg pool backward overwrites (=) where windows overlap: add (+=) every window's share."),
    ("avg pool backward passes dy on undivided", "pooling.py",
     "share = dy[n, c, oh, ow] / area", "share = dy[n, c, oh, ow]", "avgpool2d_backward",
     "each input of a window gets dy / (KH*KW), not dy undivided."),
    # --- global_avgpool2d ---
    ("global average pooling forward divides by H only", "pooling.py",
     "return x.mean(axis=(2, 3), keepdims=True)",
     "return x.sum(axis=(2, 3), keepdims=True) / x.shape[2]", "global_avgpool2d",
     "the global average divides by H*W, not by H."),
    ("global average pooling backward divides by H only", "pooling.py",
     "return np.broadcast_to(dy / (h * w), x.shape).copy()",
     "return np.broadcast_to(dy / h, x.shape).copy()", "global_avgpool2d",
     "the gradient of the global average is dy / (H*W) at every pixel, not dy / H."),
]
