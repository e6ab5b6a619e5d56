# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 3 — Backpropagation through convolution and pooling
#
# A network learns by gradient descent, and gradient descent needs, for every weight, the
# derivative of the loss. Backpropagation delivers them layer by layer: each layer receives the
# gradient of the loss with respect to its output and passes on the gradients with respect to its
# input and its parameters. In this chapter you write that backward pass for the two layers of
# chapter 2's networks, the convolution and the pooling layer. The surprise is how little is new:
# **the backward pass of a convolution is again a convolution**, and a pooling layer only routes
# or spreads the gradient it receives. At the end, your backward pass learns the Sobel filter of
# chapter 1 from examples alone.
#
# **What you write.** Numba kernels and small functions in two package files next to this
# notebook, `cnnlab/conv.py` and `cnnlab/pooling.py` (in a clone of the course repository:
# `src/cnnlab/...`). Each says `# YOUR CODE HERE` where your code goes. The public functions
# around them (validation, padding, allocation) are given. Your `conv2d_forward` of chapter 2 is
# used throughout; in the graded assignment it is the reference version.
#
# | file | function | what it computes | points |
# | --- | --- | --- | --- |
# | `conv.py` | `_conv2d_backward_input` | $\partial L / \partial x$ of a convolution | 4 |
# | `conv.py` | `_conv2d_backward_weight` | $\partial L / \partial w$ | 4 |
# | `conv.py` | `_conv2d_backward_bias` | $\partial L / \partial b$ | 2 |
# | `conv.py` | `conv2d_backward_gemm` | all three, as matrix products, with groups | 4 |
# | `pooling.py` | `_maxpool2d_forward_kernel` | max pooling | 3 |
# | `pooling.py` | `_maxpool2d_backward_kernel` | its gradient | 4 |
# | `pooling.py` | `_avgpool2d_forward_kernel` | average pooling | 3 |
# | `pooling.py` | `_avgpool2d_backward_kernel` | its gradient | 3 |
# | `pooling.py` | `global_avgpool2d_forward`, `global_avgpool2d_backward` | global average pooling | 2 |
#
# **How the checks work.** As in chapter 1: right after the section that derives a function comes
# its *check cell*, one ✔ or ✘ per public check; the grader later runs the same cell with more,
# hidden tests. A check grades your latest saved file. The notebook picks up your edits when you
# re-run a cell (`autoreload`); if a result looks stale, restart the kernel and run from the top.
# Cells marked **Your turn** are small ungraded exercises: replace `raise NotImplementedError()`.

# %%
# %load_ext autoreload
# %autoreload 2

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle
from skimage import data
from tqdm.auto import tqdm

from autograder import check, earlier_chapters
from cnnlab import conv, gradcheck, pooling, timing
from cnnlab.plots import heatmap, show_grids

rng = np.random.default_rng(0)
earlier = earlier_chapters()  # chapters 1-2's pieces, working code (see the next cell)

# %% [markdown]
# Chapter 1's `heatmap` and `show_grids` (from `cnnlab.plots`) draw small arrays with every number
# in its cell: red for positive, blue for negative, white for zero (gray for images).
#
# **Chapters 1 and 2's pieces.** This chapter builds on chapter 1's `correlate2d` and `convolve2d`
# and chapter 2's `conv2d_forward`, `conv2d_forward_gemm` and `im2col`. It calls them as
# `earlier.edges.correlate2d`, `earlier.conv.conv2d_forward`, ...: working code (the course's
# reference package; in an nbgrader assignment, the package copy beside this notebook, whose
# earlier chapters are given), so this chapter runs whether or not your chapters 1–2 are done, and
# a bug there cannot change the numbers here. Your chapter 3 code is `conv.…` and `pooling.…`. To
# run the whole notebook on your own chapters 1–2 instead, replace the line
# `earlier = earlier_chapters()` in the cell above by `import cnnlab as earlier`.

# %% [markdown]
# ## 1. The backward pass of a convolution, by hand
#
# A layer computes $Y = f(X)$ somewhere inside a network whose loss is $L$. In the backward pass
# it receives the **upstream gradient** $\delta = \partial L / \partial Y$, one number per output
# element, and must return $\partial L / \partial X$ (passed on to the layer below) and the
# gradients of its parameters (used for the update). For a convolution that is three gradients:
# of the input $X$, the kernel $W$ and the bias $b$. All come from the chain rule: a quantity
# $\theta$ influences $L$ only through the outputs, so
#
# $$\frac{\partial L}{\partial \theta} = \sum_{i, j} \delta_{ij}\,
# \frac{\partial y_{ij}}{\partial \theta}.$$
#
# Take the smallest case that shows everything: a 3×3 input, a 2×2 kernel, a bias, stride 1, no
# padding. The output is 2×2, and written out in full,
#
# $$\begin{aligned}
# y_{00} &= x_{00} w_{00} + x_{01} w_{01} + x_{10} w_{10} + x_{11} w_{11} + b, \\
# y_{01} &= x_{01} w_{00} + x_{02} w_{01} + x_{11} w_{10} + x_{12} w_{11} + b, \\
# y_{10} &= x_{10} w_{00} + x_{11} w_{01} + x_{20} w_{10} + x_{21} w_{11} + b, \\
# y_{11} &= x_{11} w_{00} + x_{12} w_{01} + x_{21} w_{10} + x_{22} w_{11} + b.
# \end{aligned}$$

# %% [markdown]
# **The bias** is added to all four outputs, so $\partial L / \partial b = \delta_{00} +
# \delta_{01} + \delta_{10} + \delta_{11}$: the sum of the upstream gradient.
#
# **The weights.** $w_{00}$ multiplies $x_{00}$ in $y_{00}$, $x_{01}$ in $y_{01}$, $x_{10}$ in
# $y_{10}$ and $x_{11}$ in $y_{11}$, so
#
# $$\frac{\partial L}{\partial w_{00}} = \delta_{00} x_{00} + \delta_{01} x_{01} +
# \delta_{10} x_{10} + \delta_{11} x_{11}, \qquad
# \frac{\partial L}{\partial w_{01}} = \delta_{00} x_{01} + \delta_{01} x_{02} +
# \delta_{10} x_{11} + \delta_{11} x_{12},$$
#
# and likewise for $w_{10}, w_{11}$. Each weight meets the 2×2 window of $X$ that starts at its
# own position:
#
# $$\frac{\partial L}{\partial w_{uv}} = \sum_{i, j} x_{i + u,\, j + v}\, \delta_{ij}.$$
#
# That is chapter 1's formula for cross-correlation, with $\delta$ as the kernel:
# $\partial L / \partial W$ is the "valid" **correlation of the input with $\delta$**.

# %% [markdown]
# **The input.** Each $x_{ab}$ appears in every output whose window covers it: the corners in one
# output, the edge centres in two, the centre $x_{11}$ in all four. Collecting the terms,
#
# $$\frac{\partial L}{\partial X} = \begin{pmatrix}
# \delta_{00} w_{00} & \delta_{00} w_{01} + \delta_{01} w_{00} & \delta_{01} w_{01} \\
# \delta_{00} w_{10} + \delta_{10} w_{00} &
# \delta_{00} w_{11} + \delta_{01} w_{10} + \delta_{10} w_{01} + \delta_{11} w_{00} &
# \delta_{01} w_{11} + \delta_{11} w_{01} \\
# \delta_{10} w_{10} & \delta_{10} w_{11} + \delta_{11} w_{10} & \delta_{11} w_{11}
# \end{pmatrix}.$$
#
# Read the centre: $\delta$, element by element, times the kernel **rotated by 180°**,
# $\begin{pmatrix} w_{11} & w_{10} \\ w_{01} & w_{00} \end{pmatrix}$. The rotation is no accident:
# $x_{ab}$ reaches $y_{ij}$ through the weight $w_{a - i,\, b - j}$, so as the output index grows
# the kernel index shrinks,
#
# $$\frac{\partial L}{\partial x_{ab}} = \sum_{u, v} \delta_{a - u,\, b - v}\, w_{uv}
# \quad (\delta = 0 \text{ outside its } 2 \times 2).$$
#
# At the border only part of $\delta$ takes part, as if $\delta$ were padded with zeros: it is a
# **"full" correlation of $\delta$ with the rotated kernel**, which chapter 1 calls a full
# convolution:
#
# $$\frac{\partial L}{\partial X} = \operatorname{correlate}_\text{full}(\delta,
# \operatorname{rot}_{180} W) = \operatorname{convolve}_\text{full}(\delta, W).$$

# %% [markdown]
# Now with numbers. The forward pass is chapter 1's `correlate2d` plus the bias:

# %%
X = np.arange(1.0, 10.0).reshape(3, 3)
W = np.array([[1.0, 2.0], [3.0, 4.0]])
b = 0.5
delta = np.array([[1.0, -1.0], [2.0, 0.0]])  # the upstream gradient dL/dY
Y = earlier.edges.correlate2d(X, W) + b
Y

# %% [markdown]
# The nine entries of $\partial L / \partial X$ exactly as derived, the four of
# $\partial L / \partial W$ as windows of $X$ times $\delta$, and the bias:

# %%
d, w = delta, W
dX_by_hand = np.array([
    [d[0, 0] * w[0, 0], d[0, 0] * w[0, 1] + d[0, 1] * w[0, 0], d[0, 1] * w[0, 1]],
    [d[0, 0] * w[1, 0] + d[1, 0] * w[0, 0],
     d[0, 0] * w[1, 1] + d[0, 1] * w[1, 0] + d[1, 0] * w[0, 1] + d[1, 1] * w[0, 0],
     d[0, 1] * w[1, 1] + d[1, 1] * w[0, 1]],
    [d[1, 0] * w[1, 0], d[1, 0] * w[1, 1] + d[1, 1] * w[1, 0], d[1, 1] * w[1, 1]],
])
dW_by_hand = np.array([[np.sum(X[u:u + 2, v:v + 2] * delta) for v in range(2)] for u in range(2)])
db_by_hand = delta.sum()
print(dX_by_hand, dW_by_hand, db_by_hand, sep="\n\n")

# %% [markdown]
# Chapter 1's functions give the same numbers in one line each: a full convolution with $W$ (or
# a full correlation with the rotated $W$) for the input, a valid correlation of $X$ with
# $\delta$ for the kernel.

# %%
dX = earlier.edges.convolve2d(delta, W, "full")
dW = earlier.edges.correlate2d(X, delta, "valid")
print("dX = convolve2d(delta, W, 'full'):             ", np.array_equal(dX, dX_by_hand))
print("dX = correlate2d(delta, rot180(W), 'full'):     ",
      np.array_equal(earlier.edges.correlate2d(delta, W[::-1, ::-1], "full"), dX_by_hand))
print("dW = correlate2d(X, delta, 'valid'):           ", np.array_equal(dW, dW_by_hand))

# %% [markdown]
# And a third, independent opinion: nudge each $x_{ab}$ a little and watch the loss change
# (Section 2 explains how). It agrees to about ten digits.

# %%
numerical_dX = gradcheck.numerical_gradient(lambda X: earlier.edges.correlate2d(X, W) + b, X, delta)
print(numerical_dX)
print("largest difference:", np.abs(numerical_dX - dX).max())

# %% [markdown]
# The whole example as a picture. The gradient of the input has the input's shape, the gradient
# of the kernel the kernel's shape: every parameter gets exactly one derivative.

# %%
show_grids([X, W, delta, dX, dW], ["input X", "kernel W", "δ = ∂L/∂Y", "∂L/∂X", "∂L/∂W"],
           cmaps=["gray"] + ["coolwarm"] * 4, figsize=(10, 2.4))
plt.show()

# %% [markdown]
# The full correlation at work for $\partial L / \partial x_{01} = \delta_{00} w_{01} +
# \delta_{01} w_{00} = 1 \cdot 2 + (-1) \cdot 1 = 1$: $\delta$ padded with one ring of zeros, the
# rotated kernel over the window of output $(0, 1)$, and the products.

# %%
delta_padded = np.pad(delta, 1)
window = delta_padded[0:2, 1:3]
axes = show_grids([delta_padded, W[::-1, ::-1], window * W[::-1, ::-1]],
                  ["δ padded, window of ∂L/∂x₀₁", "W rotated 180°", "products: sum = 1"])
axes[0].add_patch(Rectangle((0.5, -0.5), 2, 2, fill=False, edgecolor="tab:orange", linewidth=3))
plt.show()

# %% [markdown]
# ## 2. Gradient checking
#
# A backward pass is easy to get subtly wrong: an index off by one, a kernel not rotated, a `=`
# where `+=` belongs. The remedy is to compare it with the definition of the derivative.
# `cnnlab.gradcheck` (given code) does this for any array function $f$ and upstream gradient
# $\delta$, with the loss $L = \sum f(x) \odot \delta$. Why that loss? Whatever the real loss of
# the network is, its gradient with respect to $f(x)$ is the $\delta$ the layer receives; this
# $L$ is the simplest function with exactly that gradient.
#
# **Centred differences.** Nudge one entry $x_i$ by $\pm\varepsilon$:
#
# $$\frac{\partial L}{\partial x_i} \approx
# \frac{L(x + \varepsilon e_i) - L(x - \varepsilon e_i)}{2 \varepsilon}.$$
#
# By Taylor's theorem, $L(x \pm \varepsilon e_i) = L \pm \varepsilon L' +
# \tfrac{\varepsilon^2}{2} L'' \pm \tfrac{\varepsilon^3}{6} L''' + \dots$: in the difference the
# even terms cancel, and the error is $\tfrac{\varepsilon^2}{6} L'''$. The one-sided
# $(L(x + \varepsilon e_i) - L(x)) / \varepsilon$ keeps $\tfrac{\varepsilon}{2} L''$, a much
# larger error for the same $\varepsilon$.
#
# **Round-off.** A computed $L$ carries a relative error of about the unit round-off $u$
# ($1.1 \times 10^{-16}$ in float64, $6 \times 10^{-8}$ in float32), and dividing the difference
# by $2\varepsilon$ magnifies it to about $u |L| / \varepsilon$. The total error
#
# $$\frac{\varepsilon^2}{6} |L'''| + \frac{u\, |L|}{\varepsilon}$$
#
# first falls and then rises as $\varepsilon$ shrinks: a **V** on log-log axes, with its bottom
# near $\varepsilon \approx u^{1/3}$. In float64 that is $\varepsilon \approx 10^{-5}$ with an
# error around $10^{-10}$; in float32, $\varepsilon \approx 10^{-2.5}$ with an error around
# $10^{-5}$, too coarse to tell a correct gradient from an almost correct one. So gradient checks
# run in **float64**, with $\varepsilon = 10^{-6}$ (`gradcheck`'s default).
#
# **Relative error.** Gradients come in every scale, so compare them relative to their size:
# `gradcheck.relative_error(a, b)` $= \max_i |a_i - b_i| / (|a_i| + |b_i|)$. In float64, about
# $10^{-7}$ or below means correct (up to $10^{-5}$ when an entry is close to zero: its round-off
# is large *relative* to it); $10^{-2}$ or above is a bug.

# %% [markdown]
# The V, measured. The function must be nonlinear (for a linear one $L''' = 0$ and only the
# round-off would show), so take one weight of $L(W) = \sum \tanh(X \star W)$ on a 6×6 input. Its
# exact derivative is Section 1's formula, $\partial L / \partial W = X \star \delta$ with
# $\delta = 1 - \tanh^2(X \star W)$. The differences are computed entirely in the given dtype.

# %%
x6 = rng.standard_normal((6, 6))
w3 = 0.5 * rng.standard_normal((3, 3))
exact = earlier.edges.correlate2d(x6, 1 - np.tanh(earlier.edges.correlate2d(x6, w3)) ** 2)[1, 1]


def difference_quotient(dtype, eps, centred=True):
    """(L(w + eps) - L(w - eps)) / (2 eps) for the weight w3[1, 1], in the given dtype."""
    xd, step = x6.astype(dtype), dtype(eps)
    w_plus, w_minus = w3.astype(dtype), w3.astype(dtype)
    w_plus[1, 1] += step
    if centred:
        w_minus[1, 1] -= step

    def loss(w):
        return np.sum(np.tanh(earlier.edges.correlate2d(xd, w)))

    return (loss(w_plus) - loss(w_minus)) / ((2 if centred else 1) * step)


epsilons = np.logspace(-12, -0.5, 47)
curves = {"float64, centred": (np.float64, True), "float64, one-sided": (np.float64, False),
          "float32, centred": (np.float32, True)}
plt.figure(figsize=(6, 3.5))
for label, (dtype, centred) in curves.items():
    errors = [gradcheck.relative_error(difference_quotient(dtype, eps, centred), exact)
              for eps in epsilons]
    plt.loglog(epsilons, np.maximum(errors, 1e-17), ".-", label=label)
plt.axvline(1e-6, color="gray", linestyle=":", label="gradcheck's ε = 1e-6")
plt.xlabel("ε")
plt.ylabel("relative error")
plt.legend(fontsize=8)
plt.show()

# %% [markdown]
# The right branch of each V is the truncation error, with slope 2 for centred differences and
# slope 1 for one-sided ones; the left branch is round-off, with slope −1. The float32 curve hits
# relative error 1 (the largest `relative_error` gives) where $w \pm \varepsilon$ rounds back to
# $w$ itself and the difference is exactly zero.
#
# `gradcheck.gradcheck(f, inputs, grads, dy)` runs the check for several inputs at once and
# returns one relative error per input. On Section 1's example, with the hand-derived gradients:

# %%
errors = gradcheck.gradcheck(
    lambda X, W, b: earlier.edges.correlate2d(X, W) + b,
    inputs={"X": X, "W": W, "b": np.array(b)},
    grads={"X": dX_by_hand, "W": dW_by_hand, "b": db_by_hand},
    dy=delta,
)
errors

# %% [markdown]
# And it catches a classic mistake, forgetting to rotate the kernel:

# %%
forgot_rotation = earlier.edges.correlate2d(delta, W, "full")  # should be W rotated by 180°
gradcheck.gradcheck(lambda X: earlier.edges.correlate2d(X, W) + b, {"X": X}, {"X": forgot_rotation},
                    dy=delta)

# %% [markdown]
# ## 3. Channels and batches
#
# Chapter 2's layer takes a batch of $N$ images with $C$ channels each, $x$ of shape
# $(N, C, H, W)$, and $O$ filters $w$ of shape $(O, C, K_H, K_W)$:
#
# $$y[n, o] = b_o + \sum_{c} x[n, c] \star w[o, c],$$
#
# where $\star$ is the 2-D valid correlation of Section 1. Every term is Section 1's example, and
# the chain rule adds up the gradients over all the paths a quantity takes to the loss:
#
# - input channel $x[n, c]$ feeds every output channel $o$:
#   $\displaystyle \frac{\partial L}{\partial x[n, c]} = \sum_o
#   \operatorname{convolve}_\text{full}(\delta[n, o],\, w[o, c])$;
# - filter slice $w[o, c]$ is shared by every image of the batch:
#   $\displaystyle \frac{\partial L}{\partial w[o, c]} = \sum_n x[n, c] \star \delta[n, o]$;
# - bias $b_o$ is added at every position of every image:
#   $\displaystyle \frac{\partial L}{\partial b_o} = \sum_{n, i, j} \delta[n, o, i, j]$.
#
# As loops over chapter 1's functions:

# %%
def conv_backward_loops(dy, x, w):
    """dL/dx, dL/dw, dL/db of a stride-1, unpadded convolution, with chapter 1's functions."""
    N, C = x.shape[:2]
    O = w.shape[0]
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for n in range(N):
        for o in range(O):
            for c in range(C):
                dx[n, c] += earlier.edges.convolve2d(dy[n, o], w[o, c], "full")
                dw[o, c] += earlier.edges.correlate2d(x[n, c], dy[n, o], "valid")
    return dx, dw, dy.sum(axis=(0, 2, 3))


x = rng.standard_normal((2, 3, 5, 6))  # N=2 images, C=3 channels, 5x6
w = rng.standard_normal((4, 3, 3, 2))  # O=4 filters of 3 channels, 3x2
bias = rng.standard_normal(4)
dy = rng.standard_normal(earlier.conv.conv2d_forward(x, w, bias).shape)
dx_loops, dw_loops, db_loops = conv_backward_loops(dy, x, w)
gradcheck.gradcheck(lambda x, w, b: earlier.conv.conv2d_forward(x, w, b),
                    {"x": x, "w": w, "b": bias},
                    {"x": dx_loops, "w": dw_loops, "b": db_loops}, dy)

# %% [markdown]
# All three agree. The error for `x` is the largest because one entry of its gradient is small,
# about 0.002: the same absolute round-off (about $10^{-8}$) is larger relative to it.
#
# **Again a convolution, literally.** Both gradients are forward passes of chapter 2's
# `conv2d_forward`, with the roles of the arrays reshuffled:
#
# - $\partial L / \partial x$ is a convolution layer applied to $\delta$, padded by $K - 1$ on
#   every side ("full"), with $O$ input and $C$ output channels: the filters are $w$ with its first
#   two axes swapped and every slice rotated by 180°. (That is the *transposed convolution* of
#   chapter 2: it maps an output-sized array back to an input-sized one.)
# - $\partial L / \partial w$ is a convolution of $x$ with $\delta$ as the filters, with the batch
#   axis playing the role of the channels: swap the first two axes of $x$, of $\delta$ and of the
#   result.

# %%
w_flipped = w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]  # (C, O, KH, KW), rotated
dx_as_conv = earlier.conv.conv2d_forward(dy, w_flipped, padding=(w.shape[2] - 1, w.shape[3] - 1))
dw_as_conv = earlier.conv.conv2d_forward(x.transpose(1, 0, 2, 3), dy.transpose(1, 0, 2, 3))
dw_as_conv = dw_as_conv.transpose(1, 0, 2, 3)
print("dx as a convolution of dy:", np.allclose(dx_as_conv, dx_loops))
print("dw as a convolution of x: ", np.allclose(dw_as_conv, dw_loops))

# %% [markdown]
# ## 4. Stride, padding and dilation
#
# **Stride.** With stride $s$, output $(i, j)$ sees the window at $(s i, s j)$:
# $y = $ the stride-1 output $y_1$ sampled at every $s$-th position. So the gradient with respect to
# $y_1$ is $\delta$ **dilated with zeros**: $\tilde\delta[s i, s j] = \delta[i, j]$, and $s - 1$
# zeros between neighbours, since the stride-1 outputs that were skipped did not reach the loss.
# From there on, everything is Section 3 with stride 1:
#
# $$\frac{\partial L}{\partial x} = \operatorname{convolve}_\text{full}(\tilde\delta, w), \qquad
# \frac{\partial L}{\partial w} = x \star \tilde\delta.$$
#
# One detail: if $H - K_H$ is not a multiple of $s$, the last rows of $x$ are never reached by
# any window. Then $\tilde\delta$ is padded with zeros at the bottom (and right) to the stride-1
# output size $H - K_H + 1$, and those rows get a zero gradient, as they should.
#
# **Padding.** The forward pass correlates the padded input $x_\text{pad}$. So compute the gradient
# with respect to $x_\text{pad}$ and **crop** the padding: the padded zeros are constants, not
# inputs, and the gradient that lands on them is simply dropped. (The kernel's gradient uses
# $x_\text{pad}$, zeros included.)
#
# **Dilation** spreads the kernel taps $d$ apart, as if the kernel itself were dilated with zeros:
# the same formulas with the dilated kernel, keeping every $d$-th entry of its gradient.

# %%
def dilate(a, stride):
    """Insert stride - 1 zeros between neighbouring entries of the 2-D array a."""
    sh, sw = stride
    out = np.zeros(((a.shape[0] - 1) * sh + 1, (a.shape[1] - 1) * sw + 1))
    out[::sh, ::sw] = a
    return out


def conv_backward_2d(dy, x, w, stride, padding):
    """dL/dx and dL/dw of conv2d_forward on one (H, W) channel, by dilating dy and cropping."""
    (ph, pw), (kh, kw) = padding, w.shape
    xpad = np.pad(x, ((ph, ph), (pw, pw)))
    hp, wp = xpad.shape
    d = dilate(dy, stride)
    d = np.pad(d, ((0, hp - kh + 1 - d.shape[0]), (0, wp - kw + 1 - d.shape[1])))  # unreached rows
    dxpad = earlier.edges.convolve2d(d, w, "full")
    return dxpad[ph:hp - ph, pw:wp - pw], earlier.edges.correlate2d(xpad, d, "valid")


# %% [markdown]
# A 5×5 input, a 3×3 kernel of ones, stride 2 and padding 1 give a 3×3 output. Its upstream
# gradient $1, \dots, 9$ dilated to 5×5, the full convolution with the kernel (the gradient of the
# 7×7 padded input, in which every number is the sum of $\delta$ over the windows covering that
# pixel), and the crop to the 5×5 input (orange frame):

# %%
x5, ones3 = rng.standard_normal((5, 5)), np.ones((3, 3))
dy3 = np.arange(1.0, 10.0).reshape(3, 3)
d = dilate(dy3, (2, 2))
dxpad = earlier.edges.convolve2d(d, ones3, "full")
dx5, _ = conv_backward_2d(dy3, x5, ones3, stride=(2, 2), padding=(1, 1))
axes = show_grids([dy3, d, dxpad, dx5], ["δ (3×3)", "δ dilated, stride 2", "∂L/∂x_pad (7×7)",
                                         "∂L/∂x: cropped"], figsize=(10, 3), fontsize=8)
axes[2].add_patch(Rectangle((0.5, 0.5), 5, 5, fill=False, edgecolor="tab:orange", linewidth=3))
plt.show()

# %% [markdown]
# The windows of a 3×3 kernel with stride 2 overlap by one row and one column: rows 2 and 4 of
# the padded input lie in two windows, the other rows in one, and likewise for the columns. So the
# pixel at (2, 2) collects $1 + 2 + 4 + 5 = 12$ from four windows, its neighbour at (2, 1) only
# $1 + 4 = 5$ from two. The gradient check agrees on a few odd configurations, including non-square strides and an
# unreached last row (a 6×7 input):

# %%
for shape, kernel, stride, padding in [((5, 5), (3, 3), (2, 2), (1, 1)),
                                       ((6, 7), (3, 2), (2, 3), (0, 1)),
                                       ((8, 8), (2, 2), (3, 3), (1, 1))]:
    x2, w2 = rng.standard_normal(shape), rng.standard_normal(kernel)

    def layer(x, w, stride=stride, padding=padding):
        return earlier.conv.conv2d_forward(x[None, None], w[None, None], stride=stride,
                                   padding=padding)[0, 0]

    dy2 = rng.standard_normal(layer(x2, w2).shape)
    dx2, dw2 = conv_backward_2d(dy2, x2, w2, stride, padding)
    errors = gradcheck.gradcheck(layer, {"x": x2, "w": w2}, {"x": dx2, "w": dw2}, dy2)
    print(f"x {shape}, w {kernel}, stride {stride}, padding {padding}: "
          f"relative errors x {errors['x']:.1e}, w {errors['w']:.1e}")

# %% [markdown]
# ## 5. Your kernels: the three gradients of a convolution
#
# The formulas of Sections 1–4 **gather**: each input pixel collects the contributions of all the
# outputs it fed, which takes dilation, padding, rotation and cropping. A loop can **scatter**
# instead. Walk through the forward computation once more; wherever the forward pass multiplied
# $w[o, c, i, j]$ by $x_\text{pad}[n, c, y_i, x_j]$ to add it into $y[n, o, y, x]$, the chain rule
# sends $\delta[n, o, y, x] \cdot w[o, c, i, j]$ back to that input pixel and
# $\delta[n, o, y, x] \cdot x_\text{pad}[n, c, y_i, x_j]$ to that weight, **adding** (`+=`) to
# whatever is there, with
#
# $$y_i = y \cdot s_h + i \cdot d_h, \qquad x_j = x \cdot s_w + j \cdot d_w.$$
#
# It is the loop nest of your chapter 2 forward kernel with the read turned into an accumulating
# write. Stride and dilation need nothing extra (the index arithmetic already has them), and
# padding is the wrapper's job: it passes a zero-filled array of the *padded* size and crops it
# afterwards. Gathering and scattering compute the same sums in a different order.

# %% [markdown]
# ### 5.1 The input gradient
#
# **Your task**, in `cnnlab/conv.py`: the Numba kernel
#
# ```python
# _conv2d_backward_input(dy, w, sh, sw, dil_h, dil_w, dxpad)
# ```
#
# - `dy` (N, O, OH, OW) is the upstream gradient, `w` (O, C, KH, KW) the filters, `sh, sw` the
#   stride and `dil_h, dil_w` the dilation.
# - `dxpad` (N, C, H + 2·ph, W + 2·pw) arrives filled with zeros. For every `n, o, y, x, c, i, j`
#   add `w[o, c, i, j] * dy[n, o, y, x]` into `dxpad[n, c, y*sh + i*dil_h, x*sw + j*dil_w]`.
#   Accumulate with `+=`: an input pixel lies in up to KH·KW windows of every filter.
# - Return nothing; the result is `dxpad`.
#
# The given wrapper `conv.conv2d_backward_input(dy, x_shape, w, stride=1, padding=0,
# dilation=1)` validates, allocates `dxpad`, calls your kernel and crops the padding. It needs the
# input's *shape*, not the input: the output is linear in $x$, so $x$ itself does not enter the
# gradient, but with a stride several input sizes give the same output size. To step through your
# loops in plain Python, call `conv._conv2d_backward_input.py_func(...)` with the same arguments.
#
# Worked example (Section 1): `conv.conv2d_backward_input(delta[None, None], (1, 1, 3, 3),
# W[None, None])` is $\begin{pmatrix} 1 & 1 & -2 \\ 5 & 5 & -4 \\ 6 & 8 & 0 \end{pmatrix}$
# (in a (1, 1, 3, 3) array).

# %% [markdown]
# **Reading a check cell.** While it runs it shows `checking conv2d_backward_input (...): k of n tests done`,
# then a ✔ or ✘ line per check (a ✘ names the case, the first wrong value with got vs expected,
# the known mistake your result matches if it is one, and heatmaps of expected, got and their
# difference where the data is an image); the number it ends with is the points the cell earned:
# with `hidden = False`, as here, only its public checks ran, and when your notebook is graded
# `hidden` is `True` and the same cell runs the hidden tests too. If a Numba kernel fails with an
# error you cannot make sense of, or you want `print()` inside it, grade it as plain Python in a
# terminal: `python -m autograder grade ch03 --no-jit` (slower: Numba compiles nothing, so
# tracebacks point at your line, and the feedback shows what your code printed).

# %% nbgrader={"grade": true, "grade_id": "check_conv2d_backward_input", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Public checks of your conv2d_backward_input; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch03_backprop", "conv2d_backward_input", hidden=hidden)

# %% [markdown]
# Your scattering loops against the gathering formulas of Sections 1, 3 and 4:

# %%
dx_yours = conv.conv2d_backward_input(delta[None, None], (1, 1, 3, 3), W[None, None])
print("Section 1, by hand:     ", np.allclose(dx_yours[0, 0], dX_by_hand))
print("Section 3, channels:    ", np.allclose(conv.conv2d_backward_input(dy, x.shape, w), dx_loops))
dx_strided = conv.conv2d_backward_input(dy3[None, None], (1, 1, 5, 5), ones3[None, None],
                                        stride=2, padding=1)
print("Section 4, stride, pad: ", np.allclose(dx_strided[0, 0], dx5))

# %% [markdown]
# ### 5.2 The weight gradient
#
# **Your task**, in `cnnlab/conv.py`: the Numba kernel
#
# ```python
# _conv2d_backward_weight(dy, xpad, sh, sw, dil_h, dil_w, dw_out)
# ```
#
# - `dy` (N, O, OH, OW) is the upstream gradient, `xpad` (N, C, Hp, Wp) the forward input,
#   already zero-padded by the wrapper.
# - `dw_out` (O, C, KH, KW) arrives filled with zeros; accumulate into it
#
#   $$\texttt{dw\_out}[o, c, i, j] \mathrel{+}= \sum_{n, y, x} \texttt{dy}[n, o, y, x] \cdot
#   \texttt{xpad}[n, c,\ y \cdot s_h + i \cdot d_h,\ x \cdot s_w + j \cdot d_w].$$
#
#   A weight is shared by every position and every image, so its gradient sums over all of them.
# - Return nothing.
#
# The given wrapper is `conv.conv2d_backward_weight(dy, x, w_shape, stride=1, padding=0,
# dilation=1)`: it pads `x`, allocates `dw_out` of shape `w_shape` and calls your kernel.
#
# Worked example (Section 1): the weight gradient is
# $\begin{pmatrix} 7 & 9 \\ 13 & 15 \end{pmatrix}$.

# %% nbgrader={"grade": true, "grade_id": "check_conv2d_backward_weight", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Public checks of your conv2d_backward_weight; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch03_backprop", "conv2d_backward_weight", hidden=hidden)

# %%
dw_yours = conv.conv2d_backward_weight(delta[None, None], X[None, None], (1, 1, 2, 2))
print("Section 1, by hand:  ", np.allclose(dw_yours[0, 0], dW_by_hand))
print("Section 3, channels: ", np.allclose(conv.conv2d_backward_weight(dy, x, w.shape), dw_loops))

# %% [markdown]
# ### 5.3 The bias gradient
#
# **Your task**, in `cnnlab/conv.py`: `_conv2d_backward_bias(dy)`, plain NumPy (no Numba). Bias
# $b_o$ is added to every `out[n, o, y, x]`, so return the (O,) array whose entry `o` is the sum of
# `dy[n, o, y, x]` over `n`, `y` and `x`, in `dy`'s dtype (float32 stays float32). The given
# wrapper is `conv.conv2d_backward_bias(dy)`.
#
# Worked example (Section 1): $1 - 1 + 2 + 0 = 2$.

# %% nbgrader={"grade": true, "grade_id": "check_conv2d_backward_bias", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Public checks of your conv2d_backward_bias; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch03_backprop", "conv2d_backward_bias", hidden=hidden)

# %% [markdown]
# `conv.conv2d_backward(dy, x, w, stride, padding, dilation)` returns all three gradients at once,
# `(dx, dw, db)`. On Section 3's batch:

# %%
print([g.shape for g in conv.conv2d_backward(dy, x, w)], "and db =", conv.conv2d_backward_bias(dy))

# %% [markdown]
# **Your turn.** Gradient-check your complete layer on a configuration that uses everything at
# once: a batch, several channels, a non-square stride, padding and dilation. Call
# `gradcheck.gradcheck` with a function of `x, w, b` that runs `conv.conv2d_forward` with
# `config`, the three inputs, the three gradients of your `conv.conv2d_backward`, and `dy_check`.
# Store the result in `errors`.

# %% nbgrader={"grade": false, "grade_id": "gradcheck_conv_layer", "locked": false, "schema_version": 3, "solution": true, "task": false}
config = {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2)}
rng_check = np.random.default_rng(3)
x_check = rng_check.standard_normal((2, 3, 7, 8))
w_check = rng_check.standard_normal((4, 3, 3, 3))
b_check = rng_check.standard_normal(4)
out_check = earlier.conv.conv2d_forward(x_check, w_check, b_check, **config)
dy_check = rng_check.standard_normal(out_check.shape)
### BEGIN SOLUTION
dx_check, dw_check, db_check = conv.conv2d_backward(dy_check, x_check, w_check, **config)
errors = gradcheck.gradcheck(
    lambda x, w, b: earlier.conv.conv2d_forward(x, w, b, **config),
    {"x": x_check, "w": w_check, "b": b_check},
    {"x": dx_check, "w": dw_check, "b": db_check},
    dy_check,
)
### END SOLUTION
print(errors)
assert max(errors.values()) < 1e-5, "a relative error this large means a wrong gradient"

# %% [markdown]
# ### 5.4 The backward pass as matrix products
#
# Chapter 2 computed the forward pass of image $n$ as one matrix product,
# $Y_n = W_\text{mat} \cdot \text{cols}_n$: the filters as an (O, C·KH·KW) matrix times the
# (C·KH·KW, OH·OW) im2col matrix of the image. The gradients of a product $Y = A B$ are again
# products: $y_{ol} = \sum_k a_{ok} b_{kl}$, so $\partial L / \partial a_{ok} = \sum_l \delta_{ol}
# b_{kl}$ and $\partial L / \partial b_{kl} = \sum_o a_{ok} \delta_{ol}$, that is
# $dA = \delta \cdot B^\top$ and $dB = A^\top \cdot \delta$. For the convolution, with
# $\delta_n$ = `dy[n]` as an (O, OH·OW) matrix:
#
# $$dW_\text{mat} = \sum_n \delta_n \cdot \text{cols}_n^\top, \qquad
#   d\text{cols}_n = W_\text{mat}^\top \cdot \delta_n, \qquad dx = \text{col2im}(d\text{cols}).$$
#
# The weights are shared by every image, so their gradient sums over the batch. im2col *copied*
# every pixel into each column whose window covers it; the gradient of a copy adds the gradients of
# all the copies back onto the original, which is exactly what your `col2im` of chapter 2 does
# with its `+=`: col2im is the transpose of im2col. The bias gradient is the sum of `dy`, as before.
#
# **Groups.** A convolution with `groups=G` is G convolutions side by side: the C channels split
# into G groups of C/G, the O filters into G groups of O/G, and filter group $g$ sees only channel
# group $g$, so `w` has shape (O, C/G, KH, KW) (PyTorch's `groups`; `groups=C` is the depthwise
# convolution of chapter 4). Its gradients are those of each group, put side by side.
#
# **Your task**, in `cnnlab/conv.py`:
#
# ```python
# conv.conv2d_backward_gemm(dy, x, w, stride=1, padding=0, dilation=1, groups=1) -> (dx, dw, db)
# ```
#
# After the given lines (validation, one common dtype; `KH, KW` are ready, `stride`, `padding`,
# `dilation` are (h, w) pairs, `groups` an int dividing C and O), for each group `g` of
# `Cg = C // groups` channels and `Og = O // groups` filters:
#
# 1. `cols = im2col(x[:, g*Cg:(g+1)*Cg], (KH, KW), stride, padding, dilation)`, shape
#    (N, Cg·KH·KW, OH·OW), and `dyg = dy[:, g*Og:(g+1)*Og]` reshaped to (N, Og, OH·OW);
# 2. `dyg @ cols.transpose(0, 2, 1)` is (N, Og, Cg·KH·KW): sum it over the images and reshape it to
#    (Og, Cg, KH, KW), the group's `dw`;
# 3. `dcols = wg.T @ dyg` with `wg` the group's filters as an (Og, Cg·KH·KW) matrix, then
#    `col2im(dcols, (H, W), (KH, KW), stride, padding, dilation)` is the group's `dx`;
# 4. put the groups' `dx` side by side along the channels and their `dw` along the filters
#    (`np.concatenate`); `db = dy.sum(axis=(0, 2, 3))`. Return `(dx, dw, db)`.
#
# No loop over images or pixels; a loop over the groups is fine. The reference solution does the
# same products with the windows of the whole batch laid out channels-last as the rows of one
# matrix per group (`_im2row_kernel`, and `_row2im_kernel`, its col2im), one product per group
# for the whole batch: several times faster on small images, and not needed for full marks (the
# stub of `_row2im_kernel` is yours to fill in too if you want the speed).

# %% nbgrader={"grade": true, "grade_id": "check_conv2d_backward_gemm", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Public checks of your conv2d_backward_gemm; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch03_backprop", "conv2d_backward_gemm", hidden=hidden)

# %% [markdown]
# The matrix products against your loops of Section 5, and two groups against two separate
# layers:

# %%
for mine, loops in zip(conv.conv2d_backward_gemm(dy, x, w), conv.conv2d_backward(dy, x, w),
                       strict=True):
    print(f"{str(mine.shape):16} GEMM equals loops: {np.allclose(mine, loops)}")
x_two = np.concatenate([x, 2 * x], axis=1)  # two groups of channels, two groups of filters
w_two, dy_two = np.concatenate([w, -w]), np.concatenate([dy, dy], axis=1)
dx_two, dw_two, _ = conv.conv2d_backward_gemm(dy_two, x_two, w_two, groups=2)
dx_1, dw_1, _ = conv.conv2d_backward(dy, x, w)
dx_2, dw_2, _ = conv.conv2d_backward(dy, 2 * x, -w)
print("groups=2 is two layers side by side:", np.allclose(dx_two, np.concatenate([dx_1, dx_2], 1)),
      np.allclose(dw_two, np.concatenate([dw_1, dw_2])))

# %% [markdown]
# **The race.** Forward and backward of one layer of a small network (16 images of 16×16, 32
# channels in and out, 3×3, padding 1, float32): your loops against the matrix products, and
# PyTorch if it is installed. `timing.race` (given, `cnnlab/timing.py`, as in chapter 2) runs
# each once to compile (or warm up), then times it 7 times; the median counts. All run on one
# core: one Numba thread for your kernels, one BLAS thread for NumPy's products, one thread for
# PyTorch, so no two thread pools fight over the cores. Your numbers depend on the machine and on
# what else runs on it.

# %%
rng_race = np.random.default_rng(5)
x_race = rng_race.standard_normal((16, 32, 16, 16)).astype(np.float32)
w_race = (0.1 * rng_race.standard_normal((32, 32, 3, 3))).astype(np.float32)
dy_race = rng_race.standard_normal((16, 32, 16, 16)).astype(np.float32)
race = {
    "loops": lambda: (earlier.conv.conv2d_forward(x_race, w_race, padding=1),
                      conv.conv2d_backward(dy_race, x_race, w_race, padding=1)),
    "matrix products": lambda: (earlier.conv.conv2d_forward_gemm(x_race, w_race, padding=1),
                                conv.conv2d_backward_gemm(dy_race, x_race, w_race, padding=1)),
}
try:
    import torch

    torch.set_num_threads(1)
    xt, wt = torch.from_numpy(x_race).requires_grad_(), torch.from_numpy(w_race).requires_grad_()
    race["PyTorch"] = lambda: torch.autograd.grad(
        torch.nn.functional.conv2d(xt, wt, padding=1), (xt, wt), torch.from_numpy(dy_race))
except ImportError:
    pass
race_flops = 3 * 2 * 16 * 32 * 16 * 16 * 32 * 9  # forward + backward: 3x the forward's
for label, seconds in timing.race(race, threads=1).items():
    print(f"{label:16} {1e3 * seconds:8.1f} ms  {race_flops / seconds / 1e9:6.1f} GFLOP/s")

# %% [markdown]
# ## 6. Max pooling
#
# A pooling layer summarises every window of every channel by a single number, its maximum or its
# mean. It has **no parameters**, nothing to learn and nothing to update; only
# **hyper-parameters**, fixed by the designer: the window $K_H \times K_W$, the stride (by default
# the window, so the windows tile the input) and the padding. Each channel is pooled on its own,
# so $C$ channels in give $C$ channels out, and the output size follows chapter 2's formula,
#
# $$O_H = \left\lfloor \frac{H + 2 P_H - K_H}{S_H} \right\rfloor + 1 \quad
# \text{(likewise } O_W\text{)}.$$
#
# **Max pooling** keeps the largest value of each window:
#
# $$y[n, c, o_h, o_w] = \max_{0 \le i < K_H,\ 0 \le j < K_W}
# x_\text{pad}[n, c,\ o_h S_H + i,\ o_w S_W + j],$$
#
# where the padding is $-\infty$, so it is never the maximum.

# %%
print(pooling.pool_output_shape((1, 2, 4, 4), kernel_size=2))  # 2x2 windows, stride 2
print(pooling.pool_output_shape((1, 96, 55, 55), kernel_size=3, stride=2))  # AlexNet's first pool

# %% [markdown]
# **Your task**, in `cnnlab/pooling.py`: the Numba kernel
#
# ```python
# _maxpool2d_forward_kernel(x, y, kh, kw, sh, sw, ph, pw)
# ```
#
# - Fill `y` (N, C, OH, OW) with the window maxima of `x` (N, C, H, W). Window `(oh, ow)` covers
#   input rows `oh*sh - ph + i` for `i` in `range(kh)` and columns `ow*sw - pw + j`.
# - Do not build a padded array: skip the rows and columns outside `0..H-1` / `0..W-1` (they are
#   the $-\infty$ padding). Start each window with `best = -np.inf`.
# - Walk each window in row-major order and replace `best` when `value > best`, or when `value` is
#   NaN: like PyTorch, a NaN in the window makes the output NaN.
#
# Worked example (Section 6's figure): the 2×4×4 input below, 2×2 windows, stride 2, gives
# $\begin{pmatrix} 6 & 8 \\ 3 & 4 \end{pmatrix}$ and
# $\begin{pmatrix} 5 & 7 \\ 9 & 6 \end{pmatrix}$.

# %% nbgrader={"grade": true, "grade_id": "check_maxpool2d_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Public checks of your maxpool2d_forward; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch03_backprop", "maxpool2d_forward", hidden=hidden)

# %%
worked = np.array([[[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]],
                   [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [3, 4, 5, 6]]], dtype=float)[None]
pooling.maxpool2d_forward(worked, kernel_size=2)

# %% [markdown]
# ### The gradient of a maximum
#
# Within its window, $y = \max(x_1, \dots, x_m)$ equals one of the inputs, the winner $x_k$, and
# small changes of the others do not change it. So $\partial y / \partial x_k = 1$ and
# $\partial y / \partial x_l = 0$ for every other $l$: **max pooling routes each upstream gradient,
# whole, to the input that won its window**, and every other input of the window gets nothing.
#
# The backward pass therefore needs to know each window's winner, its **max ID** (Caffe calls the
# array of them the *mask*, PyTorch returns them with `max_pool2d(..., return_indices=True)`).
# There are two ways to get it. Frameworks *record* it during the forward pass, at the price of one
# index per output kept in memory until the backward pass. Or the backward pass *recomputes* it from
# the input; that is what `pooling.maxpool2d_backward(dy, x, ...)` does, which is why it takes `x`.
#
# **Ties.** When several inputs share the maximum, the max is not differentiable, and any split of
# $\delta$ among the tied inputs is a valid subgradient. The convention, PyTorch's, is to give
# all of it to the **first maximum in row-major order** (the first one your forward loop meets).
# Ties are common in practice: zeros after a ReLU, saturated pixels, integer images.

# %% [markdown]
# **Your task**, in `cnnlab/pooling.py`: the Numba kernel
#
# ```python
# _maxpool2d_backward_kernel(dy, x, dx, kh, kw, sh, sw, ph, pw)
# ```
#
# - For every window `(n, c, oh, ow)`, recompute its argmax `(best_row, best_col)` exactly as
#   your forward kernel finds its maximum: same loop order, same comparison, so ties go to the
#   first maximum and a NaN wins.
# - Then `dx[n, c, best_row, best_col] += dy[n, c, oh, ow]`. `dx` (N, C, H, W) arrives filled
#   with zeros. It must be `+=`, not `=`: Section 8 shows what goes wrong otherwise.
# - An edge case: a window whose values are all $-\infty$ never replaces `best`. Like PyTorch,
#   start from its first in-bounds position: `best_row, best_col = max(oh*sh - ph, 0),
#   max(ow*sw - pw, 0)`.
#
# Worked example: with the upstream gradient
# $\begin{pmatrix} 1 & 2 \\ 2 & 4 \end{pmatrix}$,
# $\begin{pmatrix} 3 & 5 \\ 8 & 2 \end{pmatrix}$, channel 0 of $\partial L / \partial x$ gets
# 1 at (1, 1), 2 at (1, 3), 2 at (2, 0) and 4 at (3, 3), zeros elsewhere.

# %% nbgrader={"grade": true, "grade_id": "check_maxpool2d_backward", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Public checks of your maxpool2d_backward; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch03_backprop", "maxpool2d_backward", hidden=hidden)

# %% [markdown]
# ### Worked example
#
# The 2×4×4 input, pooled with 2×2 windows and stride 2 (the thin lines separate the windows, the
# winners are framed), the upstream gradient, and where it goes: each number lands on its window's
# winner.

# %%
upstream = np.array([[[1, 2], [2, 4]], [[3, 5], [8, 2]]], dtype=float)[None]
pooled = pooling.maxpool2d_forward(worked, 2)
routed = pooling.maxpool2d_backward(upstream, worked, 2)
_, axes = plt.subplots(2, 4, figsize=(9, 4))
for c in range(2):
    panels = [(worked[0, c], "gray", "input"), (pooled[0, c], "gray", "max pooled"),
              (upstream[0, c], "coolwarm", "upstream δ"), (routed[0, c], "coolwarm", "∂L/∂x")]
    for ax, (a, cmap, title) in zip(axes[c], panels, strict=True):
        heatmap(ax, a, f"channel {c}: {title}", cmap)
    for ax in axes[c, [0, 3]]:
        ax.axhline(1.5, color="black", linewidth=1)
        ax.axvline(1.5, color="black", linewidth=1)
    for row, col in zip(*np.nonzero(routed[0, c]), strict=True):
        axes[c, 0].add_patch(Rectangle((col - 0.45, row - 0.45), 0.9, 0.9, fill=False,
                                       edgecolor="tab:orange", linewidth=2.5))
plt.tight_layout()
plt.show()

# %% [markdown]
# A tie: every window of the input below holds its maximum twice. The gradient goes to the first
# one in row-major order, the top one in the left window, the left one in the right window.

# %%
tied = np.array([[5.0, 1.0, 3.0, 3.0], [5.0, 2.0, 0.0, 1.0]])[None, None]
show_grids([tied[0, 0], pooling.maxpool2d_backward(np.ones((1, 1, 1, 2)), tied, 2)[0, 0]],
           ["input with ties", "∂L/∂x for δ = 1"], cmaps=["gray", "coolwarm"], figsize=(6, 2))
plt.show()

# %% [markdown]
# ## 7. Average pooling, and where the gradient goes
#
# **Average pooling** keeps the mean of each window:
#
# $$y[n, c, o_h, o_w] = \frac{1}{K_H K_W} \sum_{i, j} x_\text{pad}[n, c,\ o_h S_H + i,\
# o_w S_W + j],$$
#
# with zero padding that counts in the divisor: the divisor is always $K_H K_W$ (PyTorch's
# default, `count_include_pad=True`).
#
# **Your task**, in `cnnlab/pooling.py`: the Numba kernel
#
# ```python
# _avgpool2d_forward_kernel(x, y, kh, kw, sh, sw, ph, pw)
# ```
#
# Fill `y` (N, C, OH, OW) with the window means. Skip the out-of-range positions (they are zeros:
# they add nothing to the sum), sum in row-major order in `x`'s dtype (start from
# `total = x.dtype.type(0)`), then divide by `kh * kw`. Worked example: the 2×4×4 input gives
# $\begin{pmatrix} 3.25 & 5.25 \\ 2 & 2 \end{pmatrix}$ and
# $\begin{pmatrix} 2.5 & 4.5 \\ 6 & 3 \end{pmatrix}$.

# %% nbgrader={"grade": true, "grade_id": "check_avgpool2d_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Public checks of your avgpool2d_forward; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch03_backprop", "avgpool2d_forward", hidden=hidden)

# %% [markdown]
# The two poolings on the 512×512 cameraman with 8×8 windows: with the maximum, bright details
# grow and dark ones shrink (the thin tripod legs become thick white lines); the mean is a plain
# blur.

# %%
camera = data.camera()[None, None] / 255.0
_, axes = plt.subplots(1, 3, figsize=(9, 3.2))
for ax, (a, title) in zip(axes, [(camera, "image, 512×512"),
                                 (pooling.maxpool2d_forward(camera, 8), "max pooled, 64×64"),
                                 (pooling.avgpool2d_forward(camera, 8), "average pooled, 64×64")],
                          strict=True):
    ax.imshow(a[0, 0], cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
plt.show()

# %% [markdown]
# ### The gradient of a mean
#
# Every input of a window enters its mean with weight $1 / (K_H K_W)$, so
# $\partial y / \partial x = 1 / (K_H K_W)$ for each of them: **average pooling spreads each
# upstream gradient evenly over its window**.
#
# **Your task**, in `cnnlab/pooling.py`: the Numba kernel
#
# ```python
# _avgpool2d_backward_kernel(dy, dx, kh, kw, sh, sw, ph, pw)
# ```
#
# For every window, compute its share `dy[n, c, oh, ow] / area` with
# `area = dy.dtype.type(kh * kw)` (so a float32 share stays float32, as in PyTorch) and add it
# (`+=`) to every in-bounds position of the window in `dx` (N, C, H, W), which arrives filled with
# zeros. Shares that fall on padding are dropped. Worked example: channel 0 of the gradient is
# 0.25 in the top-left 2×2 block, 0.5 in the top-right and bottom-left ones, 1 in the
# bottom-right one.

# %% nbgrader={"grade": true, "grade_id": "check_avgpool2d_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Public checks of your avgpool2d_backward; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch03_backprop", "avgpool2d_backward", hidden=hidden)

# %% [markdown]
# Max routes, average spreads, and both **preserve the total**: each $\delta$ is passed on whole
# (max) or in $K_H K_W$ shares that add up to it (average), so
# $\sum \partial L / \partial x = \sum \delta$. Channel 0 of the worked example:

# %%
spread = pooling.avgpool2d_backward(upstream, worked, 2)
show_grids([upstream[0, 0], routed[0, 0], spread[0, 0]],
           [f"δ: sum {upstream[0, 0].sum():g}", f"max: routed, sum {routed[0, 0].sum():g}",
            f"average: spread, sum {spread[0, 0].sum():g}"], figsize=(9, 2.8))
plt.show()

# %% [markdown]
# The total survives strides larger than the window (the skipped inputs get nothing, the others
# everything) and max pooling with padding (the padding never wins). It does not survive average
# pooling with padding: the shares that land on the padding are dropped.

# %%
x_sum = rng.standard_normal((2, 3, 9, 9))
print(f"{'pooling':8} {'window':>6} {'stride':>6} {'padding':>7}  {'sum δ':>8} {'sum ∂L/∂x':>10}")
for kind, window, stride, padding in [("max", 2, 2, 0), ("max", 2, 3, 0), ("max", 3, 2, 1),
                                      ("avg", 2, 2, 0), ("avg", 3, 2, 0), ("avg", 3, 2, 1)]:
    forward = getattr(pooling, f"{kind}pool2d_forward")
    backward = getattr(pooling, f"{kind}pool2d_backward")
    dy_sum = rng.standard_normal(forward(x_sum, window, stride, padding).shape)
    dx_sum = backward(dy_sum, x_sum, window, stride, padding)
    print(f"{kind:8} {window:>6} {stride:>6} {padding:>7}  {dy_sum.sum():8.4f} {dx_sum.sum():10.4f}")

# %% [markdown]
# **Your turn.** Average pooling is a convolution in disguise: a $K \times K$ kernel whose
# entries are all $1 / K^2$, applied to each channel on its own. Write `avgpool_as_conv(x, k, s)`
# with `conv.conv2d_forward` (hint: fold the channels into the batch,
# `x.reshape(N * C, 1, H, W)`, and unfold the result). The cell then checks that it matches
# `pooling.avgpool2d_forward`, and that the convolution's input gradient is the pooling gradient.

# %% nbgrader={"grade": false, "grade_id": "avgpool_as_conv", "locked": false, "schema_version": 3, "solution": true, "task": false}
def avgpool_as_conv(x, k, s):
    """k x k average pooling with stride s of x (N, C, H, W), as a convolution."""
    ### BEGIN SOLUTION
    n, c, h, w = x.shape
    kernel = np.full((1, 1, k, k), 1 / k**2)
    y = earlier.conv.conv2d_forward(x.reshape(n * c, 1, h, w), kernel, stride=s)
    return y.reshape(n, c, y.shape[2], y.shape[3])
    ### END SOLUTION


x_avg = rng.standard_normal((2, 3, 7, 7))
y_avg = avgpool_as_conv(x_avg, 3, 2)
print("forward equals avgpool2d_forward:", np.allclose(y_avg, pooling.avgpool2d_forward(x_avg, 3, 2)))
dy_avg = rng.standard_normal(y_avg.shape)
dx_conv = conv.conv2d_backward(dy_avg.reshape(6, 1, 3, 3), x_avg.reshape(6, 1, 7, 7),
                               np.full((1, 1, 3, 3), 1 / 9), stride=2)[0].reshape(x_avg.shape)
print("gradient equals avgpool2d_backward:",
      np.allclose(dx_conv, pooling.avgpool2d_backward(dy_avg, x_avg, 3, 2)))

# %% [markdown]
# ## 8. Overlapping pooling, and the `=` bug
#
# AlexNet pools with **3×3 windows and stride 2**: neighbouring windows share a row or a column
# (Krizhevsky et al. found it lowered the error a little, 0.3–0.4 %, against 2×2 windows with
# stride 2). Now one input can win several windows: the centre of a blob in a feature map is the
# maximum of all four windows around it. Its gradient is then the **sum** of the four upstream
# gradients, since it influences the loss along four paths.
#
# A backward pass that writes `dx[...] = dy[...]` instead of `dx[...] += dy[...]` keeps only the
# last of them. It passes every test with non-overlapping windows, where no input wins twice, and
# silently loses gradient as soon as windows overlap. Here it is, deliberately buggy, in NumPy:

# %%
def maxpool_backward_buggy(dy, x, k, s):
    """Max-pooling gradient of one (H, W) channel, with the classic bug."""
    dx = np.zeros_like(x)
    for oh in range(dy.shape[0]):
        for ow in range(dy.shape[1]):
            window = x[oh * s:oh * s + k, ow * s:ow * s + k]
            i, j = np.unravel_index(np.argmax(window), window.shape)  # first maximum, row-major
            dx[oh * s + i, ow * s + j] = dy[oh, ow]  # BUG: must be +=
    return dx


# %% [markdown]
# A 9×9 feature map with a blob in the middle, pooled 3×3 with stride 2 into 4×4, and an upstream
# gradient of ones, so that the correct $\partial L / \partial x$ counts how many windows each
# input won. The centre won four; the buggy version gives it 1 and loses 7 of the 16 units.

# %%
rows, cols = np.mgrid[:9, :9]
blob = np.exp(-((rows - 4) ** 2 + (cols - 4) ** 2) / 8) + 0.01 * rng.standard_normal((9, 9))
ones_dy = np.ones((4, 4))
correct = pooling.maxpool2d_backward(ones_dy[None, None], blob[None, None], 3, 2)[0, 0]
buggy = maxpool_backward_buggy(ones_dy, blob, 3, 2)
_, axes = plt.subplots(1, 3, figsize=(10, 3.6))
axes[0].imshow(blob, cmap="gray")
axes[0].set_title("input: a blob, 9×9", fontsize=10)
axes[0].set_xticks([])
axes[0].set_yticks([])
heatmap(axes[1], correct, f"correct (+=): sum {correct.sum():g}", fontsize=8)
heatmap(axes[2], buggy, f"buggy (=): sum {buggy.sum():g}", fontsize=8)
plt.show()

# %% [markdown]
# The same trap hides in NumPy's fancy indexing: with repeated indices, `dx.flat[winners] += dy`
# adds only once per index. `np.add.at(dx.flat, winners, dy)` accumulates correctly. Your Numba
# loop with `+=` does not have the problem.

# %% [markdown]
# ## 9. Global average pooling
#
# The extreme case of average pooling uses one window as large as the whole feature map:
#
# $$y[n, c] = \frac{1}{HW} \sum_{h, w} x[n, c, h, w].$$
#
# Network-in-Network, GoogLeNet and ResNet end this way: instead of flattening the last feature map
# into a large fully connected layer, they average each channel to a single number. That removes
# most of the parameters, and the network accepts images of any size. Its gradient spreads
# $\delta[n, c]$ evenly: every one of the $HW$ inputs of channel $(n, c)$ gets
# $\delta[n, c] / (HW)$.
#
# **Your task**, in `cnnlab/pooling.py`, plain NumPy (no Numba):
#
# - `global_avgpool2d_forward(x)`: return the (N, C, 1, 1) array of channel means, in `x`'s dtype
#   (like `x.mean((2, 3), keepdim=True)` in PyTorch).
# - `global_avgpool2d_backward(dy, x)`: return the (N, C, H, W) array with `dy[n, c, 0, 0] / (H*W)`
#   everywhere in channel `(n, c)`. Return a new, writable array: `np.broadcast_to` alone gives a
#   read-only view, so `.copy()` it.

# %% nbgrader={"grade": true, "grade_id": "check_global_avgpool2d", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Public checks of your global_avgpool2d; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch03_backprop", "global_avgpool2d", hidden=hidden)

# %% [markdown]
# It is average pooling with a window the size of the input, and any input size gives C numbers:

# %%
for size in (7, 13, 20):
    fmap = rng.standard_normal((1, 512, size, size))
    pooled_global = pooling.global_avgpool2d_forward(fmap)
    same = np.allclose(pooled_global, pooling.avgpool2d_forward(fmap, size))
    print(f"512 x {size}x{size} -> {pooled_global.shape}, equal to {size}x{size} average pooling: "
          f"{same}")

# %% [markdown]
# ## 10. Application: spatial pyramid pooling
#
# Fully connected layers need an input of fixed length, which is why classic CNNs crop or warp
# every image to 224×224. **Spatial pyramid pooling** (SPP-net, He et al., 2014) removes the
# constraint with max pooling alone. It pools the last feature map into a fixed *grid* of
# $n \times n$ bins, whatever its size, at several levels, and concatenates the results. For an
# $a \times a$ map and $n \times n$ bins the window is $\lceil a / n \rceil$ and the stride
# $\lfloor a / n \rfloor$. On the 13×13 conv5 map of a 224×224 image, a pyramid of 3×3, 2×2 and
# 1×1 bins uses
#
# | bins | window | stride | output |
# | --- | --- | --- | --- |
# | 3×3 | 5 | 4 | 3×3 |
# | 2×2 | 7 | 6 | 2×2 |
# | 1×1 | 13 | 13 | 1×1 |
#
# so every channel gives $9 + 4 + 1 = 14$ values, $14 \cdot 256 = 3584$ for conv5's 256 channels.
# (The pyramid in the paper's figure has 4×4, 2×2 and 1×1 bins: 21 values per channel,
# $21 \cdot 256 = 5376$ in all.)

# %%
conv5 = rng.standard_normal((1, 256, 13, 13))
spp_13 = {3: (5, 4), 2: (7, 6), 1: (13, 13)}  # bins: (window, stride)
levels = []
for bins, (window, stride) in spp_13.items():
    level = pooling.maxpool2d_forward(conv5, window, stride)
    print(f"{bins}x{bins} bins: window {window:2}, stride {stride:2} -> {level.shape}")
    levels.append(level.reshape(1, -1))
spp_vector = np.concatenate(levels, axis=1)
print("concatenated:", spp_vector.shape, "= 14 *", spp_vector.shape[1] // 14)

# %% [markdown]
# Which pixels does each level see? Max pooling itself can tell: feed one probe image per pixel,
# zero everywhere except a 1 at that pixel, and count the outputs that come out as 1, the windows
# containing that pixel (light blue: one window, darker: two or four, red: none). On the 13×13
# map every level covers every pixel; the 3×3 and 2×2 levels see the rows and columns where their
# windows overlap twice.

# %%
def coverage(size, window, stride):
    """How many pooling windows contain each pixel of a size x size map (0: never pooled)."""
    probes = np.eye(size * size).reshape(size * size, 1, size, size)  # one lit pixel per image
    hits = pooling.maxpool2d_forward(probes, window, stride)
    return hits.sum(axis=(1, 2, 3)).reshape(size, size)


def show_coverage(size, levels):
    _, axes = plt.subplots(1, len(levels), figsize=(9, 3.3))
    for ax, (bins, (window, stride)) in zip(axes, levels.items(), strict=True):
        counts = coverage(size, window, stride)
        ax.imshow(counts, cmap="Blues", vmin=0, vmax=4)
        never = np.ma.masked_where(counts > 0, counts)  # the pixels no window sees, in red
        ax.imshow(never, cmap="Reds_r", vmin=0, vmax=1)
        ax.set_title(f"{bins}×{bins} bins: window {window}, stride {stride}", fontsize=9)
        ax.set_xticks(range(0, size, 2))
        ax.set_yticks(range(0, size, 2))
        ax.tick_params(labelsize=7)
    plt.show()


show_coverage(13, spp_13)

# %% [markdown]
# **The 14×14 question.** A slightly larger image gives a 14×14 map. The rule gives windows and
# strides of 5/4, 7/7 and 14/14. Which rows (and columns) are never pooled? The 3×3 level's
# windows start at rows 0, 4 and 8 and the last one ends at row 12: **row 13 and column 13 are
# never seen** by that level, and the pixels there (red) cannot influence its bins, nor receive
# any gradient through them. The coarser levels still cover them.

# %%
spp_14 = {3: (5, 4), 2: (7, 7), 1: (14, 14)}
show_coverage(14, spp_14)
for name, levels_14 in [("rule for 14", spp_14), ("13's windows kept", spp_13)]:
    never = {bins: np.nonzero(coverage(14, *ws).sum(axis=1) == 0)[0].tolist()
             for bins, ws in levels_14.items()}
    print(f"{name:18} rows never pooled, per level: {never}")

# %% [markdown]
# Keeping the 13×13 windows unchanged would be worse: then no level at all sees row 13.
#
# **Your turn.** Write `spp_forward(x, levels)` for any (N, C, H, W) map: for each number of bins
# `n` in `levels`, max-pool with window $\lceil H / n \rceil \times \lceil W / n \rceil$ and stride
# $\lfloor H / n \rfloor \times \lfloor W / n \rfloor$ (use `pooling.maxpool2d_forward`), flatten
# each level to (N, C·n²), and concatenate the levels along axis 1. The cell checks that maps of
# different sizes all give $14 C$ values.

# %% nbgrader={"grade": false, "grade_id": "spp_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def spp_forward(x, levels=(3, 2, 1)):
    """Spatial pyramid pooling of x (N, C, H, W): an (N, C * sum(n * n for n in levels)) array."""
    ### BEGIN SOLUTION
    n_batch, _, h, w = x.shape
    parts = []
    for n in levels:
        window, stride = (-(-h // n), -(-w // n)), (h // n, w // n)
        parts.append(pooling.maxpool2d_forward(x, window, stride).reshape(n_batch, -1))
    return np.concatenate(parts, axis=1)
    ### END SOLUTION


print("13x13 equals the vector above:", np.array_equal(spp_forward(conv5), spp_vector))
for shape in [(13, 13), (14, 14), (20, 17), (9, 30)]:
    out = spp_forward(rng.standard_normal((2, 8, *shape)))
    print(f"map {shape} -> {out.shape}")
    assert out.shape == (2, 14 * 8)

# %% [markdown]
# ## 11. Learning a kernel
#
# Time to use the backward pass for what it is for. Chapter 1's Sobel filter was designed by hand;
# can gradient descent find it from examples alone? Make input/output pairs with the true kernel,
# start from a kernel of zeros, and follow the gradient of the mean squared error
#
# $$L(w) = \frac{1}{2M} \sum \bigl(x \star w - x \star w_\text{Sobel}\bigr)^2,$$
#
# over the $M$ output pixels. Its upstream gradient is $\delta = (x \star w - \text{target}) / M$,
# and your `conv.conv2d_backward_weight` turns it into $\partial L / \partial w$ (the images are
# data, not parameters: their gradient is not needed). The first training set
# is 16 images of random noise, 24×24.

# %%
true_kernel = earlier.edges.SOBEL_X[None, None]  # (O, C, KH, KW) = (1, 1, 3, 3)


def train(x, steps, lr=0.15, desc="gradient descent"):
    """Learn a 3x3 kernel from x and conv2d_forward(x, SOBEL_X); return it and the losses."""
    target = earlier.conv.conv2d_forward(x, true_kernel)
    w = np.zeros((1, 1, 3, 3))
    losses = []
    for _ in tqdm(range(steps), desc=desc):
        residual = earlier.conv.conv2d_forward(x, w) - target
        losses.append(0.5 * np.mean(residual**2))
        w -= lr * conv.conv2d_backward_weight(residual / residual.size, x, w.shape)
    return w[0, 0], np.array(losses)


noise = rng.standard_normal((16, 1, 24, 24))
learned_noise, losses_noise = train(noise, steps=400, desc="noise images")
print("largest error of the learned kernel:", np.abs(learned_noise - earlier.edges.SOBEL_X).max())

# %% [markdown]
# Now the same with 16 crops of the cameraman, 32×32, standardised to mean 0 and variance 1 like
# the noise.

# %%
corners = rng.integers(0, 512 - 32, size=(16, 2))
crops = np.stack([camera[0, :, r:r + 32, c:c + 32] for r, c in corners])
crops = (crops - crops.mean()) / crops.std()
learned_photo, losses_photo = train(crops, steps=400, desc="photo crops")
print("largest error of the learned kernel:", np.abs(learned_photo - earlier.edges.SOBEL_X).max())

# %%
fig = plt.figure(figsize=(10, 3.2))
ax = fig.add_subplot(1, 4, 1)
ax.semilogy(losses_noise, label="noise")
ax.semilogy(losses_photo, label="photo crops")
ax.set_xlabel("step")
ax.set_title("loss", fontsize=10)
ax.legend(fontsize=8)
for k, (kernel, title) in enumerate([(learned_noise, "learned on noise"),
                                     (learned_photo, "learned on photos"),
                                     (earlier.edges.SOBEL_X, "SOBEL_X")]):
    heatmap(fig.add_subplot(1, 4, k + 2), kernel.round(3) + 0.0, title)  # + 0.0: no "-0"
plt.tight_layout()
plt.show()

# %% [markdown]
# On noise the loss falls by a constant factor every step until it reaches the round-off floor,
# and the kernel is recovered to the last digits. On photographs it falls fast at first, then
# crawls. The reason is the data, not the code. In a photograph neighbouring pixels are nearly
# equal, so a change of the kernel that adds $+\epsilon$ to one weight and $-\epsilon$ to its
# neighbour hardly changes any output, while a change of all nine weights together changes every
# output a lot. The loss is a long, narrow valley: steep across, almost flat along. The step size
# has to be small enough for the steep direction, and then progress along the flat one is slow.
# The curvatures are the eigenvalues of $\frac{1}{M} \sum_p p\, p^\top$ over the 3×3 patches $p$
# (chapter 2's `im2col` lists them):

# %%
for name, images in [("noise", noise), ("photo crops", crops)]:
    patches = earlier.conv.im2col(images, 3).transpose(1, 0, 2).reshape(9, -1)
    curvatures = np.linalg.eigvalsh(patches @ patches.T / patches.shape[1])
    print(f"{name:12} curvatures from {curvatures.min():.4f} to {curvatures.max():.2f}: "
          f"ratio {curvatures.max() / curvatures.min():,.0f}")

# %% [markdown]
# This is one reason networks normalise their inputs, and why practical optimisers (momentum, Adam)
# do better than plain gradient descent on such valleys.
#
# ## 12. Summary
#
# - A layer's backward pass turns the upstream gradient $\delta = \partial L / \partial Y$ into the
#   gradients of its input and its parameters, by the chain rule: sum over every path.
# - **Convolution**: $\partial L / \partial x$ is the full convolution of $\delta$ with the kernel
#   (full correlation with the kernel rotated by 180°), $\partial L / \partial w$ the correlation of
#   the input with $\delta$, $\partial L / \partial b$ the sum of $\delta$. Channels and batches add
#   sums over $o$ and $n$; a stride dilates $\delta$ with zeros; padding is cropped off. As loops,
#   the backward pass is the forward loop nest that scatters with `+=`.
# - **Gradient checking** compares with centred differences in float64 ($\varepsilon = 10^{-6}$),
#   by the relative error. The error is a V in $\varepsilon$: truncation on the right, round-off on
#   the left; float32 is too coarse.
# - **Pooling** has no parameters. Max pooling routes each gradient to its window's winner (first
#   maximum on ties), average pooling spreads it evenly, and both preserve the total. Overlapping
#   windows accumulate gradients on shared inputs: `+=`, never `=`.
# - **Global average pooling** and **spatial pyramid pooling** turn a feature map of any size into
#   a vector of fixed length.
# - Your backward pass recovers the Sobel kernel by gradient descent; how fast depends on the data.
#
# ### Exercises
#
# 1. **Backward with less memory.** Your `conv2d_backward_gemm` holds the columns of the whole
#    batch at once: C·KH·KW times the input's memory. Compute `dw` and `dx` block of images by
#    block of images instead, and measure time and peak memory against the block size. Which
#    block size keeps the columns in the processor's cache?
# 2. **Recorded max IDs.** Write a NumPy max pooling that returns the flat index of each window's
#    winner along with the output, and a backward pass that uses them. Show that
#    `dx.flat[ids] += dy` fails on AlexNet's 3×3, stride-2 pooling and that `np.add.at` fixes it.
#    How much memory do the indices cost for a 96×55×55 map?
# 3. **When the SPP rule fails.** For which map sizes $a$ does window $\lceil a/n \rceil$, stride
#    $\lfloor a/n \rfloor$ give more than $n$ bins? Try $a = 5$, $n = 3$. PyTorch's adaptive pooling
#    uses bin $i$ from $\lfloor i a / n \rfloor$ to $\lceil (i + 1) a / n \rceil$ instead: implement
#    it with a loop and check that it always gives $n$ bins and never skips a row.
