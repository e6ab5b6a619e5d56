# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 4 — 1×1, depthwise, depthwise-separable and grouped convolutions
#
# Chapter 2's convolution does two jobs at once: it filters in space (a $K \times K$ window) and it
# mixes the channels (every filter spans all $C$ input channels). That is why it is expensive: a
# layer costs $C \cdot O \cdot K^2$ weights and as many multiply-accumulates per pixel. The
# architectures of the last decade got their efficiency by taking the two jobs apart:
#
# - the **1×1 convolution** only mixes channels: Network in Network, GoogLeNet's Inception
#   modules and ResNet's bottlenecks use it to shrink the depth before an expensive layer;
# - the **depthwise convolution** only filters in space, each channel on its own;
# - the two in a row, the **depthwise-separable convolution** of Xception and MobileNet, do the
#   work of a standard layer at a fraction of its cost;
# - the **grouped convolution** is the family between the standard ($1$ group) and the depthwise
#   ($C$ groups) layer: AlexNet's two-GPU split, ResNeXt, ShuffleNet.
#
# **What you write.** Functions in three package files next to this notebook (in a clone of the
# course repository: `src/cnnlab/...`). Each says `# YOUR CODE HERE` where your code goes; the
# validation around it is given. Chapters 1–3 are used throughout (in the graded assignment as
# the reference versions).
#
# | file | function | what it computes | points |
# | --- | --- | --- | --- |
# | `depthwise.py` | `pointwise_conv2d_forward` | 1×1 convolution, one matrix product | 3 |
# | `depthwise.py` | `pointwise_conv2d_backward` | its three gradients | 2 |
# | `depthwise.py` | `_depthwise_forward_kernel` | depthwise convolution, channel multiplier $M$ | 4 |
# | `depthwise.py` | `_depthwise_backward_input_kernel`, `_depthwise_backward_weight_kernel` | its gradients | 4 |
# | `arithmetic.py` | `separable_conv_params` | parameters of a separable layer | 2 |
# | `arithmetic.py` | `separable_conv_macs` | its multiply-accumulates | 2 |
# | `conv.py` | `_conv2d_forward_grouped` | grouped convolution (`groups=g`) | 3 |
# | `conv.py` | `_conv2d_backward_input_grouped`, `_conv2d_backward_weight_grouped` | its gradients | 3 |
#
# **How the checks work** (as in chapters 1–3). Right after the section that derives a function
# comes its *check cell*: one ✔ or ✘ per public check; the grader later runs the same cell with
# more, hidden tests. A check grades your latest *saved* file. `autoreload` brings your edits into
# the notebook when you re-run a cell; if a result looks stale, restart the kernel and run from
# the top. Cells marked **Your turn** are small ungraded exercises.

# %%
# %load_ext autoreload
# %autoreload 2

import matplotlib.pyplot as plt
import numpy as np
from skimage import data, transform

from autograder import check, earlier_chapters
from cnnlab import arithmetic, conv, depthwise, gradcheck, timing
from cnnlab.plots import heatmap, show_grids

rng = np.random.default_rng(0)
earlier = earlier_chapters()  # chapters 1-3's pieces, working code (see below)


def connectivity(layer, channels):
    """Which input channels each output channel of `layer` sees: an (O, C) 0/1 matrix.

    Probes the layer with one image per input channel, all zeros except a 1 in that channel,
    and records which outputs change (the layer must be linear without bias, 1x1 or larger).
    """
    probes = np.eye(channels)[:, :, None, None] * np.ones((1, 1, 3, 3))  # (C, C, 3, 3)
    response = np.abs(layer(probes)).sum(axis=(2, 3))  # (C probes, O outputs)
    return (response.T > 1e-12).astype(float)


def show_connectivity(ax, matrix, title):
    """Draw an (O, C) connectivity matrix: a dark cell where output o sees input channel c."""
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1.3)
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))
    ax.tick_params(labelsize=7)
    ax.set_xlabel("input channel c", fontsize=8)
    ax.set_ylabel("output channel o", fontsize=8)
    ax.set_title(title, fontsize=9)


# %% [markdown]
# `heatmap` and `show_grids` (from `cnnlab.plots`) draw small arrays with every number in its
# cell. `connectivity(layer, C)` finds out, by experiment, which input channels each output
# channel of a layer depends on: it feeds the layer one probe per input channel (a 1 in that
# channel, 0 elsewhere) and records which outputs respond. Sections 1, 3 and 6 draw the answer.
#
# **Earlier chapters' pieces.** This chapter builds on chapter 1's `correlate2d` (and the Sobel
# kernels), chapter 2's `conv_params`, `conv_macs`, `conv2d_forward`, `im2col` and
# `conv2d_forward_gemm`. It calls them as `earlier.edges.correlate2d`, `earlier.conv.im2col`,
# ...: working code (the course's reference package; in an nbgrader assignment, the package copy
# beside this notebook, whose earlier chapters are given), so this chapter runs whether or not your
# earlier chapters are done, and a bug there cannot change the numbers here. Your chapter 4 code
# is `depthwise.…`, `arithmetic.separable_…` and `conv.…` with `groups`; the figures before the
# grouped-convolution exercise (Sections 3 and 6) draw grouped layers with `earlier.conv`. (In your
# package, a grouped convolution runs chapters 2–3's kernels once per group: your grouped
# functions need your chapters 2–3 kernels.) To run the whole notebook on your own earlier chapters instead, replace
# the line `earlier = earlier_chapters()` in the first cell by `import cnnlab as earlier`.

# %% [markdown]
# ## 1. The 1×1 convolution: mixing channels at every pixel
#
# Take chapter 2's layer with a $1 \times 1$ kernel. The window covers one pixel, so the sum over
# the kernel taps disappears and only the sum over the channels is left:
#
# $$y[n, o, i, j] = b_o + \sum_{c=0}^{C-1} w[o, c]\, x[n, c, i, j].$$
#
# Read it per pixel: the $C$ numbers $x[n, :, i, j]$ (the pixel's *channel vector*) go through
# one $O \times C$ matrix, $y[n, :, i, j] = W x[n, :, i, j] + b$. That is **a fully connected
# layer applied to every pixel**, with the same weights everywhere. Lin, Chen and Yan's *Network
# in Network* (2013) stacked such layers with ReLUs after an ordinary convolution ("mlpconv"): a
# small multilayer perceptron sliding over the image, a far richer function of each window than
# one linear filter.
#
# Two consequences:
#
# - **Depth is free to choose.** $O < C$ compresses the channels (a learned, pixel-wise
#   dimensionality reduction, like PCA on the channel vectors), $O > C$ expands them. The spatial
#   size never changes.
# - **It is one matrix product.** Lay the $H W$ pixels of an image side by side as the columns of
#   a $C \times HW$ matrix $X_n$ (a plain `reshape` of the NCHW array): then
#   $Y_n = W X_n + b$, an $(O \times C) \cdot (C \times HW)$ product, with no im2col at all.
#
# The smallest example: a 2×2 RGB image, and two outputs, the grey level $(r + g + b)/3$ and
# $r - b + 10$.

# %%
x_rgb = np.array([[[[1, 0], [2, 4]], [[0, 1], [2, 4]], [[3, 1], [2, 0]]]], dtype=float)
w_mix = np.array([[1 / 3, 1 / 3, 1 / 3], [1, 0, -1]])  # (O, C) = (2, 3)
b_mix = np.array([0.0, 10.0])
by_pixel = np.zeros((1, 2, 2, 2))
for i in range(2):
    for j in range(2):
        by_pixel[0, :, i, j] = w_mix @ x_rgb[0, :, i, j] + b_mix  # one FC layer per pixel
as_product = (w_mix @ x_rgb[0].reshape(3, 4) + b_mix[:, None]).reshape(1, 2, 2, 2)
as_conv = earlier.conv.conv2d_forward(x_rgb, w_mix[:, :, None, None], b_mix)  # chapter 2's layer
print(by_pixel[0], "\nall three agree:", np.allclose(by_pixel, as_product),
      np.allclose(by_pixel, as_conv))

# %% [markdown]
# The picture: the channel vector of pixel (1, 1), the matrix, and the output vector; then the
# same layer on a real photograph. Each output channel is a weighted sum of the red, green and
# blue planes, pixel by pixel: the grey image, and red minus blue (the orange suit comes out
# positive, red; the blue of the flag and of the mission patch negative, blue).

# %%
_, axes = plt.subplots(1, 3, figsize=(6.5, 2.3), gridspec_kw={"width_ratios": [1, 3, 1]})
heatmap(axes[0], x_rgb[0, :, 1, 1][:, None], "x[0, :, 1, 1]")
heatmap(axes[1], w_mix, "W (O × C)")
heatmap(axes[2], as_conv[0, :, 1, 1][:, None], "y[0, :, 1, 1]")
plt.tight_layout()
plt.show()

photo = transform.resize(data.astronaut(), (128, 128), anti_aliasing=True)  # (H, W, 3) in [0, 1]
photo_nchw = photo.transpose(2, 0, 1)[None]
mixed = earlier.conv.conv2d_forward(photo_nchw, w_mix[:, :, None, None])
_, axes = plt.subplots(1, 3, figsize=(8, 2.8))
axes[0].imshow(photo)
axes[0].set_title("input: 3 channels (RGB)", fontsize=9)
axes[1].imshow(mixed[0, 0], cmap="gray")
axes[1].set_title("output 0: (r + g + b) / 3", fontsize=9)
axes[2].imshow(mixed[0, 1], cmap="coolwarm", vmin=-0.6, vmax=0.6)
axes[2].set_title("output 1: r − b", fontsize=9)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ### Your task: the pointwise forward pass
#
# In `cnnlab/depthwise.py`, complete `pointwise_conv2d_forward(x, w, b=None)`:
#
# - `x` (N, C, H, W); `w` arrives from the given validation as an (O, C) matrix (the caller may
#   pass (O, C, 1, 1) or (O, C)); `b` is None or (O,), all of one float dtype.
# - Compute the layer as **one matrix product**: view each image as a (C, H·W) matrix
#   (`x.reshape(N, C, H * W)`), multiply by `w` (NumPy's `@` broadcasts the (O, C) matrix over
#   the N images), add the bias to every pixel if there is one, and reshape to (N, O, H, W).
# - No loops over pixels, and not chapter 2's `conv2d_forward`: this is the fast way.
#
# Worked example: the 2×2 RGB image above gives $\begin{pmatrix} 4/3 & 2/3 \\ 2 & 8/3
# \end{pmatrix}$ and $\begin{pmatrix} 8 & 9 \\ 10 & 14 \end{pmatrix}$.

# %% [markdown]
# **Reading a check cell.** While it runs it shows `checking pointwise_conv2d_forward (...): k of n
# tests done`, then a ✔ or ✘ line per check (a ✘ names the case, the first wrong value with got vs
# expected, and the known mistake your result matches if it is one); the number it ends with is the
# points the cell earned: with `hidden = False`, as here, only its public checks ran, and when your
# notebook is graded `hidden` is `True` and the same cell runs the hidden tests too. To debug a
# Numba kernel as plain Python (readable tracebacks, `print()` inside it), grade it in a terminal
# with `python -m autograder grade ch04 --no-jit`.

# %% nbgrader={"grade": true, "grade_id": "check_pointwise_conv2d_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Public checks of your pointwise_conv2d_forward; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch04_depthwise", "pointwise_conv2d_forward", hidden=hidden)

# %%
print("worked example:", np.allclose(depthwise.pointwise_conv2d_forward(x_rgb, w_mix, b_mix),
                                     by_pixel))
x_big = rng.standard_normal((4, 64, 28, 28))
w_big = rng.standard_normal((32, 64))
same = np.allclose(depthwise.pointwise_conv2d_forward(x_big, w_big),
                   earlier.conv.conv2d_forward(x_big, w_big[:, :, None, None]))
print("64 -> 32 channels on 4 images of 28x28, equal to conv2d_forward with a 1x1 kernel:", same)

# %% [markdown]
# ### The backward pass of a 1×1 convolution
#
# Per image, $Y_n = W X_n + b$ with $X_n$ of shape $(C, P)$, $P = HW$ pixels. It is chapter 3's
# fully connected layer, with the pixels in the role of the batch. The chain rule gives, with
# $\Delta_n = \partial L / \partial Y_n$ of shape $(O, P)$:
#
# $$\frac{\partial L}{\partial X_n} = W^\top \Delta_n, \qquad
# \frac{\partial L}{\partial W} = \sum_n \Delta_n X_n^\top, \qquad
# \frac{\partial L}{\partial b} = \sum_{n, p} \Delta_n[:, p].$$
#
# Every input channel fed every output, so its gradient collects from all of them ($W^\top$);
# the weights are shared by all pixels of all images, so their gradient sums over both.
#
# **Your task**, in `cnnlab/depthwise.py`: complete `pointwise_conv2d_backward(dy, x, w)`. The
# given code makes `w` an (O, C) matrix and reshapes your `dw` back to the caller's shape. Compute
# `dx` (N, C, H, W), `dw` (O, C) and `db` (O,) with matrix products over the (N, O, H·W) and
# (N, C, H·W) views of `dy` and `x` (`np.swapaxes` or `.transpose(0, 2, 1)` turns a stack of
# matrices into their transposes).

# %% nbgrader={"grade": true, "grade_id": "check_pointwise_conv2d_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Public checks of your pointwise_conv2d_backward; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch04_depthwise", "pointwise_conv2d_backward", hidden=hidden)

# %%
x_small = rng.standard_normal((2, 3, 4, 5))
w_small, b_small = rng.standard_normal((4, 3, 1, 1)), rng.standard_normal(4)
dy_small = rng.standard_normal((2, 4, 4, 5))
dx_p, dw_p, db_p = depthwise.pointwise_conv2d_backward(dy_small, x_small, w_small)
gradcheck.gradcheck(lambda x, w, b: depthwise.pointwise_conv2d_forward(x, w, b),
                    {"x": x_small, "w": w_small, "b": b_small},
                    {"x": dx_p, "w": dw_p, "b": db_p}, dy_small)

# %% [markdown]
# ## 2. Depth reduction: Inception and the bottleneck
#
# **GoogLeNet's Inception module** (Szegedy et al., 2014) looks at its input at several scales at
# once: a 1×1, a 3×3 and a 5×5 convolution and a 3×3 max pooling side by side, their outputs
# stacked along the channels. Take module (3a): a 28×28×192 input, 64 filters of 1×1, 128 of 3×3
# and 32 of 5×5 (all with "same" padding), and the pooling (stride 1, padding 1). The **naive**
# module stacks $64 + 128 + 32 + 192 = 416$ maps: pooling passes all 192 input channels through,
# so the depth can only grow from module to module. And the 3×3 and 5×5 layers on 192 channels
# are expensive.
#
# GoogLeNet's fix is the 1×1 convolution: reduce the depth to **96** channels before the 3×3
# layer and to **16** before the 5×5 one, and *project* the pooled maps to 32 channels. Then the
# module stacks $64 + 128 + 32 + 32 = 256$ maps. Chapter 2's counters (`conv_params`, `conv_macs`)
# give the cost. Weights without biases (they are a rounding error here), MACs per image:

# %%
def cost(layers, size=28):
    """Total (weights, MACs) of layers given as (in_channels, out_channels, kernel), 'same'."""
    weights = sum(earlier.arithmetic.conv_params(c, o, k, bias=False) for c, o, k in layers)
    macs = sum(earlier.arithmetic.conv_macs(size, c, o, k, padding=k // 2) for c, o, k in layers)
    return weights, macs


naive = {"1x1": [(192, 64, 1)], "3x3": [(192, 128, 3)], "5x5": [(192, 32, 5)], "pool": []}
reduced = {"1x1": [(192, 64, 1)], "3x3": [(192, 96, 1), (96, 128, 3)],
           "5x5": [(192, 16, 1), (16, 32, 5)], "pool": [(192, 32, 1)]}
depth = {"naive": 64 + 128 + 32 + 192, "with 1x1 reductions": 64 + 128 + 32 + 32}
print(f"{'branch':8} {'naive weights':>14} {'naive MACs':>14} {'reduced weights':>16} "
      f"{'reduced MACs':>14}")
for branch in naive:
    (wn, mn), (wr, mr) = cost(naive[branch]), cost(reduced[branch])
    print(f"{branch:8} {wn:>14,} {mn:>14,} {wr:>16,} {mr:>14,}")
naive_total = cost([layer for layers in naive.values() for layer in layers])
reduced_total = cost([layer for layers in reduced.values() for layer in layers])
print(f"{'total':8} {naive_total[0]:>14,} {naive_total[1]:>14,} {reduced_total[0]:>16,} "
      f"{reduced_total[1]:>14,}")
print("output depth:", depth)

# %% [markdown]
# The reductions cut the weights from 387,072 to 163,328 and the work from 303 to 128 million
# MACs per image (the paper's table lists 159K parameters and 128M operations for this module),
# and the output is 256 channels deep instead of 416, which keeps the *next* module cheap too.
# Most of the savings are in the 5×5 branch: 153,600 weights shrink to 3,072 + 12,800.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 2.8))
branches = list(naive)
for ax, index, label in [(axes[0], 0, "weights"), (axes[1], 1, "MACs per image (millions)")]:
    scale = 1 if index == 0 else 1e6
    naive_values = [cost(naive[b])[index] / scale for b in branches]
    reduced_values = [cost(reduced[b])[index] / scale for b in branches]
    positions = np.arange(len(branches))
    ax.bar(positions - 0.2, naive_values, 0.4, label="naive", color="0.6")
    ax.bar(positions + 0.2, reduced_values, 0.4, label="with 1×1 reductions", color="tab:blue")
    ax.set_xticks(positions, branches)
    ax.set_title(f"Inception (3a): {label}", fontsize=9)
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# **ResNet's bottleneck** (He et al., 2015) applies the same idea to a residual block on 256
# channels. One 3×3 layer from 256 to 256 channels has $256 \cdot 256 \cdot 9 = 589{,}824$
# weights. The bottleneck squeezes to 64 channels with a 1×1 layer, does the 3×3 filtering there,
# and expands back with another 1×1 layer:
# $256 \cdot 64 + 64 \cdot 64 \cdot 9 + 64 \cdot 256 = 69{,}632$ weights, 8.5 times fewer, with two
# more non-linearities on the way.
#
# **Your turn.** Compute both with `arithmetic.conv_params` (no biases) and store them in
# `plain_3x3` and `bottleneck`.

# %% nbgrader={"grade": false, "grade_id": "bottleneck", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
plain_3x3 = earlier.arithmetic.conv_params(256, 256, 3, bias=False)
bottleneck = (earlier.arithmetic.conv_params(256, 64, 1, bias=False)
              + earlier.arithmetic.conv_params(64, 64, 3, bias=False)
              + earlier.arithmetic.conv_params(64, 256, 1, bias=False))
### END SOLUTION
print(f"one 3x3 layer: {plain_3x3:,} weights; bottleneck 1x1 -> 3x3 -> 1x1: {bottleneck:,}; "
      f"{plain_3x3 / bottleneck:.1f} times fewer")
assert (plain_3x3, bottleneck) == (589_824, 69_632)

# %% [markdown]
# ## 3. The depthwise convolution: filtering each channel on its own
#
# The opposite extreme keeps the spatial filtering and drops the channel mixing: every input
# channel gets its own filters and sees no other channel. With a **channel multiplier** $M$,
# channel $c$ gets $M$ filters and produces $M$ output channels, numbered $cM, \dots, cM + M - 1$
# (PyTorch's order: the outputs are grouped by input channel):
#
# $$y[n, cM + m] = b_{cM + m} + w[cM + m, 0] \star x[n, c],$$
#
# with $\star$ chapter 2's 2-D correlation (stride, padding, dilation as before). The filters have
# shape $(C M, 1, K_H, K_W)$: in PyTorch this is `conv2d(x, w, groups=C)`, the grouped
# convolution of Section 6 with one channel per group. A layer costs $C M K_H K_W$ weights
# instead of $C O K_H K_W$.
#
# The worked example: two channels, $M = 2$, 3×3 filters, no padding. Channel 0 (the numbers
# 0–15) gets a box filter and Sobel's $x$-derivative; channel 1 (a diagonal of 2s) gets the
# identity and "3 times the top-right pixel"; the biases are $0, 1, 0, -1$.

# %%
x_dw = np.stack([np.arange(16.0).reshape(4, 4), np.eye(4)[::-1] * 2])[None]  # (1, 2, 4, 4)
w_dw = np.array([np.ones((3, 3)), earlier.edges.SOBEL_X,
                 [[0, 0, 0], [0, 1, 0], [0, 0, 0]], [[0, 0, 3], [0, 0, 0], [0, 0, 0]]],
                dtype=float)[:, None]  # (C * M, 1, 3, 3) = (4, 1, 3, 3)
b_dw = np.array([0.0, 1.0, 0.0, -1.0])
by_hand = np.stack([earlier.edges.correlate2d(x_dw[0, k // 2], w_dw[k, 0]) + b_dw[k]
                    for k in range(4)])[None]  # output k = c * M + m reads channel k // M
as_groups = earlier.conv.conv2d_forward(x_dw, w_dw, b_dw, groups=2)  # the general grouped path
print(by_hand[0])

# %%
fig, axes = plt.subplots(2, 5, figsize=(10, 4.2))
for c in range(2):
    heatmap(axes[c, 0], x_dw[0, c], f"input channel {c}", "gray", fontsize=7)
    for m in range(2):
        k = 2 * c + m
        heatmap(axes[c, 1 + m], w_dw[k, 0], f"filter {k} = {c}·M + {m}", fontsize=8)
        heatmap(axes[c, 3 + m], by_hand[0, k], f"output {k} (b = {b_dw[k]:g})", fontsize=8)
plt.suptitle("depthwise, M = 2: outputs 0, 1 read channel 0 only; outputs 2, 3 channel 1",
             fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Your task: the depthwise forward kernel
#
# In `cnnlab/depthwise.py`, write the Numba kernel
#
# ```python
# _depthwise_forward_kernel(xpad, w, b, sh, sw, dil_h, dil_w, out)
# ```
#
# - `xpad` (N, C, Hp, Wp) is the zero-padded input, `w` (C·M, 1, KH, KW), `b` (C·M,) (zeros when
#   the layer has no bias), `sh, sw, dil_h, dil_w` the stride and dilation.
# - Fill `out` (N, C·M, OH, OW) with
#   `out[n, k, y, x] = b[k] + sum over i, j of w[k, 0, i, j] * xpad[n, k // M, y*sh + i*dil_h,
#   x*sw + j*dil_w]`, where `M = K // C`.
# - Loop over the images and the *input* channels `c`, then over `m` with `k = c * M + m`: each
#   output reads exactly one input channel, so there is no sum over channels. Chapter 2's loop
#   order (taps outside, output rows and columns inside) reads memory in order.
# - A dedicated kernel, not the grouped path of Section 6 (`conv2d_forward(..., groups=C)`), and
#   no `torch` or `scipy.signal`.
#
# The given wrapper is `depthwise.depthwise_conv2d_forward(x, w, b=None, stride=1, padding=0,
# dilation=1)`. Worked example above:
# $\begin{pmatrix} 45 & 54 \\ 81 & 90 \end{pmatrix}$,
# $\begin{pmatrix} -7 & -7 \\ -7 & -7 \end{pmatrix}$,
# $\begin{pmatrix} 0 & 2 \\ 2 & 0 \end{pmatrix}$,
# $\begin{pmatrix} -1 & 5 \\ 5 & -1 \end{pmatrix}$.
# Speed (optional): the reference also has a fast path for stride 1 that runs every tap as one
# long loop over the flattened padded plane; a plain loop nest earns full points.

# %% nbgrader={"grade": true, "grade_id": "check_depthwise_conv2d_forward", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Public checks of your depthwise_conv2d_forward; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch04_depthwise", "depthwise_conv2d_forward", hidden=hidden)

# %%
out_dw = depthwise.depthwise_conv2d_forward(x_dw, w_dw, b_dw)
print("worked example:", np.allclose(out_dw, by_hand),
      "| equals conv2d_forward(..., groups=C):", np.allclose(out_dw, as_groups))
connections = connectivity(lambda p: depthwise.depthwise_conv2d_forward(p, np.ones((8, 1, 1, 1))),
                           4)
_, ax = plt.subplots(figsize=(2.6, 3.4))
show_connectivity(ax, connections, "depthwise, C = 4, M = 2")
plt.show()

# %% [markdown]
# The connectivity picture (measured with probes, see the top of the notebook) shows the order:
# outputs 0 and 1 see channel 0, outputs 2 and 3 channel 1, and so on. A block diagonal, one
# column per input channel.
#
# ### The backward pass of a depthwise convolution
#
# Chapter 3's formulas with the sum over channels taken out. Output $k = cM + m$ depends on
# channel $c$ only, so
#
# $$\frac{\partial L}{\partial x[n, c]} = \sum_{m=0}^{M-1}
# \operatorname{convolve}_\text{full}\bigl(\delta[n, cM + m],\, w[cM + m, 0]\bigr), \qquad
# \frac{\partial L}{\partial w[cM + m, 0]} = \sum_n x[n, c] \star \delta[n, cM + m],$$
#
# and $\partial L / \partial b_k = \sum_{n, i, j} \delta[n, k, i, j]$. With a stride, padding and
# dilation everything is as in chapter 3 (the wrapper pads and crops). As loops: the forward loop
# nest, with the read turned into an accumulating write (`+=`), exactly as in chapter 3.
#
# **Your task**, in `cnnlab/depthwise.py`: the two Numba kernels
#
# - `_depthwise_backward_input_kernel(dy, w, sh, sw, dil_h, dil_w, dxpad)`: `dxpad` (N, C, Hp,
#   Wp) arrives filled with zeros; for every `n, c, m, i, j, y, x` add
#   `w[k, 0, i, j] * dy[n, k, y, x]` into `dxpad[n, c, y*sh + i*dil_h, x*sw + j*dil_w]`.
# - `_depthwise_backward_weight_kernel(dy, xpad, sh, sw, dil_h, dil_w, dw_out)`: `dw_out`
#   (C·M, 1, KH, KW) arrives filled with zeros; accumulate
#   `dy[n, k, y, x] * xpad[n, c, y*sh + i*dil_h, x*sw + j*dil_w]` over `n, y, x` into
#   `dw_out[k, 0, i, j]`. Filter $k$ met channel $c = k // M$ and no other.
#
# The given wrapper `depthwise.depthwise_conv2d_backward(dy, x, w, stride, padding, dilation)`
# returns `(dx, dw, db)`. Worked example: with `dy` all ones, `dw` of filters 0 and 1 is the sum
# of channel 0's four 3×3 windows, $\begin{pmatrix} 10 & 14 & 18 \\ 26 & 30 & 34 \\ 42 & 46 & 50
# \end{pmatrix}$.

# %% nbgrader={"grade": true, "grade_id": "check_depthwise_conv2d_backward", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Public checks of your depthwise_conv2d_backward; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch04_depthwise", "depthwise_conv2d_backward", hidden=hidden)

# %%
dx_dw, dw_dw, db_dw = depthwise.depthwise_conv2d_backward(np.ones((1, 4, 2, 2)), x_dw, w_dw)
show_grids([dw_dw[0, 0], dw_dw[2, 0], dx_dw[0, 0], dx_dw[0, 1]],
           ["∂L/∂w, filter 0", "∂L/∂w, filter 2", "∂L/∂x, channel 0", "∂L/∂x, channel 1"],
           figsize=(10, 2.8), fontsize=8)
plt.show()
config = {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2)}
x_c, w_c, b_c = rng.standard_normal((2, 3, 7, 8)), rng.standard_normal((6, 1, 3, 3)), np.ones(6)
dy_c = rng.standard_normal(depthwise.depthwise_conv2d_forward(x_c, w_c, b_c, **config).shape)
dx_c, dw_c, db_c = depthwise.depthwise_conv2d_backward(dy_c, x_c, w_c, **config)
gradcheck.gradcheck(lambda x, w, b: depthwise.depthwise_conv2d_forward(x, w, b, **config),
                    {"x": x_c, "w": w_c, "b": b_c}, {"x": dx_c, "w": dw_c, "b": db_c}, dy_c)

# %% [markdown]
# ## 4. Depthwise-separable convolutions: Xception and MobileNet
#
# Put the two halves together: a depthwise layer filters every channel in space, then a 1×1
# layer mixes the filtered channels. That is the **depthwise-separable convolution** (Sifre's
# thesis, 2014; Chollet's Xception and Howard et al.'s MobileNet, 2017). It replaces one standard
# $K \times K$ layer from $C$ to $O$ channels:
#
# | layer | weights | MACs per image ($O_H \times O_W$ outputs) |
# | --- | --- | --- |
# | standard | $C \cdot O \cdot K^2$ | $O_H O_W \cdot C \cdot O \cdot K^2$ |
# | depthwise, then pointwise | $C K^2 + C O$ | $O_H O_W \cdot (C K^2 + C O)$ |
#
# The ratio of the two is the same for weights and MACs:
#
# $$\frac{C K^2 + C O}{C O K^2} = \frac{1}{O} + \frac{1}{K^2}.$$
#
# With 3×3 kernels and a few hundred outputs, that is about $1/9$: eight to nine times cheaper.
# The example of the course: 3 input channels to 256 outputs with 3×3 kernels is
# $3 \cdot 3 \cdot 3 \cdot 256 = 6{,}912$ weights as a standard convolution, and
# $3 \cdot 3 \cdot 3 + 3 \cdot 1 \cdot 1 \cdot 256 = 795$ as a depthwise-separable one. (With a
# channel multiplier $M$, the pointwise layer reads $C M$ channels: $C M K^2 + C M O$.) The price
# is expressiveness: a separable layer can only represent the filters whose $O \times C$ slices are
# all combinations of the $C$ depthwise filters.
#
# **Your task**, in `cnnlab/arithmetic.py`, with chapter 2's `conv_params` and `conv_macs`
# (their `groups` argument covers the depthwise layer):
#
# - `separable_conv_params(in_channels, out_channels, kernel_size, depth_multiplier=1,
#   bias=True)`: the depthwise layer's parameters (C → C·M channels, groups = C) plus the
#   pointwise layer's (C·M → O, 1×1), biases included when `bias`.
# - `separable_conv_macs(input_size, in_channels, out_channels, kernel_size, stride=1,
#   padding=0, dilation=1, depth_multiplier=1)`: the depthwise layer's MACs at `input_size`, plus
#   the pointwise layer's at the depthwise layer's *output* size.

# %% nbgrader={"grade": true, "grade_id": "check_separable_conv_params", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Public checks of your separable_conv_params; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch04_depthwise", "separable_conv_params", hidden=hidden)

# %% nbgrader={"grade": true, "grade_id": "check_separable_conv_macs", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Public checks of your separable_conv_macs; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch04_depthwise", "separable_conv_macs", hidden=hidden)

# %% [markdown]
# MobileNet's body is a stack of such layers. For a few of its layers (224×224 input; the
# depthwise layer carries the stride), the counts and the ratio against a standard 3×3 layer,
# next to $1/O + 1/K^2$:

# %%
print(f"{'layer':>22} {'standard MACs':>15} {'separable MACs':>15} {'ratio':>7} {'1/O + 1/9':>10}")
print(f"{'3 -> 256, 3x3 weights':>22} {earlier.arithmetic.conv_params(3, 256, 3, bias=False):>15,} "
      f"{arithmetic.separable_conv_params(3, 256, 3, bias=False):>15,}")
for size, c, o, s in [(112, 32, 64, 1), (112, 64, 128, 2), (56, 128, 128, 1), (28, 256, 256, 1),
                      (14, 512, 512, 1), (14, 512, 1024, 2)]:
    standard = earlier.arithmetic.conv_macs(size, c, o, 3, stride=s, padding=1)
    separable = arithmetic.separable_conv_macs(size, c, o, 3, stride=s, padding=1)
    print(f"{f'{size}x{size}, {c} -> {o}, s{s}':>22} {standard:>15,} {separable:>15,} "
          f"{separable / standard:>7.4f} {1 / o + 1 / 9:>10.4f}")

# %% [markdown]
# ### Measured: standard against separable
#
# Fewer MACs is a promise, not a measurement. Time both versions of MobileNet's 28×28 layer with
# 256 channels on a batch of 4 images in float32, with the code you wrote: chapter 2's im2col +
# GEMM convolution for the standard layer (and its two steps on their own), your depthwise kernel
# and your 1×1 layer for the separable one (`depthwise.separable_conv2d_forward`, given, is the
# two in a row). `timing.race` (given, `cnnlab/timing.py`, as in chapters 2 and 3) gives every
# contender one Numba thread (`parallel_for`) and one BLAS thread, so that the comparison is fair
# and stable, runs each once untimed, then takes the median of 7 runs. Your numbers depend on the
# machine and on what else runs on it.

# %%
x_mb = rng.standard_normal((4, 256, 28, 28)).astype(np.float32)
w_std = (0.05 * rng.standard_normal((256, 256, 3, 3))).astype(np.float32)
w_depth = rng.standard_normal((256, 1, 3, 3)).astype(np.float32)
w_point = (0.05 * rng.standard_normal((256, 256))).astype(np.float32)
hidden_mb = depthwise.depthwise_conv2d_forward(x_mb, w_depth, padding=1)
cols_mb = earlier.conv.im2col(x_mb, 3, padding=1)  # (4, 2304, 784): every input value 9 times

standard_macs = 4 * earlier.arithmetic.conv_macs(28, 256, 256, 3, padding=1)
depthwise_macs = 4 * earlier.arithmetic.conv_macs(28, 256, 256, 3, padding=1, groups=256)
pointwise_macs = 4 * earlier.arithmetic.conv_macs(28, 256, 256, 1)
runs = {  # name: (function, MACs)
    "standard: im2col": (lambda: earlier.conv.im2col(x_mb, 3, padding=1), 0),
    "standard: GEMM": (lambda: w_std.reshape(256, -1) @ cols_mb, standard_macs),
    "standard: both": (lambda: earlier.conv.conv2d_forward_gemm(x_mb, w_std, padding=1), standard_macs),
    "separable: depthwise": (
        lambda: depthwise.depthwise_conv2d_forward(x_mb, w_depth, padding=1), depthwise_macs),
    "separable: pointwise": (
        lambda: depthwise.pointwise_conv2d_forward(hidden_mb, w_point), pointwise_macs),
    "separable: both": (
        lambda: depthwise.separable_conv2d_forward(x_mb, w_depth, w_point, padding=1),
        depthwise_macs + pointwise_macs),
}
seconds = timing.race({name: function for name, (function, _) in runs.items()}, threads=1)
for name, (_, count) in runs.items():
    rate = f"{count / seconds[name] / 1e9:6.1f} GMAC/s" if count else ""
    print(f"{name:22} {1e3 * seconds[name]:8.2f} ms  {count / 1e6:8.1f} M MACs  {rate}")

mac_ratio = standard_macs / (depthwise_macs + pointwise_macs)
rate = {name: count / seconds[name] for name, (_, count) in runs.items()}  # MACs per second
print(f"\nThe separable layer needs {mac_ratio:.1f}x fewer MACs. Measured, it is "
      f"{seconds['standard: both'] / seconds['separable: both']:.1f}x faster than your im2col + "
      f"GEMM layer, and {seconds['standard: GEMM'] / seconds['separable: both']:.1f}x faster "
      f"than its GEMM alone: the MAC ratio times the ratio of their rates, "
      f"{rate['separable: both'] / 1e9:.1f} / {rate['standard: GEMM'] / 1e9:.1f} GMAC/s. "
      f"Its depthwise part does "
      f"{100 * depthwise_macs / (depthwise_macs + pointwise_macs):.0f} % of its MACs and takes "
      f"{100 * seconds['separable: depthwise'] / seconds['separable: both']:.0f} % of its time; "
      f"im2col takes {100 * seconds['standard: im2col'] / seconds['standard: both']:.0f} % of "
      f"the standard layer's time and does no arithmetic at all.")

# %%
_, axes = plt.subplots(1, 2, figsize=(10, 2.8))
names = list(runs)[::-1]
colors = ["0.5", "tab:orange", "tab:green", "tab:blue", "tab:purple", "tab:red"][::-1]
axes[0].barh(names, [1e3 * seconds[n] for n in names], color=colors)
axes[0].set_xscale("log")
axes[0].set_xlabel("milliseconds, log scale (4 images, float32)")
axes[1].barh(names, [runs[n][1] / seconds[n] / 1e9 for n in names], color=colors)
axes[1].set_xlabel("GMAC/s (arithmetic done per second)")
axes[1].set_yticks([])
plt.tight_layout()
plt.show()

# %% [markdown]
# Why does the speed-up not follow the MAC count? Time is MACs divided by the rate at which
# they are done, so the measured speed-up is the MAC ratio times the ratio of the two layers'
# rates (the GMAC/s column). A MAC count measures the arithmetic, and the arithmetic is only part
# of the cost: the rest is **memory traffic**, and it sets the rates:
#
# - A GEMM reuses every number it loads many times: each weight of the standard layer meets all
#   $4 \cdot 28 \cdot 28$ output pixels, each input value $O = 256$ filters, so BLAS keeps blocks
#   of both in the cache and the vector units busy. Its *arithmetic intensity* (MACs per byte
#   moved) is high, and it runs at a large fraction of the processor's peak rate.
# - A depthwise layer does only $K^2 = 9$ MACs for each input value it reads and each output it
#   writes (times $M$). It moves about as many bytes as a copy of its input and output would, so
#   its speed is set by memory, not by arithmetic: it runs at a small fraction of the GEMM's
#   rate, and takes a much larger share of the separable layer's time than of its MACs.
# - The separable layer also writes its intermediate tensor (the depthwise output) to memory and
#   reads it back for the 1×1 layer, whose GEMM has a short inner dimension ($C = 256$ instead of
#   $C K^2 = 2304$), so it reuses each loaded number less than the standard layer's GEMM.
#
# So against a standard layer that runs at the GEMM's rate (the GEMM row; what a good library's
# convolution approaches), the separable layer is faster by less than the MAC ratio, as soon as
# its mix of a slow depthwise part and a smaller GEMM runs at a lower rate (the usual case; on a
# busy machine single timings can say otherwise: run the cell again). Your
# im2col + GEMM layer pays for memory traffic too: im2col copies every input value 9 times and
# does no arithmetic, which is why the standard layer as a whole runs at a lower rate than its
# GEMM, and why the speed-up against it can come out larger. MobileNet's paper counts MACs; what
# a layer costs on a given machine has to be measured. Fusing the depthwise and the pointwise
# layer into one pass, so that the intermediate tensor stays in the cache, is a standard
# optimisation of inference libraries (exercise 2).

# %% [markdown]
# ## 5. Not to be confused: spatially separable kernels
#
# Chapter 1 met another kind of separability. Sobel's kernel is an outer product,
#
# $$\begin{pmatrix} 1 & 0 & -1 \\ 2 & 0 & -2 \\ 1 & 0 & -1 \end{pmatrix}
# = \begin{pmatrix} 1 \\ 2 \\ 1 \end{pmatrix} \begin{pmatrix} 1 & 0 & -1 \end{pmatrix},$$
#
# so correlating with it equals correlating with the column $[1, 2, 1]^\top$ and then with the
# row $[1, 0, -1]$: $K_H + K_W$ multiplications per pixel instead of $K_H K_W$. That is a
# **spatially separable kernel**: it splits the *rows from the columns* of one 2-D filter, and
# only works for kernels of rank 1 (few learned kernels are). A **depthwise-separable layer**
# splits the *space from the channels* of a whole layer, and works for any depthwise filters: it
# is a different, less expressive layer, not a factorisation of the standard one.

# %%
camera = data.camera()[::4, ::4] / 255.0
two_passes = earlier.edges.correlate2d_separable(camera, earlier.edges.SOBEL_SMOOTH, earlier.edges.SOBEL_DIFF)
print("Sobel as two 1-D passes equals the 3x3 correlation:",
      np.allclose(two_passes, earlier.edges.correlate2d(camera, earlier.edges.SOBEL_X)))
_, axes = plt.subplots(1, 4, figsize=(9, 2.6), gridspec_kw={"width_ratios": [1, 3, 3, 4]})
heatmap(axes[0], earlier.edges.SOBEL_SMOOTH[:, None], "column")
heatmap(axes[1], earlier.edges.SOBEL_DIFF[None, :], "row")
heatmap(axes[2], np.outer(earlier.edges.SOBEL_SMOOTH, earlier.edges.SOBEL_DIFF), "column · row = SOBEL_X")
axes[3].imshow(two_passes, cmap="gray")
axes[3].set_title("two 1-D passes", fontsize=10)
axes[3].axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Grouped convolutions: from 1 group to $C$
#
# The general case between the standard and the depthwise layer: cut the $C$ input channels and
# the $O$ output channels into $g$ equal groups of consecutive channels, and let output group
# $k$ see input group $k$ only. Each filter spans $C/g$ channels, so the filters have shape
# $(O, C/g, K_H, K_W)$, and
#
# $$y[n, o] = b_o + \sum_{c=0}^{C/g - 1} x\bigl[n,\ k \tfrac{C}{g} + c\bigr] \star w[o, c],
# \qquad k = \left\lfloor o \big/ \tfrac{O}{g} \right\rfloor.$$
#
# It is $g$ independent convolutions side by side: **parameters and MACs are divided by $g$**.
# $g = 1$ is the standard layer, $g = C$ (with $O = C M$) the depthwise one.
#
# - **AlexNet** (2012) split its layers 2, 4 and 5 over two GPUs with 3 GB each: each GPU
#   convolved its own half of the channels, a grouped convolution with $g = 2$ (born of memory
#   limits, and the two groups learned visibly different filters: colour blobs on one GPU, edges
#   on the other).
# - **ResNeXt** (Xie et al., 2017) made it a design choice: a bottleneck whose 3×3 layer has 32
#   groups ("cardinality 32") beats a plain one of the same cost.
#
# Which input channels does each output see? Measured with the probes, for $C = O = 8$:

# %%
fig, axes = plt.subplots(1, 4, figsize=(10, 2.9))
for ax, g in zip(axes, [1, 2, 4, 8], strict=True):
    weights = np.ones((8, 8 // g, 1, 1))
    seen = connectivity(lambda p, w=weights, g=g: earlier.conv.conv2d_forward(p, w, groups=g), 8)
    show_connectivity(ax, seen, f"groups = {g}: {earlier.arithmetic.conv_params(8, 8, 3, g, False)} "
                                f"weights (3×3)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Your task: the grouped forward pass
#
# In `cnnlab/conv.py`, complete `_conv2d_forward_grouped(xpad, w, b, groups, stride, dilation,
# out)`, which `conv.conv2d_forward` calls when `groups > 1`:
#
# - `xpad` (N, C, Hp, Wp) is padded, `w` (O, C/g, KH, KW), `b` (O,), `stride` and `dilation`
#   (h, w) pairs; `cg = C // groups` and `og = O // groups` are given.
# - For each group `g`: run chapter 2's kernel `_conv2d_forward_loops` on the group's input
#   channels `g*cg ... (g+1)*cg - 1`, the group's filters and biases (`w[g*og:(g+1)*og]`), into a
#   zero-filled block of `og` output channels, and copy the block into `out[:, g*og:(g+1)*og]`.
# - Numba kernels want contiguous arrays: a slice of the channel axis `xpad[:, a:b]` is not one,
#   `np.ascontiguousarray(...)` makes a copy that is. (`w[a:b]` and `b[a:b]` already are.)
#
# Worked example: 4 channels filled with 1, 2, 10 and 20 and two filters of ones, 2×2 over 2
# channels, `groups=2`: output 0 is $4 \cdot (1 + 2) = 12$ everywhere, output 1 is 120.

# %% nbgrader={"grade": true, "grade_id": "check_grouped_conv2d_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Public checks of your grouped_conv2d_forward; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch04_depthwise", "grouped_conv2d_forward", hidden=hidden)

# %% [markdown]
# ### The grouped backward pass
#
# The groups do not interact, so neither do their gradients: input group $k$ fed output group $k$
# only, and its gradient is chapter 3's input gradient of that group alone; the filters of group
# $k$ only met input group $k$.
#
# **Your task**, in `cnnlab/conv.py`: `_conv2d_backward_input_grouped(dy, w, groups, stride,
# dilation, dxpad)` and `_conv2d_backward_weight_grouped(dy, xpad, groups, stride, dilation,
# dw_out)`, called by `conv.conv2d_backward_input` / `conv2d_backward_weight` (and
# `conv2d_backward`) when `groups > 1`. Run chapter 3's kernels `_conv2d_backward_input` and
# `_conv2d_backward_weight` group by group, on contiguous copies of the group's channels of `dy`
# (and of `xpad`), and add each group's result into its block of `dxpad` or `dw_out`.

# %% nbgrader={"grade": true, "grade_id": "check_grouped_conv2d_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Public checks of your grouped_conv2d_backward; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch04_depthwise", "grouped_conv2d_backward", hidden=hidden)

# %%
x_g, w_g = rng.standard_normal((2, 6, 6, 7)), rng.standard_normal((9, 2, 3, 3))
b_g = rng.standard_normal(9)
config_g = {"stride": (1, 2), "padding": 1, "groups": 3}
dy_g = rng.standard_normal(conv.conv2d_forward(x_g, w_g, b_g, **config_g).shape)
dx_g, dw_g, db_g = conv.conv2d_backward(dy_g, x_g, w_g, **config_g)
print(gradcheck.gradcheck(lambda x, w, b: conv.conv2d_forward(x, w, b, **config_g),
                          {"x": x_g, "w": w_g, "b": b_g}, {"x": dx_g, "w": dw_g, "b": db_g},
                          dy_g))
print("the depthwise kernels and groups=C agree:",
      np.allclose(depthwise.depthwise_conv2d_backward(dy_c, x_c, w_c, **config)[1],
                  conv.conv2d_backward(dy_c, x_c, w_c, groups=3, **config)[1]))

# %% [markdown]
# Parameters and MACs fall as $1/g$, from the standard layer to the depthwise one. A 3×3 layer
# from 64 to 64 channels on a 56×56 map:

# %%
group_counts = [1, 2, 4, 8, 16, 32, 64]
weights_g = [earlier.arithmetic.conv_params(64, 64, 3, groups=g, bias=False) for g in group_counts]
macs_g = [earlier.arithmetic.conv_macs(56, 64, 64, 3, padding=1, groups=g) for g in group_counts]
for g, wg, mg in zip(group_counts, weights_g, macs_g, strict=True):
    print(f"groups={g:3}: {wg:7,} weights, {mg / 1e6:7.1f} M MACs")
plt.figure(figsize=(5, 2.6))
plt.loglog(group_counts, weights_g, "o-", base=2, label="weights")
plt.loglog(group_counts, [m / 3136 for m in macs_g], "x--", base=2, label="MACs / (56·56)")
plt.xlabel("groups (1 = standard, 64 = depthwise)")
plt.legend(fontsize=8)
plt.show()

# %% [markdown]
# ### Groups that never talk, and the channel shuffle
#
# Stack two grouped layers and the groups stay apart: output group $k$ of the second layer sees
# only group $k$ of the first layer's outputs, which saw only group $k$ of the input. Information
# never crosses between groups, however deep the stack. ShuffleNet (Zhang et al., 2017) fixes
# this for free with a **channel shuffle** between the layers: view the $C$ channels as a
# $(g, C/g)$ grid, transpose it to $(C/g, g)$ and flatten, so that every group of the next layer
# receives one channel from each group of the previous one.

# %%
def channel_shuffle(x, groups):
    """ShuffleNet's channel shuffle of x (N, C, H, W): channel order (g, C/g) -> (C/g, g)."""
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(0, 2, 1, 3, 4).reshape(n, c, h, w)


def two_grouped_layers(p, shuffle):
    w1 = np.ones((8, 2, 1, 1))  # 8 -> 8 channels in 4 groups
    hidden_p = conv.conv2d_forward(p, w1, groups=4)
    if shuffle:
        hidden_p = channel_shuffle(hidden_p, 4)
    return conv.conv2d_forward(hidden_p, w1, groups=4)


print("channel order after the shuffle:", channel_shuffle(np.arange(8.0)[None, :, None, None],
                                                          4).ravel().astype(int))
_, axes = plt.subplots(1, 2, figsize=(6, 3))
show_connectivity(axes[0], connectivity(lambda p: two_grouped_layers(p, False), 8),
                  "two grouped layers (g = 4)")
show_connectivity(axes[1], connectivity(lambda p: two_grouped_layers(p, True), 8),
                  "with a channel shuffle between")
plt.tight_layout()
plt.show()

# %% [markdown]
# Without the shuffle each output still sees 2 of the 8 input channels; with it, each output sees
# 4: one pair from each of two groups.
#
# **Your turn.** How many grouped layers with a shuffle between each two does it take until every
# output sees every input channel, for $C = 16$ channels in $g = 8$ groups of 2? The given
# `shuffled_stack(p, layers)` runs such a stack; count with `connectivity` and a loop, and store
# the number in `layers_needed`. Can you predict it? (Each layer multiplies the number of input
# channels an output sees by at most the group size.)

# %% nbgrader={"grade": false, "grade_id": "shuffle_depth", "locked": false, "schema_version": 3, "solution": true, "task": false}
def shuffled_stack(p, layers, groups=8):
    """`layers` grouped 1x1 layers of ones on 16 channels, a channel shuffle between two."""
    for index in range(layers):
        if index:
            p = channel_shuffle(p, groups)
        p = conv.conv2d_forward(p, np.ones((16, 16 // groups, 1, 1)), groups=groups)
    return p


### BEGIN SOLUTION
layers_needed = 1
while connectivity(lambda p, n=layers_needed: shuffled_stack(p, n), 16).min() == 0:
    layers_needed += 1
### END SOLUTION
print("layers until every output sees every input:", layers_needed)
assert connectivity(lambda p: shuffled_stack(p, layers_needed), 16).min() == 1
assert connectivity(lambda p: shuffled_stack(p, layers_needed - 1), 16).min() == 0

# %% [markdown]
# ## 7. Summary
#
# - A **1×1 convolution** is a fully connected layer applied to the channel vector of every
#   pixel: one $(O \times C) \cdot (C \times HW)$ matrix product per image. It changes the depth,
#   not the size; its gradients are those of a fully connected layer with the pixels as a batch.
# - **Depth reduction** before expensive layers: Inception (3a) falls from 387K weights and 303M
#   MACs to 163K and 128M, with 256 output maps instead of 416; ResNet's bottleneck has 69,632
#   weights where one 3×3 layer has 589,824.
# - A **depthwise convolution** filters each channel on its own; with a channel multiplier $M$,
#   output $cM + m$ reads channel $c$ (PyTorch's `groups=C`). Its backward pass is chapter 3's
#   without the sum over channels.
# - **Depthwise-separable** = depthwise, then pointwise: $C K^2 + C O$ weights instead of
#   $C O K^2$, a ratio $1/O + 1/K^2$ (795 against 6,912 for 3 → 256 with 3×3). Measured, the
#   speed-up is smaller than the MAC ratio: the depthwise layer is limited by memory traffic, not
#   by arithmetic.
# - Not to be confused with a **spatially separable kernel** (Sobel = column · row), which
#   factorises one 2-D filter into two 1-D ones.
# - **Grouped convolutions** interpolate between the two: $g$ independent convolutions, weights
#   and MACs divided by $g$; a **channel shuffle** lets stacked groups exchange information.
#
# ### Exercises
#
# 1. **A separable layer as a standard one.** Write the $(O, C, K, K)$ filters of the standard
#    convolution that equals `separable_conv2d_forward` with $M = 1$ (no biases): show that
#    $w[o, c] = w_\text{point}[o, c]\, w_\text{depth}[c]$ and check it numerically with
#    `conv.conv2d_forward`. Which standard filters can a separable layer *not* represent?
# 2. **Fusing the two layers.** Write a Numba kernel that computes a separable layer row by row,
#    keeping only one row of the depthwise output per channel in memory. Time it against
#    `separable_conv2d_forward` on Section 4's layer; how close does it get to the MAC ratio?
# 3. **MobileNet's budget.** With `separable_conv_params` and `separable_conv_macs`, add up
#    MobileNet v1 (look up its 13 separable layers, 224×224, plus the first standard layer and the
#    classifier) and compare with the paper's 4.2M parameters and 569M MACs. Then apply the width
#    multiplier $\alpha = 0.5$ (every channel count halved): by what factor do both fall, and why
#    is it about $\alpha^2$?
