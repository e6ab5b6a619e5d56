# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 2 — Convolution arithmetic and the multi-channel forward pass
#
# Before you train a network you should be able to answer, on paper: how large is the output of
# this layer? How many parameters does it have, how many operations does it cost, how much
# memory do its activations take? How much of the image does one unit see? This chapter derives
# the answers one formula at a time, then builds the real thing: the forward pass of a
# convolutional layer on a batch of multi-channel images, first as plain loops, then as one
# large matrix product (im2col), and races the two.
#
# **What you write.** Functions in two package files next to this notebook (in a clone of the
# course repository: `src/cnnlab/arithmetic.py` and `src/cnnlab/conv.py`). Each says
# `# YOUR CODE HERE` where your code goes; the validation around it is given.
#
# | file | function | what it computes | points |
# | --- | --- | --- | --- |
# | `cnnlab/arithmetic.py` | `conv_output_size` | output size along one axis | 3 |
# | `cnnlab/arithmetic.py` | `transposed_conv_output_size` | output size of a transposed convolution | 2 |
# | `cnnlab/arithmetic.py` | `conv_params` | learnable parameters of a layer | 2 |
# | `cnnlab/arithmetic.py` | `conv_macs` | multiply-accumulates of a layer | 2 |
# | `cnnlab/arithmetic.py` | `receptive_field` | receptive field of a stack of layers | 2 |
# | `cnnlab/conv.py` | `_conv2d_forward_loops` (the loops of `conv2d_forward`) | multi-channel convolution | 6 |
# | `cnnlab/conv.py` | `_im2col_kernel` and `_col2im_kernel` | unfold windows into columns and back | 4 |
# | `cnnlab/conv.py` | `conv2d_forward_gemm` | convolution as one matrix product | 3 |
#
# **How the checks work** (as in chapter 1). Right after the section that derives a function
# comes its *check cell*: one ✔ or ✘ per public check; the grader later runs the same cell with
# more, hidden tests. A check grades your latest *saved* file. `autoreload` brings your edits into
# the notebook's own `arithmetic` and `conv` modules when you re-run a cell; if a result looks
# stale, restart the kernel and run from the top. Cells marked **Your turn** are small ungraded
# exercises: replace `raise NotImplementedError()` with your answer.

# %%
# %load_ext autoreload
# %autoreload 2

import time

import matplotlib.pyplot as plt
import numpy as np
from ipywidgets import IntSlider, fixed, interact
from matplotlib.patches import Rectangle
from tqdm.auto import tqdm

from autograder import check
from cnnlab import arithmetic, conv, timing
from cnnlab.plots import heatmap

# %% [markdown]
# Drawing helpers. `heatmap` (from `cnnlab.plots`) writes every number of a small array into its
# cell (blue scale for non-negative arrays, red/blue for signed ones). The convolution pictures
# use the colours of the well-known convolution-arithmetic figures: the input in **blue**, zero
# padding as **dashed white** cells, the kernel's taps **dark blue**, the output in **green**.

# %%
INPUT, PAD, TAP, OUTPUT, CURRENT = "#9ecae1", "white", "#08519c", "#c7e9c0", "#238b45"


def draw_cells(ax, rows, cols, left=0.0, top=0.0, color=INPUT, dashed=False):
    """Draw a rows x cols block of unit squares with its top-left corner at (left, top)."""
    for r in range(rows):
        for c in range(cols):
            ax.add_patch(Rectangle((left + c, top + r), 1, 1, facecolor=color,
                                   edgecolor="0.55" if dashed else "0.3",
                                   linestyle="--" if dashed else "-", linewidth=0.8))


def tidy(ax, width, height):
    """Unit squares, y pointing down, no axes: the frame of the grid pictures."""
    ax.set_xlim(-0.3, width + 0.3)
    ax.set_ylim(height + 0.3, -0.3)
    ax.set_aspect("equal")
    ax.axis("off")


# %% [markdown]
# ## 1. One axis at a time: the output size
#
# A 2-D convolution slides its kernel along the rows and the columns independently, so its
# output size is two separate 1-D questions. Take one axis: an input of $W$ pixels, a kernel of
# $F$ taps, $P$ zeros of padding on each side, and a **stride** $S$, the number of pixels the
# kernel moves between two positions.
#
# The padded input has $W + 2P$ cells, numbered $0, \dots, W + 2P - 1$. The kernel's $t$-th
# position covers the cells $tS, \dots, tS + F - 1$, and it fits as long as its last tap stays
# inside: $tS + F - 1 \le W + 2P - 1$, that is $t \le (W + 2P - F)/S$. Counting the positions
# $t = 0, 1, 2, \dots$ gives
#
# $$\boxed{\;O = \left\lfloor \frac{W + 2P - F}{S} \right\rfloor + 1\;}$$
#
# The picture below is cs231n's: $W = 5$ inputs $(1, 2, -1, 1, -3)$, padded with one zero on
# each side ($P = 1$), a kernel $(1, 0, -1)$ of $F = 3$ taps. With $S = 1$ there are
# $(5 + 2 - 3)/1 + 1 = 5$ outputs; with $S = 2$, $(5 + 2 - 3)/2 + 1 = 3$. Each output is
# connected to the three inputs its kernel position covers.

# %%
x1d, w1d = np.array([1, 2, -1, 1, -3]), np.array([1, 0, -1])
W, F, P = 5, 3, 1
padded1d = np.pad(x1d, P)
_, axes = plt.subplots(1, 2, figsize=(10, 2.6))
for ax, S in zip(axes, (1, 2), strict=True):
    starts = range(0, W + 2 * P - F + 1, S)  # first cell of every kernel position
    for col, value in enumerate(padded1d):
        is_pad = col < P or col >= P + W
        draw_cells(ax, 1, 1, left=col, color=PAD if is_pad else INPUT, dashed=is_pad)
        ax.text(col + 0.5, 0.5, value, ha="center", va="center")
    for start in starts:
        centre = start + F / 2
        draw_cells(ax, 1, 1, left=centre - 0.5, top=2.2, color=OUTPUT)
        ax.text(centre, 2.7, padded1d[start : start + F] @ w1d, ha="center", va="center")
        for tap in range(F):
            ax.plot([centre, start + tap + 0.5], [2.2, 1], color=TAP, linewidth=0.8)
    tidy(ax, W + 2 * P, 3.2)
    ax.set_title(f"W=5, F=3, P=1, S={S}: {len(starts)} outputs", fontsize=10)
plt.show()

# %% [markdown]
# ## 2. Padding and stride: "valid", "same", "full"
#
# Chapter 1 met three padding modes, all with stride 1. In the formula they are three choices of
# $P$ (for an odd $F$):
#
# - **valid**, no padding, $P = 0$: $O = W - F + 1$; the output shrinks by $F - 1$.
# - **same**, or *half* padding, $P = (F - 1)/2$: $O = W$. This is one reason why kernels are
#   odd: $3 \times 3$ with $P = 1$, $5 \times 5$ with $P = 2$ keep the size, and the deep stacks
#   of VGG and ResNet can be drawn as boxes of constant size between the pooling layers.
# - **full** padding, $P = F - 1$: $O = W + F - 1$; every position where the kernel overlaps at
#   least one input pixel gives an output.
#
# Dumoulin and Visin's *A guide to convolution arithmetic for deep learning* (2016) lists the
# cases as five relationships (input $i$, kernel $k$, padding $p$, stride $s$, output $o$):
#
# | case | padding | output size | example |
# | --- | --- | --- | --- |
# | no padding, unit stride | $p = 0$ | $o = i - k + 1$ | $i=4, k=3$: $o=2$ |
# | half padding, unit stride | $p = \lfloor k/2 \rfloor$, $k$ odd | $o = i$ | $i=5, k=3$: $o=5$ |
# | full padding, unit stride | $p = k - 1$ | $o = i + k - 1$ | $i=5, k=3$: $o=7$ |
# | no padding, strided | $p = 0$ | $o = \lfloor (i - k)/s \rfloor + 1$ | $i=5, k=3, s=2$: $o=2$ |
# | padding, strided | any $p$ | $o = \lfloor (i + 2p - k)/s \rfloor + 1$ | $i=5, k=3, s=2, p=1$: $o=3$ |
#
# The last line contains the other four. Section 5 draws them, and lets you move the kernel.

# %% [markdown]
# ## 3. When the stride does not fit: why the formula floors
#
# With a stride, $(i + 2p - k)/s$ need not be an integer. Take a 6×6 input, a 3×3 kernel,
# padding 1 and stride 2: $(6 + 2 - 3)/2 = 2.5$. The kernel starts at rows 0, 2 and 4 of the
# 8-row padded input and covers rows 0 to 6; the next start, 6, would need rows 6 to 8, and row
# 8 does not exist. So there are $\lfloor 2.5 \rfloor + 1 = 3$ positions, and the **last row and
# column of the padded input are never covered**. Here they hold only padding, so nothing is
# lost. Without the padding ($i = 6, k = 3, s = 2, p = 0$: $\lfloor 1.5 \rfloor + 1 = 2$), the
# last row and column of the *image* are never looked at. Below: how many kernel windows cover
# each cell (red: none; dashed: padding; black frame: the image).

# %%
def coverage(size, kernel, stride, padding):
    """How many kernel windows cover each cell of the padded (size + 2 padding)^2 input."""
    per_axis = np.zeros(size + 2 * padding, int)
    for start in range(0, size + 2 * padding - kernel + 1, stride):
        per_axis[start : start + kernel] += 1
    return np.outer(per_axis, per_axis)  # a 2-D window is a row range times a column range


_, axes = plt.subplots(1, 2, figsize=(8, 4))
for ax, padding in zip(axes, (1, 0), strict=True):
    count = coverage(6, 3, 2, padding)
    heatmap(ax, count, f"6×6, kernel 3, stride 2, padding {padding}")
    for (r, c), value in np.ndenumerate(count):
        if min(r, c) < padding or max(r, c) >= 6 + padding:  # a padding cell: faded, dashed
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor="white", alpha=0.55,
                                   edgecolor="0.3", linestyle="--"))
        if value == 0:
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, color="tab:red", alpha=0.5))
    ax.add_patch(Rectangle((padding - 0.5, padding - 0.5), 6, 6, fill=False, linewidth=2))
plt.show()

# %% [markdown]
# Libraries differ in what they do with such a leftover. PyTorch (and `cnnlab`) round down and
# silently ignore it; cs231n calls such hyper-parameters "invalid" and some libraries raise an
# error. Two consequences worth remembering:
#
# - **Different input sizes give the same output size.** With $k = 3, s = 2, p = 1$, both 5 and 6
#   give 3. Section 6 pays for this.
# - **Paper arithmetic can be off.** The AlexNet paper feeds 224×224 images to 11×11 kernels with
#   stride 4, which would give $(224 - 11)/4 + 1 = 54.25$ positions. The 55×55 it reports works
#   for 227×227 inputs ($(227 - 11)/4 + 1 = 55$), or for 224 padded by 2.

# %% [markdown]
# ## 4. Dilation
#
# A **dilated** (or *atrous*) kernel spreads its taps out: with dilation $d$, consecutive taps are
# $d$ pixels apart, so a kernel of $k$ taps spans
#
# $$k' = d\,(k - 1) + 1$$
#
# pixels with only $k$ weights. A 3×3 kernel at rate 2 sees a 5×5 window with 9 weights; at rate
# 4, a 9×9 window. Dilation changes nothing else, so the output size is the formula of Section 1
# with $F$ replaced by $k'$:
#
# $$O = \left\lfloor \frac{W + 2P - d\,(F - 1) - 1}{S} \right\rfloor + 1.$$

# %%
_, axes = plt.subplots(1, 2, figsize=(7, 3.4))
for ax, dilation in zip(axes, (1, 2), strict=True):
    draw_cells(ax, 7, 7)
    span = dilation * 2 + 1
    for i in range(3):
        for j in range(3):
            ax.add_patch(Rectangle((1 + j * dilation + 0.1, 1 + i * dilation + 0.1), 0.8, 0.8,
                                   color=TAP))
    ax.add_patch(Rectangle((1, 1), span, span, fill=False, edgecolor=TAP, linewidth=2.5))
    tidy(ax, 7, 7)
    ax.set_title(f"3×3 kernel, dilation {dilation}: sees {span}×{span}", fontsize=10)
plt.show()

# %% [markdown]
# ### Your task: `conv_output_size`
#
# ```python
# arithmetic.conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1) -> int
# ```
#
# In `cnnlab/arithmetic.py`, below the given lines that validate the arguments (they already raise
# a `ValueError` when the dilated kernel is larger than the padded input), return the number of
# kernel positions along one axis:
#
# $$\left\lfloor \frac{\text{size} + 2\,\text{padding} - \text{dilation}\,(\text{kernel\_size} - 1)
# - 1}{\text{stride}} \right\rfloor + 1.$$
#
# It must be a Python `int`, exactly like `torch.nn.Conv2d`'s output size: use integer floor
# division `//`, not `/` (which gives a float).

# %% [markdown]
# **Reading a check cell.** While it runs it shows `checking conv_output_size (...): k of n tests done`,
# then a ✔ or ✘ line per check (a ✘ names the case, the first wrong value with got vs expected,
# the known mistake your result matches if it is one, and heatmaps of expected, got and their
# difference where the data is an image); the number it ends with is the points the cell earned:
# with `hidden = False`, as here, only its public checks ran, and when your notebook is graded
# `hidden` is `True` and the same cell runs the hidden tests too. If a Numba kernel fails with an
# error you cannot make sense of, or you want `print()` inside it, grade it as plain Python in a
# terminal: `python -m autograder grade ch02 --no-jit` (slower: Numba compiles nothing, so
# tracebacks point at your line, and the feedback shows what your code printed).

# %% nbgrader={"grade": true, "grade_id": "check_conv_output_size", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Public checks of your conv_output_size; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch02_arithmetic", "conv_output_size", hidden=hidden)

# %% [markdown]
# Your function against the table of Section 2, the cases of Section 3, a dilated kernel and
# AlexNet's first layer:

# %%
cases = [  # (description, size, kernel, stride, padding, dilation)
    ("no padding, unit stride", 4, 3, 1, 0, 1),
    ("half padding", 5, 3, 1, 1, 1),
    ("full padding", 5, 3, 1, 2, 1),
    ("no padding, strided", 5, 3, 2, 0, 1),
    ("padding, strided", 5, 3, 2, 1, 1),
    ("padding, strided, odd", 6, 3, 2, 1, 1),
    ("dilation 2", 7, 3, 1, 0, 2),
    ("AlexNet conv1", 227, 11, 4, 0, 1),
]
for name, *hyper in cases:
    print(f"{name:24} i, k, s, p, d = {str(hyper):18} -> o = {arithmetic.conv_output_size(*hyper)}")

# %% [markdown]
# ## 5. The picture
#
# `draw_conv` draws one position of a kernel sliding over a padded, strided, dilated input, and
# the output grid beside it, in the style of Dumoulin and Visin's figures. The size of the output
# grid comes from **your** `conv_output_size`. The output cells are numbered row by row;
# `position` picks the one whose window is shown.

# %%
def draw_conv(size, kernel, stride, padding, dilation, position, ax=None):
    """Draw a kernel at output `position` over a size x size input (blue) padded with zeros
    (dashed), its taps (dark blue), and the output grid (green, current position darker)."""
    show = ax is None
    if show:
        _, ax = plt.subplots(figsize=(8, 4))
    padded, span = size + 2 * padding, dilation * (kernel - 1) + 1
    draw_cells(ax, padded, padded, color=PAD, dashed=True)
    draw_cells(ax, size, size, left=padding, top=padding)
    hyper = f"i={size}, k={kernel}, s={stride}, p={padding}, d={dilation}"
    if span > padded:  # conv_output_size would raise a ValueError
        ax.set_title(f"{hyper}: the kernel spans {span} > {padded} cells", fontsize=10)
        tidy(ax, padded, padded)
    else:
        out = arithmetic.conv_output_size(size, kernel, stride, padding, dilation)
        y, x = divmod(min(position, out * out - 1), out)
        for i in range(kernel):
            for j in range(kernel):
                ax.add_patch(Rectangle((x * stride + j * dilation + 0.12,
                                        y * stride + i * dilation + 0.12), 0.76, 0.76,
                                       color=TAP, alpha=0.75))
        ax.add_patch(Rectangle((x * stride, y * stride), span, span, fill=False, edgecolor=TAP,
                               linewidth=2))
        left, top = padded + 1.5, (padded - out) / 2
        draw_cells(ax, out, out, left=left, top=top, color=OUTPUT)
        draw_cells(ax, 1, 1, left=left + x, top=top + y, color=CURRENT)
        ax.annotate("", xy=(left + x, top + y + 0.5),
                    xytext=(x * stride + span, y * stride + span / 2),
                    arrowprops=dict(arrowstyle="->", color="0.35", linewidth=1))
        ax.set_title(f"{hyper}  →  o={out}", fontsize=10)
        tidy(ax, left + out, padded)
    if show:
        plt.show()


# %% [markdown]
# Four classic configurations: "valid" (no padding, unit stride), "same" (half padding),
# strided with padding (three positions per axis), and dilated (a 3×3 kernel seeing 5×5).

# %%
classics = [(4, 3, 1, 0, 1, 1), (5, 3, 1, 1, 1, 7), (5, 3, 2, 1, 1, 5), (7, 3, 1, 0, 2, 5)]
_, axes = plt.subplots(2, 2, figsize=(10, 4))
for ax, config in zip(axes.flat, classics, strict=True):
    draw_conv(*config, ax=ax)
width = max(ax.get_xlim()[1] for ax in axes.flat)
height = max(ax.get_ylim()[0] for ax in axes.flat)
for ax in axes.flat:  # one scale for all four: a cell is a cell
    ax.set_xlim(-0.3, width)
    ax.set_ylim(height, -0.3)
plt.tight_layout()
plt.show()

# %% [markdown]
# Now move the sliders yourself. Try the cases of Section 3 (6, 3, stride 2, padding 1: the last
# padded row is never reached) and full padding (padding = kernel − 1). The `position` slider
# adapts its range to the output size.

# %%
sliders = dict(size=IntSlider(5, 1, 9, description="input"),
               kernel=IntSlider(3, 1, 5, description="kernel"),
               stride=IntSlider(1, 1, 3, description="stride"),
               padding=IntSlider(1, 0, 3, description="padding"),
               dilation=IntSlider(1, 1, 3, description="dilation"),
               position=IntSlider(0, 0, 24, description="position"))


def fit_position_range(_change):
    """Let the position slider run over the output cells of the current configuration."""
    size, kernel, stride, padding, dilation = (
        sliders[name].value for name in ("size", "kernel", "stride", "padding", "dilation")
    )
    if dilation * (kernel - 1) + 1 <= size + 2 * padding:
        out = arithmetic.conv_output_size(size, kernel, stride, padding, dilation)
        sliders["position"].max = out * out - 1


for name in ("size", "kernel", "stride", "padding", "dilation"):
    sliders[name].observe(fit_position_range, "value")
_ = interact(draw_conv, **sliders, ax=fixed(None))

# %% [markdown]
# **Your turn.** The stem of ResNet-50 takes a 224×224 image through a 7×7 convolution with
# stride 2 and padding 3, then a 3×3 max-pool with stride 2 and padding 1 (pooling windows follow
# the same arithmetic). By hand: what is the side of the feature map after the convolution, and
# after the pooling? Store them in `after_conv` and `after_pool`.

# %% nbgrader={"grade": false, "grade_id": "resnet_stem", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
after_conv = (224 + 2 * 3 - 7) // 2 + 1  # 112
after_pool = (after_conv + 2 * 1 - 3) // 2 + 1  # 56
### END SOLUTION
print("by hand:             ", after_conv, after_pool)
stem = arithmetic.conv_output_size(224, 7, stride=2, padding=3)
print("conv_output_size says:", stem, arithmetic.conv_output_size(stem, 3, stride=2, padding=1))

# %% [markdown]
# ## 6. Transposed convolution: output size
#
# Decoders, segmentation networks and GANs need to *grow* a feature map. A **transposed
# convolution** runs the wiring of a convolution backwards. In a convolution, output $t$ reads
# the input cells $tS, \dots, tS + k - 1$. In a transposed convolution, input $t$ *writes*: it
# adds a copy of the kernel, scaled by its value, onto the output cells $tS, \dots, tS + k - 1$.
# The last of the $i$ inputs writes up to cell $(i - 1)S + k - 1$, so the output has
#
# $$o = (i - 1)\,S + k$$
#
# cells. Like a convolution, it has padding, but here padding *crops* $p$ cells from both ends
# ($-2p$), and a dilated kernel spans $d(k - 1) + 1$ cells:
#
# $$\boxed{\;o = (i - 1)\,S - 2p + d\,(k - 1) + \text{output\_padding} + 1\;}$$
#
# **output_padding** settles the ambiguity of Section 3: a convolution with $k = 3, s = 2, p = 1$
# maps both 5 and 6 to 3, so its transpose, from 3, has to be told which one to give back: 5
# by default, 6 with `output_padding=1`. It adds cells on one side (bottom/right) only and must
# be smaller than the stride (or the dilation), as in `torch.nn.ConvTranspose2d`.
#
# Worked example: a 2×2 input, a 4×4 kernel, stride 3 gives $(2 - 1) \cdot 3 + 4 = 7$: a 7×7
# output made of four 4×4 copies of the kernel, 3 cells apart. Where copies overlap, they add.

# %%
k, s = 4, 3
stamps = np.zeros(((2 - 1) * s + k,) * 2, int)
colors = ["tab:orange", "tab:purple", "tab:green", "tab:red"]
_, axes = plt.subplots(1, 2, figsize=(7, 3.4), gridspec_kw={"width_ratios": [1, 2.4]})
draw_cells(axes[0], 2, 2)
for (r, c), color in zip(np.ndindex(2, 2), colors, strict=True):
    axes[0].add_patch(Rectangle((c + 0.15, r + 0.15), 0.7, 0.7, fill=False, edgecolor=color,
                                linewidth=3))
    stamps[r * s : r * s + k, c * s : c * s + k] += 1
tidy(axes[0], 2, 2)
axes[0].set_title("2×2 input", fontsize=10)
heatmap(axes[1], stamps, "7×7 output: copies per cell")
for index, ((r, c), color) in enumerate(zip(np.ndindex(2, 2), colors, strict=True)):
    inset = 0.05 + 0.07 * index  # nested a little, so that overlapping outlines stay apart
    axes[1].add_patch(Rectangle((c * s - 0.5 + inset, r * s - 0.5 + inset), k - 2 * inset,
                                k - 2 * inset, fill=False, edgecolor=color, linewidth=2))
plt.show()

# %% [markdown]
# ### Your task: `transposed_conv_output_size`
#
# ```python
# arithmetic.transposed_conv_output_size(size, kernel_size, stride=1, padding=0,
#                                        output_padding=0, dilation=1) -> int
# ```
#
# In `cnnlab/arithmetic.py`, compute the boxed formula and **assign it to `out`**: the given code
# after your lines checks that `out >= 1` (too much padding would crop everything) and returns it.
# The given code before them already rejects an `output_padding` that is not smaller than the
# stride or the dilation. Test it on the example: `(2, 4, 3)` must give 7.

# %% nbgrader={"grade": true, "grade_id": "check_transposed_conv_output_size", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Public checks of your transposed_conv_output_size; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch02_arithmetic", "transposed_conv_output_size", hidden=hidden)

# %%
print("2x2 input, kernel 4, stride 3:", arithmetic.transposed_conv_output_size(2, 4, stride=3))
print("DCGAN, 4 -> ?, kernel 4, stride 2, padding 1:",
      arithmetic.transposed_conv_output_size(4, 4, stride=2, padding=1))
for output_padding in (0, 1):
    back = arithmetic.transposed_conv_output_size(3, 3, 2, 1, output_padding)
    print(f"3 back through k=3, s=2, p=1 with output_padding={output_padding}: {back}, and "
          f"conv_output_size({back}, 3, 2, 1) = {arithmetic.conv_output_size(back, 3, 2, 1)}")

# %% [markdown]
# ### Transposed, not inverse
#
# The name is exact. Write a 1-D convolution as a matrix $C$: each row holds the kernel, shifted
# by the stride. Below, the input $(1, 2, -1, 1, -3)$ of Section 1 (no padding), the kernel
# $(1, 0, -1)$ and stride 2: $C$ is 2×5 and $y = Cx$ has 2 entries. The transposed convolution
# multiplies by $C^\top$, 5×2: each **column** of $C^\top$ is the kernel, placed $s$ cells further
# down, which is the "stamping" above. $C^\top$ brings back the *shape* of $x$, not its values:
# $C^\top C$ is not the identity (it has rank 2, and overlapping copies add up). Chapter 3 shows
# that $C^\top$ is also exactly the backward pass of a convolution with respect to its input.

# %%
C = np.zeros((2, 5))
for t in range(2):
    C[t, 2 * t : 2 * t + 3] = w1d  # row t: the kernel at position t * stride
y1d = C @ x1d
print("x         =", x1d, "   y = C x =", y1d)
print("C^T y     =", C.T @ y1d, "   (shape of x, not x)")
_, axes = plt.subplots(1, 3, figsize=(9, 2.6), gridspec_kw={"width_ratios": [5, 2, 5]})
for ax, matrix, title in zip(axes, (C, C.T, C.T @ C), ("C (convolution)", "Cᵀ (transposed)",
                                                     "Cᵀ C ≠ identity"), strict=True):
    heatmap(ax, matrix, title)
plt.show()

# %% [markdown]
# ## 7. The multi-channel convolution
#
# Real inputs have depth: 3 colour channels for a photograph, 64 or 512 feature maps deeper in a
# network. A filter always spans the **full depth** of its input: on a $C \times H \times W$
# volume, a $k \times k$ filter is a $C \times k \times k$ block of weights. At each position it
# multiplies the window (also $C \times k \times k$) element by element, adds up *everything*
# (over the channels too) and adds its bias: **one number per position**. A layer has $O$ filters,
# each giving one output map, so
#
# $$\text{output depth} = \text{number of filters } O.$$
#
# With a batch, everything is in PyTorch's NCHW layout: images `x` of shape $(N, C, H, W)$,
# filters `w` of shape $(O, C, K_H, K_W)$, biases `b` of shape $(O,)$, output of shape
# $(N, O, O_H, O_W)$:
#
# $$\text{out}[n, o, y, x] = b[o] + \sum_{c=0}^{C-1} \sum_{i=0}^{K_H-1} \sum_{j=0}^{K_W-1}
# w[o, c, i, j]\; x_{\text{pad}}[n, c,\ y s_h + i d_h,\ x s_w + j d_w].$$
#
# The worked example is cs231n's demo: a 5×5×3 input padded by 1 to 7×7×3, two 3×3×3 filters
# $w_0, w_1$ with biases $b = (1, 0)$, stride 2. The output is $(5 + 2 - 3)/2 + 1 = 3$ wide:
# 3×3×2.

# %%
demo_rng = np.random.default_rng(13)
x_demo = demo_rng.integers(0, 3, (1, 3, 5, 5))  # N=1 image, C=3 channels, 5x5
w_demo = demo_rng.integers(-1, 2, (2, 3, 3, 3))  # O=2 filters, each 3x3x3
b_demo = np.array([1, 0])
xpad_demo = np.pad(x_demo, ((0, 0), (0, 0), (1, 1), (1, 1)))  # the 7x7x3 padded input
print("x", x_demo.shape, " padded", xpad_demo.shape, " w", w_demo.shape, " b", b_demo.shape)

# %% [markdown]
# One output element by hand: filter 1 at output row 2, column 1. With stride 2 its window starts
# at padded row $2 \cdot 2 = 4$ and column $2 \cdot 1 = 2$: rows 4–6 and columns 2–4, in all three
# channels.

# %%
window = xpad_demo[0, :, 4:7, 2:5]  # (3, 3, 3): all channels of the window
element = np.sum(window * w_demo[1]) + b_demo[1]
per_channel = (window * w_demo[1]).sum(axis=(1, 2))
print("per channel:", per_channel, " + bias", b_demo[1], " =", element)

# %% [markdown]
# The whole output, as the formula says: three loops over the output elements, each a window
# times a filter summed with `np.sum`, plus the bias. Your loops in the package must give the
# same numbers.

# %%
out_numpy = np.zeros((1, 2, 3, 3))
for o in range(2):
    for y in range(3):
        for x in range(3):
            window = xpad_demo[0, :, 2 * y : 2 * y + 3, 2 * x : 2 * x + 3]
            out_numpy[0, o, y, x] = np.sum(window * w_demo[o]) + b_demo[o]
out_numpy

# %% [markdown]
# The element as a picture: the window (orange) in the three channels of the padded input, the
# three channels of filter 1, and where the result lands in the second output map.

# %%
_, axes = plt.subplots(2, 4, figsize=(10, 4), gridspec_kw={"width_ratios": [7, 7, 7, 5]})
for c in range(3):
    heatmap(axes[0, c], xpad_demo[0, c], f"x padded, channel {c}", fontsize=8)
    axes[0, c].add_patch(Rectangle((1.5, 3.5), 3, 3, fill=False, edgecolor="tab:orange",
                                   linewidth=2.5))
    heatmap(axes[1, c], w_demo[1, c], f"w[1], channel {c}: Σ = {per_channel[c]}", fontsize=8)
axes[0, 3].axis("off")
axes[0, 3].text(0, 0.5, " + ".join(map(str, per_channel)) + f"\n+ bias {b_demo[1]}\n= {element}",
                fontsize=12, va="center")
heatmap(axes[1, 3], out_numpy[0, 1], "output map 1")
axes[1, 3].add_patch(Rectangle((0.5, 1.5), 1, 1, fill=False, edgecolor="tab:orange",
                               linewidth=2.5))
plt.show()

# %% [markdown]
# ### Your task: the loops of `conv2d_forward`
#
# `conv.conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1)` is given: it validates
# the shapes, turns stride/padding/dilation into $(h, w)$ pairs, zero-pads `x` into `xpad`,
# allocates `out` of shape (N, O, OH, OW) and calls the Numba kernel
#
# ```python
# _conv2d_forward_loops(xpad, w, b, sh, sw, dil_h, dil_w, out)
# ```
#
# which is yours, in `cnnlab/conv.py`: fill `out` in place with the formula above (no `return`).
# `b` is always an array here (zeros when the layer has no bias). Seven nested loops. The
# formula read literally loops over `n`, `o`, `y`, `x`, then sums over `c`, `i`, `j` into a local
# variable started at `b[o]`, stored once per output element; that is correct and a fine first
# version. The reference solution turns the loops around: over `n`, `o` (set `out[n, o]` to
# `b[o]`), then `c`, `i`, `j` (one weight `w[o, c, i, j]`), and innermost `y`, `x`, adding
# `weight * xpad[...]` into `out[n, o, y, x]`. Its innermost loop walks along a row of `xpad` and
# of `out`, so memory is read in order: on the machine this course was written on, with one
# thread, that was 1.05× to 1.8× faster (about 1.5× typically; float32 and float64, layers from
# 2×8×32×32 to 16×32×16×16 inputs). Either order earns full marks (the sums differ only in
# rounding). Tips from chapter 1: plain loops are fast in Numba (no slicing), the
# first call compiles (a few seconds), and `conv._conv2d_forward_loops.py_func(...)` runs your
# loops as plain Python, for debugging.

# %% nbgrader={"grade": true, "grade_id": "check_conv2d_forward", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
# Public checks of your conv2d_forward; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch02_arithmetic", "conv2d_forward", hidden=hidden)

# %%
out_demo = conv.conv2d_forward(x_demo, w_demo, b_demo, stride=2, padding=1)
print("shape", out_demo.shape, "(N, O, OH, OW): depth = number of filters")
print("element by hand:", element, "  conv2d_forward:", out_demo[0, 1, 2, 1])
print("whole output equals the NumPy loops:", np.array_equal(out_demo, out_numpy))

# %% [markdown]
# A batch goes through in one call, each image with the same filters: image 1 of a batch gives
# what it gives alone.

# %%
batch = np.random.default_rng(1).standard_normal((4, 3, 5, 5))
out_batch = conv.conv2d_forward(batch, w_demo, b_demo, stride=2, padding=1)
print(out_batch.shape, np.allclose(out_batch[1:2], conv.conv2d_forward(batch[1:2], w_demo,
                                                                        b_demo, 2, 1)))

# %% [markdown]
# ## 8. Parameters: what weight sharing buys
#
# A filter's weights are the same at every position, so a layer's parameter count does not depend
# on the image size at all. A 3×3 filter on an RGB input has $3 \cdot 3 \cdot 3 = 27$ weights
# and one bias: **28 parameters**, on a 32×32 image as on a 4000×3000 one. A layer of $O$ such
# filters on $C$ input channels has
#
# $$O \cdot C \cdot K_H \cdot K_W + O \quad \text{parameters (the } {}+O \text{ only with biases).}$$
#
# **Groups.** With `groups` $= g$ the channels are split into $g$ groups that do not talk to each
# other: each filter sees only $C/g$ input channels, so the weights shrink by $g$. AlexNet used
# $g = 2$ to split its layers over two GPUs; $g = C$ is the *depthwise* convolution of chapter 4.
#
# **AlexNet's first layer**: 96 filters of 11×11×3, stride 4, on 227×227×3, giving 55×55×96.
# With sharing: $96 \cdot (11 \cdot 11 \cdot 3 + 1) = 34{,}944$ parameters. Without sharing,
# every one of the $55 \cdot 55 \cdot 96 = 290{,}400$ output units would need its own
# $11 \cdot 11 \cdot 3 + 1 = 364$ parameters: $105{,}705{,}600$ — 3000 times more, for one layer.
#
# ### Your task: `conv_params`
#
# ```python
# arithmetic.conv_params(in_channels, out_channels, kernel_size, groups=1, bias=True) -> int
# ```
#
# In `cnnlab/arithmetic.py`: the given code checks the arguments and turns `kernel_size` (an int
# or a pair) into `kh, kw`. Return `out_channels * (in_channels // groups) * kh * kw`, plus
# `out_channels` if `bias`.

# %% nbgrader={"grade": true, "grade_id": "check_conv_params", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Public checks of your conv_params; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch02_arithmetic", "conv_params", hidden=hidden)

# %%
print("one 3x3x3 filter:", arithmetic.conv_params(3, 1, 3), "parameters")
side = arithmetic.conv_output_size(227, 11, stride=4)
shared = arithmetic.conv_params(3, 96, 11)
unshared = side * side * 96 * (11 * 11 * 3 + 1)
print(f"AlexNet conv1: {side}x{side}x96 output; {shared:,} parameters shared, "
      f"{unshared:,} without sharing ({unshared / shared:,.0f}x)")

# %% [markdown]
# **Your turn.** AlexNet's second layer has 256 filters of 5×5 on the 96 channels of the first,
# with `groups=2` (each filter sees 48 channels), and biases. How many parameters? Store the
# number, computed by hand, in `alexnet_conv2`.

# %% nbgrader={"grade": false, "grade_id": "alexnet_conv2", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
alexnet_conv2 = 256 * 48 * 5 * 5 + 256  # 307,456
### END SOLUTION
print(f"by hand {alexnet_conv2:,}; conv_params says {arithmetic.conv_params(96, 256, 5, 2):,}")

# %% [markdown]
# ## 9. Cost: multiply-accumulates and FLOPs
#
# Each of the $O \cdot O_H \cdot O_W$ outputs of one image is a sum of $(C/g) \cdot K_H \cdot
# K_W$ products: one **multiply-accumulate** (MAC) each. So a layer costs
#
# $$\text{MACs} = O \cdot O_H \cdot O_W \cdot \frac{C}{g} \cdot K_H \cdot K_W$$
#
# per image, and $\text{FLOPs} = 2 \cdot \text{MACs}$ (one multiplication and one addition per
# MAC; bias additions are not counted, as in most papers). Parameters ignore the image size; the
# cost grows with it. Notice, too, that the MACs of AlexNet's conv1 equal the weights it would
# have without sharing (biases aside): every multiplication would have its own weight.
#
# ### Your task: `conv_macs`
#
# ```python
# arithmetic.conv_macs(input_size, in_channels, out_channels, kernel_size, stride=1, padding=0,
#                      dilation=1, groups=1) -> int
# ```
#
# In `cnnlab/arithmetic.py`: the given code turns `input_size`, `kernel_size`, `stride`,
# `padding` and `dilation` into pairs `(h, w)`, `(kh, kw)`, `(sh, sw)`, `(ph, pw)`, `(dh, dw)`.
# Compute the output height and width with your `conv_output_size`, one axis at a time, and
# return the formula. `arithmetic.conv_flops` (given) doubles your result.

# %% nbgrader={"grade": true, "grade_id": "check_conv_macs", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Public checks of your conv_macs; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch02_arithmetic", "conv_macs", hidden=hidden)

# %%
macs = arithmetic.conv_macs(227, 3, 96, 11, stride=4)
flops = arithmetic.conv_flops(227, 3, 96, 11, stride=4)
print(f"AlexNet conv1: {macs:,} MACs = {flops / 1e6:.1f} MFLOPs per image")
print(f"unshared parameters without biases: {side * side * 96 * 11 * 11 * 3:,}")

# %% [markdown]
# ## 10. Memory: activations against parameters in VGG-16
#
# VGG-16 is thirteen 3×3 convolutions with padding 1 ("same"), five 2×2 max-pools with stride 2,
# and three fully connected layers. Section 12 shows that a fully connected layer *is* a
# convolution (fc6 is a 7×7 convolution on the 7×7×512 map, fc7 and fc8 are 1×1), so one walk
# through the layers with your functions gives every output shape, parameter count and FLOP count.

# %%
def vgg16_spec():
    """VGG-16 as (name, out_channels, kernel, stride, padding) rows, the FC layers as convs."""
    spec = []
    for block, (convs, width) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)], 1):
        spec += [(f"conv{block}_{k}", width, 3, 1, 1) for k in range(1, convs + 1)]
        spec.append((f"pool{block}", width, 2, 2, 0))
    return spec + [("fc6", 4096, 7, 1, 0), ("fc7", 4096, 1, 1, 0), ("fc8", 1000, 1, 1, 0)]


def walk(spec, size, channels=3):
    """(name, output shape (C, H, W), parameters, FLOPs) of every layer on a size x size input."""
    rows = []
    for name, width, kernel, stride, padding in spec:
        is_pool = name.startswith("pool")
        params = 0 if is_pool else arithmetic.conv_params(channels, width, kernel)
        flops = 0 if is_pool else arithmetic.conv_flops(size, channels, width, kernel, stride,
                                                        padding)
        size = arithmetic.conv_output_size(size, kernel, stride, padding)
        channels = width
        rows.append((name, (channels, size, size), params, flops))
    return rows


vgg = walk(vgg16_spec(), 224)
for name, shape, params, flops in vgg:
    print(f"{name:8} {str(shape):17} {params:>12,} params {flops / 1e9:6.2f} GFLOPs")
print(f"total: {sum(r[2] for r in vgg):,} parameters, {sum(r[3] for r in vgg) / 1e9:.1f} GFLOPs")

# %% [markdown]
# 138 million parameters and about 31 GFLOPs (15.5 G multiply-accumulates), the numbers usually
# quoted for VGG-16. Now memory, in float32: the
# activations of one image (`arithmetic.activation_memory`, given: elements × 4 bytes) against
# the parameters of each layer.

# %%
names = [r[0] for r in vgg]
act_mb = np.array([arithmetic.activation_memory((1, *r[1])) for r in vgg]) / 2**20
param_mb = np.array([4 * r[2] for r in vgg]) / 2**20
_, axes = plt.subplots(2, 1, figsize=(10, 4), sharex=True)
axes[0].bar(names, act_mb, color=INPUT, edgecolor="0.3")
axes[0].set_ylabel("activations\n(MB per image)")
axes[1].bar(names, param_mb, color=CURRENT)
axes[1].set_ylabel("parameters (MB)")
axes[1].tick_params(axis="x", rotation=90)
plt.show()
print(f"activations: {act_mb.sum():.0f} MB per image, {act_mb[:2].sum() / act_mb.sum():.0%} "
      f"in conv1_1 and conv1_2; parameters: {param_mb.sum():.0f} MB, "
      f"{param_mb[names.index('fc6')] / param_mb.sum():.0%} in fc6")

# %% [markdown]
# Two different budgets. **Activation memory** sits in the first layers, where the maps are
# large (224×224×64), and it grows with the batch: training keeps every activation for the
# backward pass, so a batch of 64 needs about 64 times the bar above, several GB. **Parameter
# memory** sits in fc6, whose 7·7·512·4096 weights are three quarters of the network. This is
# why later networks (GoogLeNet, ResNet) replace fc6 by a global average pool.

# %% [markdown]
# ## 11. Receptive fields
#
# The **receptive field** of a unit is the window of the input it depends on. Walk a stack of
# layers from the input up, tracking two numbers: $r$, the receptive field of one unit, and $j$,
# the **jump**, the distance in input pixels between two neighbouring units (both start at 1: a
# pixel sees itself, its neighbour is 1 away). A layer with kernel $k$, stride $s$ and dilation
# $d$ reaches $d(k - 1)$ units further than one unit of the layer below, each $j$ pixels apart:
#
# $$r \leftarrow r + d\,(k - 1)\, j, \qquad j \leftarrow j\, s.$$
#
# Pooling layers count too (a 2×2 max-pool with stride 2 is $k = 2, s = 2$). Three 3×3
# convolutions with stride 1: $r = 1 + 2 + 2 + 2 = 7$.
#
# ### Your task: `receptive_field`
#
# ```python
# arithmetic.receptive_field(layers) -> int
# ```
#
# In `cnnlab/arithmetic.py`: `layers` is a list of `(kernel, stride, dilation)` tuples, first
# layer first (the given code checks them). Apply the update above layer by layer, starting from
# $r = j = 1$, and return $r$ (1 for an empty list). Mind the order: the layer uses the jump of
# the layers *before* it.

# %% nbgrader={"grade": true, "grade_id": "check_receptive_field", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Public checks of your receptive_field; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch02_arithmetic", "receptive_field", hidden=hidden)

# %% [markdown]
# **Why stacks of 3×3 kernels.** Three 3×3 layers see 7×7, like a single 7×7 layer. On $C$
# channels in and out they need $3 \cdot 9C^2 = 27C^2$ weights instead of $49C^2$, 45 % fewer,
# and put three non-linearities between the input and the output instead of one: a more
# expressive function for fewer parameters. This is the design argument of the VGG paper.

# %%
width = 256
print("receptive field of three 3x3:", arithmetic.receptive_field([(3, 1, 1)] * 3),
      " of one 7x7:", arithmetic.receptive_field([(7, 1, 1)]))
print(f"weights at C={width}: three 3x3 {3 * arithmetic.conv_params(width, width, 3, bias=False):,}"
      f" (27 C²), one 7x7 {arithmetic.conv_params(width, width, 7, bias=False):,} (49 C²)")
vgg_layers = [(kernel, stride, 1) for _, _, kernel, stride, _ in vgg16_spec()]
print("VGG-16: conv5_3 sees", arithmetic.receptive_field(vgg_layers[:17]), "pixels, pool5",
      arithmetic.receptive_field(vgg_layers[:18]), "with a jump of",
      arithmetic.jump(vgg_layers[:18]))

# %% [markdown]
# Stride and dilation change how fast the field grows: with stride 1 it grows *linearly*, by
# $k - 1$ a layer; every stride multiplies the step of all later layers; doubling dilations
# ($1, 2, 4, \dots$, as in WaveNet and DeepLab) grow it *exponentially* while keeping the full
# resolution (jump 1).

# %%
depth = np.arange(1, 11)
stacks = {
    "3×3, stride 1": lambda n: [(3, 1, 1)] * n,
    "3×3, stride 2 every second layer": lambda n: [(3, 1 + (l % 2), 1) for l in range(n)],
    "3×3, dilation 1, 2, 4, …": lambda n: [(3, 1, 2**l) for l in range(n)],
}
plt.figure(figsize=(6, 3.2))
for label, make in stacks.items():
    plt.plot(depth, [arithmetic.receptive_field(make(n)) for n in depth], "o-", label=label)
plt.yscale("log", base=2)
plt.xlabel("number of layers")
plt.ylabel("receptive field (pixels)")
plt.legend(fontsize=9)
plt.show()

# %% [markdown]
# **Your turn.** Choose dilations $d_1, d_2, d_3$ for three 3×3 layers with stride 1 so that the
# last unit sees 15×15 pixels without holes: the windows of a layer's three taps must touch or
# overlap, so each dilation can be at most the receptive field of the layer below it (1 for the
# input). Several answers work. Store the three `(kernel, stride, dilation)` tuples in
# `dilated_stack`.

# %% nbgrader={"grade": false, "grade_id": "dilated_stack", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
dilated_stack = [(3, 1, 1), (3, 1, 2), (3, 1, 4)]  # 1 + 2 + 4 + 8 = 15
### END SOLUTION
print("receptive field:", arithmetic.receptive_field(dilated_stack))

# %% [markdown]
# ## 12. Fully connected layers are convolutions
#
# A fully connected layer on a $7 \times 7 \times 512$ volume computes 4096 dot products of the
# whole volume with 4096 weight vectors. Reshape each weight vector to $512 \times 7 \times 7$:
# that is a 7×7 convolution with 4096 filters, no padding, whose kernel fits exactly once:
# $(7 - 7)/1 + 1 = 1$. Same numbers, same result. A small version (8 channels, 16 units):

# %%
rng = np.random.default_rng(2)
features = rng.standard_normal((1, 8, 7, 7))
fc_w, fc_b = rng.standard_normal((16, 8 * 7 * 7)), rng.standard_normal(16)
as_fc = fc_w @ features.ravel() + fc_b
as_conv = conv.conv2d_forward(features, fc_w.reshape(16, 8, 7, 7), fc_b)
print(as_conv.shape, np.allclose(as_conv.ravel(), as_fc))

# %% [markdown]
# Why it matters: a convolution accepts **any** input size. VGG-16 shrinks its input 32 times
# (five pools of stride 2), so a 384×384 image reaches fc6 as a 12×12×512 map instead of 7×7×512,
# and fc6 as a convolution produces a $(12 - 7)/1 + 1 = 6$ wide map. The whole network, in one
# pass, gives a 6×6 grid of class-score vectors: the scores of 36 crops of 224×224, spaced
# 32 pixels apart ($(384 - 224)/32 + 1 = 6$). This is how OverFeat and the VGG paper evaluate
# densely, at a fraction of the cost of 36 separate passes (the crops overlap, and the
# convolution shares the overlap).

# %%
vgg384 = walk(vgg16_spec(), 384)
print("fc6 input at 384:", vgg384[vgg16_spec().index(("pool5", 512, 2, 2, 0))][1],
      " fc6 output side:", arithmetic.conv_output_size(12, 7))
print("fc8 output at 384:", vgg384[-1][1], " (1000 class scores on a 6x6 grid)")
one_pass, crops = sum(r[3] for r in vgg384), 36 * sum(r[3] for r in vgg)
print(f"one pass: {one_pass / 1e9:.0f} GFLOPs; 36 crops of 224: {crops / 1e9:.0f} GFLOPs "
      f"({crops / one_pass:.1f}x more)")

# %% [markdown]
# The same in miniature, with the 8-channel example: a 12×12 input gives a 6×6 map, and each of
# its 36 outputs is the fully connected layer applied to one 7×7 crop.

# %%
big = rng.standard_normal((1, 8, 12, 12))
dense = conv.conv2d_forward(big, fc_w.reshape(16, 8, 7, 7), fc_b)
crop_scores = fc_w @ big[0, :, 2:9, 3:10].ravel() + fc_b  # the crop of output (2, 3)
print(dense.shape, np.allclose(dense[0, :, 2, 3], crop_scores))

# %% [markdown]
# ## 13. im2col: convolution as one matrix product
#
# Your loops compute every output as a dot product of a window with a filter. **im2col** ("image
# to columns") makes this literal: copy every window of the padded input into a column of a
# matrix with $C K_H K_W$ rows and $O_H O_W$ columns, one per output position. Reshape the filters
# to an $O \times C K_H K_W$ matrix (`w.reshape(O, -1)`); then the whole layer is **one** matrix
# product:
#
# $$\underbrace{\text{out}}_{O \times O_H O_W} = \underbrace{W}_{O \times C K_H K_W}\;
# \underbrace{\text{cols}}_{C K_H K_W \times O_H O_W} \; (+\ b).$$
#
# The rows of a column must be in the order of `w.reshape(O, -1)`: channel, then kernel row,
# then kernel column, so row $(c K_H + i) K_W + j$ holds tap $(i, j)$ of channel $c$:
#
# $$\text{cols}[n,\ (c K_H + i) K_W + j,\ y\, O_W + x] = x_{\text{pad}}[n, c,\ y s_h + i d_h,\
# x s_w + j d_w].$$
#
# A tiny example: two 3×3 channels holding $0, \dots, 17$, a 2×2 kernel. There are 4 windows
# (columns) of $2 \cdot 2 \cdot 2 = 8$ numbers (rows). Column 0 is the top-left window (orange).

# %%
tiny = np.arange(18.0).reshape(1, 2, 3, 3)
tiny_cols = np.zeros((8, 4))  # what im2col must produce, written out with slices
for y in range(2):
    for x in range(2):
        tiny_cols[:, y * 2 + x] = tiny[0, :, y : y + 2, x : x + 2].ravel()
_, axes = plt.subplots(1, 3, figsize=(8, 3.4), gridspec_kw={"width_ratios": [3, 3, 4]})
for c in range(2):
    heatmap(axes[c], tiny[0, c], f"channel {c}")
    axes[c].add_patch(Rectangle((-0.5, -0.5), 2, 2, fill=False, edgecolor="tab:orange",
                                linewidth=3))
heatmap(axes[2], tiny_cols, "cols: 8 rows × 4 windows")
axes[2].add_patch(Rectangle((-0.5, -0.5), 1, 8, fill=False, edgecolor="tab:orange", linewidth=3))
axes[2].set_yticks(range(8), [f"c{c} ({i},{j})" for c in range(2) for i in range(2)
                              for j in range(2)], fontsize=8)
axes[2].set_xticks(range(4), ["(0,0)", "(0,1)", "(1,0)", "(1,1)"], fontsize=8)
plt.show()

# %% [markdown]
# **Why it is fast.** A matrix product is the most optimised routine in numerical computing:
# BLAS libraries (OpenBLAS, MKL, cuBLAS on a GPU) block it for the caches, vectorise it with SIMD
# instructions and spread it over all cores. Deep-learning libraries lower convolutions to such
# products, explicitly as here or implicitly (cuDNN's "implicit GEMM"), for exactly that reason. **What it costs**: memory. Each input pixel is
# copied into up to $K_H K_W$ columns, so for stride 1 and "same" padding the column matrix is
# $K^2$ times the size of the input: 9 times for a 3×3 kernel, 49 times for 7×7.
#
# **col2im** goes the other way: it adds every column back onto the window it came from. Where
# windows overlap, the copies **add up**, so `col2im(im2col(x))` is not `x` but `x` times the
# number of windows covering each pixel. It is the data movement of the transposed convolution of
# Section 6, that is, of the backward pass of chapter 3.
#
# ### Your task: `_im2col_kernel` and `_col2im_kernel`
#
# In `cnnlab/conv.py`. The wrappers `conv.im2col(x, kernel_size, stride, padding, dilation)` and
# `conv.col2im(cols, input_size, kernel_size, stride, padding, dilation)` are given: they
# validate, pad, allocate, and crop. Yours are the two Numba kernels:
#
# - `_im2col_kernel(xpad, KH, KW, sh, sw, dil_h, dil_w, OH, OW, cols)`: fill `cols` (shape
#   (N, C·KH·KW, OH·OW)) with the formula above. Loops over `n, c, i, j` (which give the row),
#   then `y, x` (which give the column).
# - `_col2im_kernel(cols, KH, KW, sh, sw, dil_h, dil_w, OH, OW, xpad)`: the same loops with the
#   assignment reversed and **accumulating**: `xpad[n, c, ...] += cols[n, row, col]` (`xpad`
#   arrives full of zeros).
#
# Worked examples: the 3×3 image $0, \dots, 8$ with a 2×2 kernel gives the columns
# $(0, 1, 3, 4), (1, 2, 4, 5), (3, 4, 6, 7), (4, 5, 7, 8)$ (channel 0 above); `col2im` of
# all-ones columns on that image gives the window counts $\begin{pmatrix}1 & 2 & 1 \\ 2 & 4 & 2
# \\ 1 & 2 & 1\end{pmatrix}$.

# %% nbgrader={"grade": true, "grade_id": "check_im2col", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Public checks of your im2col; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch02_arithmetic", "im2col", hidden=hidden)

# %%
print("im2col equals the picture:", np.array_equal(conv.im2col(tiny, 2)[0], tiny_cols))
ones = np.ones((1, 1, 6, 6))
for kernel, stride, padding in [(3, 1, 0), (3, 2, 1)]:
    counts = conv.col2im(conv.im2col(ones, kernel, stride, padding), 6, kernel, stride, padding)
    print(f"k={kernel}, s={stride}, p={padding}: col2im(im2col(ones)) is ones? "
          f"{np.array_equal(counts, ones)}")

# %% [markdown]
# The window counts, `col2im(im2col(ones))`, for a 6×6 image: on the left with a 3×3 kernel and
# stride 1 (the centre is covered 9 times, the corners once), on the right for the strided case of
# Section 3 (the padding is cropped away). `col2im(im2col(x))` is exactly `x` times these counts.

# %%
rng = np.random.default_rng(3)
x_rand = rng.standard_normal((1, 1, 6, 6))
_, axes = plt.subplots(1, 2, figsize=(7, 3.4))
for ax, (kernel, stride, padding) in zip(axes, [(3, 1, 0), (3, 2, 1)], strict=True):
    counts = conv.col2im(conv.im2col(ones, kernel, stride, padding), 6, kernel, stride, padding)
    roundtrip = conv.col2im(conv.im2col(x_rand, kernel, stride, padding), 6, kernel, stride,
                            padding)
    heatmap(ax, counts[0, 0], f"windows per pixel, k={kernel}, s={stride}, p={padding}")
    print(f"k={kernel}, s={stride}, p={padding}: col2im(im2col(x)) == x * counts:",
          np.allclose(roundtrip, x_rand * counts))
plt.show()

# %% [markdown]
# The price in memory, per image in float32, for 3×3 convolutions of VGG-16 ("same" padding,
# stride 1): the column matrix is 9 times the input.

# %%
for name, (channels, size) in [("conv1_2", (64, 224)), ("conv3_2", (256, 56)),
                               ("conv5_2", (512, 14))]:
    x_bytes = arithmetic.activation_memory((1, channels, size, size))
    cols_bytes = arithmetic.activation_memory((1, channels * 9, size * size))
    print(f"{name}: input {x_bytes / 2**20:6.1f} MB, columns {cols_bytes / 2**20:6.1f} MB "
          f"({cols_bytes // x_bytes}x)")

# %% [markdown]
# ### Your task: `conv2d_forward_gemm`
#
# ```python
# conv.conv2d_forward_gemm(x, w, b=None, stride=1, padding=0, dilation=1) -> out
# ```
#
# Same arguments and result as `conv2d_forward`, computed with your `im2col` and one product. In
# `cnnlab/conv.py`, after the given lines (validation, a common dtype; `N, O, KH, KW` and the
# output size `oh, ow` are ready; `stride`, `padding`, `dilation` are pairs):
#
# 1. `cols = im2col(x, (KH, KW), stride, padding, dilation)`, shape (N, C·KH·KW, OH·OW);
# 2. `w.reshape(O, -1) @ cols`: NumPy's `@` multiplies the (O, C·KH·KW) matrix with each of the
#    N matrices of `cols`, giving (N, O, OH·OW), in one BLAS call per image;
# 3. if `b` is not None, add it to every position of its filter (`b[:, None]` broadcasts over
#    the OH·OW columns);
# 4. return the result reshaped to (N, O, OH, OW). No Python loops.
#
# The function also takes `groups=1` (PyTorch's grouped convolution, used from chapter 3 on); the
# checks of this chapter use the default, so your version may ignore it. The reference solution
# goes further for speed: it lays the windows of the whole batch out channels-last as the rows of
# one matrix (`_im2row_kernel`, an optional stub) and does one product for the whole batch.

# %% nbgrader={"grade": true, "grade_id": "check_conv2d_forward_gemm", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Public checks of your conv2d_forward_gemm; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch02_arithmetic", "conv2d_forward_gemm", hidden=hidden)

# %%
out_gemm = conv.conv2d_forward_gemm(x_demo, w_demo, b_demo, stride=2, padding=1)
print("cs231n demo, GEMM equals loops:", np.array_equal(out_gemm, out_demo))

# %% [markdown]
# ## 14. The race: Python loops, Numba loops, im2col + GEMM
#
# One layer: a batch of $N = 2$ images with $C = 8$ channels of 32×32, $O = 16$ filters of 3×3,
# padding 1, float32. First, the loops of your kernel as plain Python (stride 1, no dilation):
# the same seven loops, interpreted. The progress bar counts (image, filter) pairs. Then your two
# compiled versions, timed with `timing.race` (given, `cnnlab/timing.py`): both on one core (one
# Numba thread, one BLAS thread: two thread pools on the same cores would fight and the numbers
# would mean little), each run once untimed (Numba compiles), then the median of 7 runs. If
# PyTorch is installed, its `conv2d` runs in the same race, on one thread too: the yardstick.

# %%
def conv2d_python(images, w, b, padding):
    """conv2d_forward with stride 1 as seven plain Python loops."""
    N, C, H, W = images.shape
    O, _, KH, KW = w.shape
    xpad = np.pad(images, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    OH, OW = H + 2 * padding - KH + 1, W + 2 * padding - KW + 1
    out = np.zeros((N, O, OH, OW), images.dtype)
    for n, o in tqdm(np.ndindex(N, O), total=N * O, desc="pure Python"):
        for y in range(OH):
            for x in range(OW):
                total = b[o]
                for c in range(C):
                    for i in range(KH):
                        for j in range(KW):
                            total += w[o, c, i, j] * xpad[n, c, y + i, x + j]
                out[n, o, y, x] = total
    return out


# %%
rng = np.random.default_rng(4)
x_race = rng.standard_normal((2, 8, 32, 32)).astype(np.float32)
w_race = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
b_race = rng.standard_normal(16).astype(np.float32)

start = time.perf_counter()
out_python = conv2d_python(x_race, w_race, b_race, padding=1)
t_python = time.perf_counter() - start
out_loops = conv.conv2d_forward(x_race, w_race, b_race, padding=1)  # compiles for float32
out_gemm = conv.conv2d_forward_gemm(x_race, w_race, b_race, padding=1)
contenders = {
    "Numba loops": lambda: conv.conv2d_forward(x_race, w_race, b_race, padding=1),
    "im2col + GEMM": lambda: conv.conv2d_forward_gemm(x_race, w_race, b_race, padding=1),
}
try:
    import torch

    torch.set_num_threads(1)
    xt, wt, bt = (torch.from_numpy(a) for a in (x_race, w_race, b_race))
    contenders["PyTorch"] = lambda: torch.nn.functional.conv2d(xt, wt, bt, padding=1)
except ImportError:
    pass
compiled = timing.race(contenders, threads=1)
t_loops, t_gemm = compiled["Numba loops"], compiled["im2col + GEMM"]
print("all three agree:", np.allclose(out_python, out_loops, atol=1e-4),
      np.allclose(out_gemm, out_loops, atol=1e-4))

# %%
race_flops = 2 * arithmetic.conv_flops(32, 8, 16, 3, padding=1)  # N = 2 images
timings = {"Python loops": t_python, **compiled}
for label, seconds in timings.items():
    print(f"{label:14} {1e3 * seconds:9.2f} ms  {race_flops / seconds / 1e9:7.3f} GFLOP/s  "
          f"speed-up over Python {t_python / seconds:6.0f}x")
if t_loops > 1.1 * t_gemm:
    verdict = (f"lowering to a matrix product made it {t_loops / t_gemm:.1f}x faster again, "
               f"despite copying every pixel 9 times")
elif t_gemm > 1.1 * t_loops:
    verdict = (f"here your loops beat im2col + GEMM by {t_gemm / t_loops:.1f}x: on this machine "
               f"the copies cost more than the matrix product saves")
else:
    verdict = "im2col + GEMM ran about as fast as your loops (within 10 %)"
print(f"Measured: compiling the loops made them {t_python / t_loops:.0f}x faster than Python; "
      f"{verdict}.")
if "PyTorch" in compiled:
    print(f"PyTorch's conv2d took {1e3 * compiled['PyTorch']:.2f} ms: your im2col + GEMM ran at "
          f"{compiled['PyTorch'] / t_gemm:.2f}x its speed.")
plt.figure(figsize=(6, 2.4))
palette = {"Python loops": "0.6", "Numba loops": TAP, "im2col + GEMM": CURRENT, "PyTorch": "0.3"}
bars = plt.barh(list(timings)[::-1], [1e3 * t for t in list(timings.values())[::-1]],
                color=[palette[label] for label in list(timings)[::-1]])
plt.bar_label(bars, [f"{t_python / t:.0f}×" for t in list(timings.values())[::-1]], padding=3)
plt.xscale("log")
plt.xlabel("milliseconds (log scale)")
plt.show()

# %% [markdown]
# The sentence above reads your measurement. Compiling the loops typically buys two to three
# orders of magnitude: the same arithmetic without the interpreter's overhead per operation. A
# matrix product usually buys more on top (on the machine this course was written on, 6–7×
# on one core), despite copying every pixel 9 times, because the BLAS routine keeps the
# processor's vector units busy and reuses each number from the cache many times; the copies are
# the price, and on a small layer or a slow memory they can eat the gain. Your numbers depend on
# the machine and on what else it is doing; the compilation of the first Numba call is not timed.

# %% [markdown]
# ## 15. Summary
#
# - One axis at a time: $O = \lfloor (W + 2P - d(F - 1) - 1)/S \rfloor + 1$. "Valid", "same" and
#   "full" are $P = 0$, $(F-1)/2$, $F - 1$; the floor drops leftover rows, so several input
#   sizes share one output size. A dilated kernel spans $d(F - 1) + 1$ pixels.
# - A transposed convolution stamps kernel copies $S$ apart: $o = (i - 1)S - 2p + d(k - 1) +
#   \text{output\_padding} + 1$. It is the transpose of the convolution matrix, not its inverse.
# - A filter spans the full input depth; the output depth is the number of filters. Batches are
#   $(N, C, H, W)$, filters $(O, C, K_H, K_W)$.
# - Weight sharing makes parameters independent of the image size ($O \cdot C K_H K_W + O$);
#   the cost, $O O_H O_W \cdot C K_H K_W$ MACs, is not. Activation memory lives in the early
#   layers, parameters in the first fully connected layer.
# - Receptive fields grow by $d(k - 1)\,j$ a layer; stacks of 3×3 kernels see as far as larger
#   kernels with fewer weights and more non-linearities.
# - A fully connected layer is a convolution whose kernel covers its whole input; on a larger
#   image it slides and gives a map of scores in one pass.
# - im2col lowers a convolution to one matrix product: fast thanks to BLAS, at the price of $K^2$
#   times the memory.
#
# ### Exercises
#
# 1. **Stride and output_padding.** For $k = 3, s = 2, p = 1$, list the input sizes 1–12 and their
#    output sizes. For which inputs does `transposed_conv_output_size(o, 3, 2, 1, output_padding)`
#    give the input back, and with which `output_padding`? What is the general rule?
# 2. **The cost of a network.** Walk ResNet-18's convolutions (look the architecture up; the
#    shortcut 1×1 convolutions count too) with `conv_params` and `conv_flops` at 224×224. Compare
#    its parameters and GFLOPs with VGG-16's. Where did the parameters go?
# 3. **im2col with less memory.** The column matrix of a whole batch can be huge. Write a version
#    of `conv2d_forward_gemm` that builds and multiplies the columns of a block of output rows at
#    a time, and measure its speed and memory against yours as a function of the block size.
