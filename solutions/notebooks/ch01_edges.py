# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 1 — Edge detection
#
# Why does almost every vision network begin with small filters that slide across the image? And
# where do the edges in a photograph come from? Both questions have the same answer: **2-D
# cross-correlation**. In this chapter you build it up from a 4×4 toy example, use it to find
# edges in tiny images and then in a real photograph, and write it as fast compiled code in your
# own `cnnlab` package.
#
# **What you write.** Three functions in the package file `cnnlab/edges.py`: it sits next to this
# notebook (in a clone of the course repository it is `src/cnnlab/edges.py`). Open it in the
# editor; each function says `# YOUR CODE HERE` where your code goes.
#
# | function | what it computes | points |
# | --- | --- | --- |
# | `correlate2d` and its Numba kernel `_correlate2d_valid` | cross-correlation, modes "valid", "same", "full" | 6 |
# | `convolve2d` | convolution | 5 |
# | `gradient_magnitude` | edge strength $\sqrt{g_x^2 + g_y^2}$ | 2 |
#
# **How the checks work.** Right after the section that derives a function comes its *check cell*:
# run it for instant feedback, one ✔ or ✘ per public check. The grader later runs the same cell
# with more, hidden tests. A check always grades your latest saved file. The notebook's own
# `edges` module is another matter: the first code cell turns on `autoreload`, so your edits reach
# the notebook when you re-run a cell. If a result still looks stale, restart the kernel
# (*Kernel → Restart*) and run from the top.
#
# Cells marked **Your turn** are small, ungraded exercises inside the notebook: replace
# `raise NotImplementedError()` with your answer.

# %%
# %load_ext autoreload
# %autoreload 2

import matplotlib.pyplot as plt
import numpy as np
import scipy.signal
from matplotlib.patches import Rectangle
from skimage import data

from autograder import check
from cnnlab import edges
from cnnlab.plots import show_grids

# %% [markdown]
# `show_grids` (from `cnnlab.plots`) draws small arrays as heatmaps with every number written in
# its cell. Images are gray (dark is small, bright is large); filters and responses use red for
# positive, blue for negative and white for zero.

# %% [markdown]
# ## 1. Why not a fully connected layer?
#
# A fully connected layer connects every input to every output unit. A 1000×1000 RGB photograph
# has $1000 \cdot 1000 \cdot 3 = 3 \times 10^6$ inputs, so a layer of just 1000 units needs
#
# $$3 \times 10^6 \cdot 10^3 = 3 \times 10^9 \text{ weights},$$
#
# 12 GB in float32, for a single layer. Two facts about images cut this down to almost nothing:
#
# - **Locality.** Whether a pixel lies on an edge depends on its neighbours, not on pixels at the
#   far side of the image. So an output unit needs to see only a small window, say 3×3.
# - **Translation invariance.** An edge looks the same in a corner as in the centre. So every
#   output position can use the *same* weights: **weight sharing**.
#
# Together they leave one 3×3 filter: $9$ weights and $1$ bias, whatever the size of the image
# (on a grayscale image; an RGB filter has $3 \cdot 3 \cdot 3 = 27$, as chapter 2 shows).

# %%
height, width, channels, units = 1000, 1000, 3, 1000
fc_weights = height * width * channels * units
filter_weights = 3 * 3 + 1  # one 3x3 filter and its bias, shared by every position
print(f"fully connected: {fc_weights:,} weights ({4 * fc_weights / 1e9:.0f} GB in float32)")
print(f"one 3x3 filter:  {filter_weights} weights")

# %% [markdown]
# The gap grows with the image: the fully connected layer grows with the number of pixels, the
# filter does not grow at all.

# %%
sides = np.array([32, 64, 128, 256, 512, 1024])
plt.figure(figsize=(5, 3))
plt.loglog(sides, sides**2 * channels * units, "o-", label="fully connected, n×n×3 → 1000")
plt.loglog(sides, np.full(sides.shape, filter_weights), "s-", label="one 3×3 filter and bias")
plt.xlabel("image side n")
plt.ylabel("weights")
plt.legend()
plt.show()

# %% [markdown]
# **Your turn.** ImageNet networks usually see 224×224 RGB crops. How many weights (no biases)
# would a fully connected layer from such an image to 4096 units need? Store the number in
# `fc_weights_224`.

# %% nbgrader={"grade": false, "grade_id": "fc_weights_224", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
fc_weights_224 = 224 * 224 * 3 * 4096
### END SOLUTION
print(f"{fc_weights_224:,} weights: about {fc_weights_224 / 61e6:.0f}× all 61 million "
      "parameters of AlexNet")

# %% [markdown]
# ## 2. Cross-correlation and convolution
#
# Slide a $k_h \times k_w$ **kernel** (or filter) $K$ over an image $X$. At every position,
# multiply the kernel with the window of the image under it, element by element, and add up:
#
# $$Y[i, j] = \sum_{u=0}^{k_h - 1} \sum_{v=0}^{k_w - 1} X[i + u,\ j + v]\, K[u, v].$$
#
# The window has to stay inside the image, so $0 \le i \le n_h - k_h$ and
# $0 \le j \le n_w - k_w$: an $n_h \times n_w$ image gives an output of
# $(n_h - k_h + 1) \times (n_w - k_w + 1)$. This is **cross-correlation** in "valid" mode. It is
# exactly what a deep-learning "convolution layer" computes.

# %%
X = np.arange(16.0).reshape(4, 4)
K = np.array([[0.0, 1.0], [2.0, 3.0]])
X, K

# %% [markdown]
# The 4×4 image and the 2×2 kernel give a 3×3 output. Take the element $Y[1, 2]$: its window is
# rows 1–2 and columns 2–3 of $X$, and
#
# $$Y[1, 2] = 6 \cdot 0 + 7 \cdot 1 + 10 \cdot 2 + 11 \cdot 3 = 60.$$

# %%
window = X[1:3, 2:4]
window * K, (window * K).sum()

# %% [markdown]
# The same computation as a picture: the window over the image, the kernel, and their products.

# %%
axes = show_grids([X, K, window * K], ["image X, window of Y[1, 2]", "kernel K",
                                      "window ⊙ K: sum = 60"], cmaps=["gray", "coolwarm", "coolwarm"])
axes[0].add_patch(Rectangle((1.5, 0.5), 2, 2, fill=False, edgecolor="tab:orange", linewidth=3))
plt.show()

# %% [markdown]
# In mathematics and signal processing, **convolution** runs through the kernel backwards:
#
# $$(X * K)[i, j] = \sum_{u=0}^{k_h - 1} \sum_{v=0}^{k_w - 1} X[i + u,\ j + v]\,
# K[k_h - 1 - u,\ k_w - 1 - v].$$
#
# That is cross-correlation with the kernel **rotated by 180°** (flipped upside down and left to
# right). The flip makes convolution commutative and associative (blurring twice is blurring
# once with the convolved kernel), and it is the convention in which the classic edge filters
# were written. For a *learned* kernel the flip does not matter, since the network simply learns
# the rotated weights, so deep-learning libraries skip it. For a kernel that is symmetric under
# rotation the two operations agree.

# %%
K_rotated = K[::-1, ::-1]
print(np.array_equal(K_rotated, np.rot90(K, 2)))
print("convolution, element [1, 2]:", (window * K_rotated).sum())  # 6·3 + 7·2 + 10·1 + 11·0

# %% [markdown]
# Rotating the vertical-edge filter we meet in Section 4 just flips its sign: convolving with it
# is correlating with its negative.

# %%
vertical = np.array([[1.0, 0.0, -1.0]] * 3)
show_grids([K, K_rotated, vertical, vertical[::-1, ::-1]],
           ["K", "K rotated 180°", "vertical-edge filter", "rotated 180°"], figsize=(10, 2.7))
plt.show()

# %% [markdown]
# ## 3. Your first exercise: `correlate2d`
#
# ```python
# edges.correlate2d(image, kernel, mode="valid") -> out
# ```
#
# - `image` is an (H, W) array, `kernel` a (KH, KW) array, of any real dtype. `out` is a float
#   array: float32 stays float32, anything else becomes float64.
# - `mode="valid"` is the formula of Section 2: the kernel stays entirely inside the image and
#   `out` has shape (H − KH + 1, W − KW + 1). All worked examples of Section 4 use it.
# - `mode="same"` and `mode="full"` first surround the image with zeros, then do a "valid"
#   correlation of the padded image. "same" pads (KH − 1)//2 rows on top and KH//2 at the
#   bottom (and likewise (KW − 1)//2 columns on the left and KW//2 on the right), so `out` is H×W.
#   "full" pads KH − 1 rows and KW − 1 columns on every side, so `out` is
#   (H + KH − 1)×(W + KW − 1). Section 5 shows why you want them; the check already tests them.
#
# **Your task**, in `cnnlab/edges.py`:
#
# 1. `_correlate2d_valid(image, kernel)`, the Numba kernel (`@njit`): the formula as four nested
#    loops, over output rows `i`, output columns `j`, kernel rows `u` and kernel columns `v`.
#    Allocate the output with `np.zeros(..., dtype=image.dtype)` so float32 stays float32.
# 2. `correlate2d(image, kernel, mode)`: below the lines that validate the inputs, pad the image
#    as `mode` says (`np.pad`) and return `_correlate2d_valid(padded, kernel)`.
#
# Tips: in Numba, plain loops are the fast way (a slice-and-sum would allocate a temporary array
# for every output pixel). Numba compiles on the first call, which takes a second or two, and its
# error messages are long: read the last lines first. To step through your loops as plain Python,
# call `edges._correlate2d_valid.py_func(image, kernel)`.
#
# Try it on the toy example: `Y[1, 2]` must be the 60 you computed by hand.

# %%
Y = edges.correlate2d(X, K)
Y

# %% [markdown]
# **Reading a check cell.** While it runs it shows `checking correlate2d (...): k of n tests done`,
# then a ✔ or ✘ line per check (a ✘ names the case, the first wrong value with got vs expected,
# the known mistake your result matches if it is one, and heatmaps of expected, got and their
# difference where the data is an image); the number it ends with is the points the cell earned:
# with `hidden = False`, as here, only its public checks ran, and when your notebook is graded
# `hidden` is `True` and the same cell runs the hidden tests too. If a Numba kernel fails with an
# error you cannot make sense of, or you want `print()` inside it, grade it as plain Python in a
# terminal: `python -m autograder grade ch01 --no-jit` (slower: Numba compiles nothing, so
# tracebacks point at your line, and the feedback shows what your code printed).

# %% nbgrader={"grade": true, "grade_id": "check_correlate2d", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
# Public checks of your correlate2d; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch01_edges", "correlate2d", hidden=hidden)

# %% [markdown]
# SciPy has the same function, `scipy.signal.correlate2d`. On a random non-square image and
# kernel, the two agree in every mode:

# %%
rng = np.random.default_rng(0)
image, kernel = rng.standard_normal((7, 9)), rng.standard_normal((3, 4))
for mode in edges.MODES:
    ours = edges.correlate2d(image, kernel, mode)
    same = np.allclose(ours, scipy.signal.correlate2d(image, kernel, mode))
    print(f"{mode:5}  output {ours.shape}  equal to SciPy: {same}")

# %% [markdown]
# ## 4. Finding edges in tiny images
#
# An edge is a place where the brightness changes abruptly. The **vertical-edge filter**
#
# $$K_v = \begin{pmatrix} 1 & 0 & -1 \\ 1 & 0 & -1 \\ 1 & 0 & -1 \end{pmatrix}$$
#
# subtracts the column to the right of a pixel from the column to its left: zero where the
# image is flat, large where it changes from left to right. Take the classic 6×6 image below.
# The first output element uses the top-left 3×3 window (columns 3, 1, 2 / 0, 5, 7 / 1, 8, 2):
#
# $$Y[0, 0] = 3 \cdot 1 + 1 \cdot 1 + 2 \cdot 1 + 0 + 0 + 0 + 1 \cdot (-1) + 8 \cdot (-1) +
# 2 \cdot (-1) = -5.$$

# %%
worked = np.array([[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3],
                   [0, 1, 3, 1, 7, 8], [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]])
edges.correlate2d(worked, vertical)

# %% [markdown]
# The numbers of a random-looking image are hard to read. An image whose left half is bright
# (10) and right half dark (0) makes the point: the flat halves give 0, and the edge between
# them shows as a band of 30s.

# %%
bright_dark = np.array([[10, 10, 10, 0, 0, 0]] * 6)
show_grids([bright_dark, vertical, edges.correlate2d(bright_dark, vertical)],
           ["image", "vertical-edge filter", "output"], cmaps=["gray", "coolwarm", "coolwarm"])
plt.show()

# %% [markdown]
# The band is two pixels wide only because the image is tiny: on a 1000×1000 photograph it is a
# thin line. The sign tells the direction of the change: a dark-to-bright edge gives −30.

# %%
edges.correlate2d(bright_dark[:, ::-1], vertical)

# %% [markdown]
# The transpose $K_h = K_v^\top$ compares the row above with the row below: it finds
# **horizontal** edges. An image made of four quadrants has both kinds. Each filter sees only its
# own kind, with a sign that flips where the change reverses direction; the weaker ±10s sit next
# to the centre, where the four quadrants meet.

# %%
quadrants = np.array([[10, 10, 10, 0, 0, 0]] * 3 + [[0, 0, 0, 10, 10, 10]] * 3)
horizontal = vertical.T
show_grids([quadrants, vertical, edges.correlate2d(quadrants, vertical),
            horizontal, edges.correlate2d(quadrants, horizontal)],
           ["image", "K_v", "vertical edges", "K_h = K_vᵀ", "horizontal edges"],
           cmaps=["gray"] + ["coolwarm"] * 4, figsize=(10, 2.4), fontsize=8)
plt.show()

# %% [markdown]
# **Your turn.** The image below is bright above its diagonal and dark below it. Write a 3×3
# kernel `diagonal` that gives 0 on flat regions and a positive band along the diagonal edge, and
# never a negative response on this image. (Hint: where are the bright pixels relative to a
# pixel on the edge?)

# %% nbgrader={"grade": false, "grade_id": "diagonal_kernel", "locked": false, "schema_version": 3, "solution": true, "task": false}
diagonal_image = np.triu(np.full((6, 6), 10.0))
### BEGIN SOLUTION
diagonal = np.array([[0, 1, 1], [-1, 0, 1], [-1, -1, 0]])
### END SOLUTION
response = edges.correlate2d(diagonal_image, diagonal)
assert np.isclose(np.sum(diagonal), 0), "a flat region must give 0: the weights must sum to 0"
assert response.min() >= 0 and response.max() > 0, "the band must be positive"
show_grids([diagonal_image, diagonal, response], ["image", "your kernel", "output"],
           cmaps=["gray", "coolwarm", "coolwarm"])
plt.show()

# %% [markdown]
# ## 5. Padding: "same" and "full" modes, and `convolve2d`
#
# A "valid" correlation shrinks the image by $k - 1$ in each direction, and the border pixels
# take part in fewer windows than the central ones. The fix is to **pad** the image with zeros
# before sliding the kernel over it:
#
# - **same**: pad $k - 1$ rows in total, so the output has the size of the input. For an odd
#   $k$ that is $(k-1)/2$ on each side. For an even $k$ the total is odd and one side gets one
#   more: `correlate2d` (like SciPy) puts $\lfloor (k-1)/2 \rfloor$ on top and
#   $\lfloor k/2 \rfloor$ at the bottom.
# - **full**: pad $k - 1$ on every side, so every position where the kernel overlaps the image in
#   at least one pixel gives an output: $n + k - 1$.
#
# Below, a 3×3 kernel at its first position over the 4×4 image of Section 2, in each mode
# (padding in gray, image outlined in black).

# %%
_, axes = plt.subplots(1, 3, figsize=(9, 3.3))
for ax, mode, pad in zip(axes, edges.MODES, (0, 1, 2), strict=True):
    padded = np.pad(X + 1, pad)  # +1: image pixels show lighter than the zero padding
    ax.imshow(padded > 0, cmap="Greys_r", vmin=-1.5, vmax=1)
    ax.add_patch(Rectangle((pad - 0.5, pad - 0.5), 4, 4, fill=False, edgecolor="black", lw=2))
    ax.add_patch(Rectangle((-0.4, -0.4), 2.8, 2.8, fill=False, edgecolor="tab:orange", lw=3))
    shape = edges.output_shape(X.shape, (3, 3), mode)
    ax.set_title(f'"{mode}": pad {pad}, output {shape[0]}×{shape[1]}', fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()

# %%
for mode in edges.MODES:
    print(f"{mode:5}", edges.correlate2d(X, np.ones((3, 3)), mode).shape)

# %% [markdown]
# **Your task**, in `cnnlab/edges.py`: `convolve2d(image, kernel, mode)`, convolution as
# correlation with the rotated kernel `kernel[::-1, ::-1]`. In "valid" and "full" mode that is
# all there is: reuse your `correlate2d`.
#
# The subtlety is "same" mode with an even-sized kernel. The kernel's *centre*, the element that
# lands on output pixel $(i, j)$, is row $\lfloor (k-1)/2 \rfloor$ (that is what the padding of
# `correlate2d` means). Rotating the kernel moves that element to row
# $k - 1 - \lfloor (k-1)/2 \rfloor = \lfloor k/2 \rfloor$: the rotation **also mirrors the centre**.
# So `convolve2d` in "same" mode pads $\lfloor k/2 \rfloor$ rows on top and
# $\lfloor (k-1)/2 \rfloor$ at the bottom (the mirror image of `correlate2d`'s), and likewise for
# columns, exactly like `scipy.signal.convolve2d`. For odd $k$ both are $(k-1)/2$. Either pad
# yourself and call `_correlate2d_valid`, or cut the right H×W block out of the "full" result.
#
# Worked example: the image $1, \dots, 9$ as a 3×3 array, convolved in "same" mode with
#
# $$K = \begin{pmatrix} -1 & -2 & -1 \\ 0 & 0 & 0 \\ 1 & 2 & 1 \end{pmatrix},
# \qquad
# \text{rotated: } \begin{pmatrix} 1 & 2 & 1 \\ 0 & 0 & 0 \\ -1 & -2 & -1 \end{pmatrix}.$$
#
# For the centre pixel the rotated kernel covers the whole image:
#
# $$Y[1, 1] = 1 \cdot 1 + 2 \cdot 2 + 3 \cdot 1 + 0 + 7 \cdot (-1) + 8 \cdot (-2) + 9 \cdot (-1)
# = 8 - 32 = -24.$$
#
# The full answer is $\begin{pmatrix} -13 & -20 & -17 \\ -18 & -24 & -18 \\ 13 & 20 & 17
# \end{pmatrix}$. The check cell below tests it.

# %% nbgrader={"grade": true, "grade_id": "check_convolve2d", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
# Public checks of your convolve2d; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch01_edges", "convolve2d", hidden=hidden)

# %%
nine = np.arange(1, 10).reshape(3, 3)
edges.convolve2d(nine, [[-1, -2, -1], [0, 0, 0], [1, 2, 1]], mode="same")

# %% [markdown]
# The mirrored centre in action: with a 2×2 kernel, correlating with the rotated kernel in
# "same" mode gives a *shifted* answer; `convolve2d` agrees with SciPy.

# %%
k2 = np.array([[1.0, 2.0], [3.0, 4.0]])
reference = scipy.signal.convolve2d(X, k2, "same")
print("convolve2d equals SciPy:                   ",
      np.allclose(edges.convolve2d(X, k2, "same"), reference))
print("correlate2d with rotated kernel equals SciPy:",
      np.allclose(edges.correlate2d(X, k2[::-1, ::-1], "same"), reference))

# %% [markdown]
# ## 6. Sobel, Prewitt and the gradient magnitude
#
# Think of the image as a function $I(x, y)$. An edge is where it changes fast, that is where the
# **gradient** $\nabla I = (\partial I / \partial x,\ \partial I / \partial y)$ is large. On a pixel
# grid the central difference approximates the derivative,
#
# $$\frac{\partial I}{\partial x}[i, j] \approx \frac{I[i, j + 1] - I[i, j - 1]}{2},$$
#
# and correlating with the row $(1, 0, -1)$ gives $I[i, j - 1] - I[i, j + 1]$: twice the
# derivative, with the sign flipped. (*Convolving* with $(1, 0, -1)$ gives it with the right
# sign: the classic filters are written for convolution. For edge strength the sign does not
# matter.) A single row is sensitive to noise, so the classic filters also average over three
# rows, perpendicular to the derivative:
#
# $$\text{Prewitt}_x = \begin{pmatrix}1\\1\\1\end{pmatrix} \begin{pmatrix}1 & 0 & -1\end{pmatrix}
# = \begin{pmatrix} 1 & 0 & -1 \\ 1 & 0 & -1 \\ 1 & 0 & -1 \end{pmatrix},
# \qquad
# \text{Sobel}_x = \begin{pmatrix}1\\2\\1\end{pmatrix} \begin{pmatrix}1 & 0 & -1\end{pmatrix}
# = \begin{pmatrix} 1 & 0 & -1 \\ 2 & 0 & -2 \\ 1 & 0 & -1 \end{pmatrix}.$$
#
# Prewitt is our vertical-edge filter; Sobel weighs the centre row twice. Their transposes give
# $g_y$. With $g_x$ and $g_y$ at every pixel, the **gradient magnitude**
#
# $$G = \sqrt{g_x^2 + g_y^2}$$
#
# measures the edge strength in every direction at once (and $\operatorname{atan2}(g_y, g_x)$ its
# direction). `edges.sobel(image)` and `edges.prewitt(image)` return the pair `(gx, gy)`, in
# "same" mode by default so that they have the image's size.

# %%
show_grids([edges.PREWITT_X, edges.PREWITT_Y, edges.SOBEL_X, edges.SOBEL_Y],
           ["PREWITT_X", "PREWITT_Y", "SOBEL_X", "SOBEL_Y"], figsize=(10, 2.7))
plt.show()

# %% [markdown]
# **Your task**, in `cnnlab/edges.py`: `gradient_magnitude(image, operator="sobel", mode="same")`.
# Get `gx, gy` from the operator's function (`OPERATORS[operator]` maps "sobel" to `sobel` and
# "prewitt" to `prewitt`; pass `mode` on) and return $\sqrt{g_x^2 + g_y^2}$, elementwise. The
# result is non-negative, has the shape of `gx`, and keeps its dtype.

# %% nbgrader={"grade": true, "grade_id": "check_gradient_magnitude", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Public checks of your gradient_magnitude; the hidden tests of this cell grade it on many random cases.
hidden = False
### BEGIN HIDDEN TESTS
hidden = True
### END HIDDEN TESTS
check("ch01_edges", "gradient_magnitude", hidden=hidden)

# %% [markdown]
# A bright disc on a dark background shows what each part sees: $g_x$ lights up on the left and
# right of the disc (red for bright-to-dark, blue for dark-to-bright, left to right), $g_y$ on top
# and bottom, and the magnitude is an (almost) even ring all the way round.

# %%
rows, cols = np.mgrid[:40, :40]
disc = ((rows - 19.5) ** 2 + (cols - 19.5) ** 2 < 12**2).astype(float)
gx, gy = edges.sobel(disc)
_, axes = plt.subplots(1, 4, figsize=(10, 2.8))
panels = [(disc, "disc", "gray"), (gx, "gx", "coolwarm"), (gy, "gy", "coolwarm"),
          (edges.gradient_magnitude(disc), "magnitude", "gray")]
for ax, (a, title, cmap) in zip(axes, panels, strict=True):
    limit = np.abs(a).max()
    ax.imshow(a, cmap=cmap, vmin=0 if cmap == "gray" else -limit, vmax=limit)
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# **Your turn.** An image steps from 0 to 1 between two columns, `[0, 0, 0, 1, 1, 1]` in every
# row. By hand: what is the Sobel gradient magnitude on the edge, and what is the Prewitt one?
# Store the two numbers in `sobel_on_step` and `prewitt_on_step`; the cell then compares them
# with your `gradient_magnitude`.

# %% nbgrader={"grade": false, "grade_id": "step_edge_magnitude", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
sobel_on_step = 1 + 2 + 1  # each row gives I[j-1] - I[j+1] = -1, weighted 1, 2, 1
prewitt_on_step = 1 + 1 + 1
### END SOLUTION
step = np.array([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]] * 5)
for name, by_hand in (("sobel", sobel_on_step), ("prewitt", prewitt_on_step)):
    computed = edges.gradient_magnitude(step, name, mode="valid")
    print(f"{name:7} by hand {by_hand}, computed (valid mode):\n{computed}")

# %% [markdown]
# ## 7. Separable filters
#
# The Sobel filter is an outer product of two vectors: a smoothing column $c = (1, 2, 1)^\top$ and
# a difference row $r = (1, 0, -1)$. A kernel $K = c\, r^\top$ is **separable**: 6 numbers
# describe what took 9, and the sum splits into two 1-D passes,
#
# $$\sum_{u, v} X[i + u, j + v]\, c[u]\, r[v]
# = \sum_v r[v] \underbrace{\sum_u c[u]\, X[i + u, j + v]}_{\text{correlate the columns with } c}.$$

# %%
print(np.array_equal(edges.SOBEL_X, np.outer(edges.SOBEL_SMOOTH, edges.SOBEL_DIFF)))
print(np.outer([1, 2, 1], [1, 0, -1]))

# %% [markdown]
# `edges.correlate2d_separable(image, column, row, mode)` does the two passes (with your
# `correlate2d`). It agrees with the 2-D correlation up to rounding:

# %%
image = rng.standard_normal((20, 30))
for mode in edges.MODES:
    two_d = edges.correlate2d(image, edges.SOBEL_X, mode)
    separable = edges.correlate2d_separable(image, edges.SOBEL_SMOOTH, edges.SOBEL_DIFF, mode)
    print(f"{mode:5}", np.allclose(two_d, separable))

# %% [markdown]
# What it saves: a $K \times K$ kernel costs $K^2$ multiplications per output pixel, its two
# factors $2K$. The saving grows with $K$.

# %%
sizes = np.array([3, 5, 7, 11])
plt.figure(figsize=(5, 3))
bars_2d = plt.bar(np.arange(4) - 0.2, sizes**2, width=0.4, label="2-D kernel: K²")
bars_sep = plt.bar(np.arange(4) + 0.2, 2 * sizes, width=0.4, label="separable: 2K")
plt.bar_label(bars_2d)
plt.bar_label(bars_sep)
plt.xticks(np.arange(4), [f"K = {k}" for k in sizes])
plt.ylabel("multiplications per pixel")
plt.legend()
plt.show()

# %% [markdown]
# Timed on the 512×512 photograph of Section 8, in "same" mode: first Sobel, then an 11×11
# Gaussian blur, the outer product of a 1-D Gaussian with itself.

# %%
camera = data.camera() / 255.0  # uint8 -> float64 in [0, 1]
gauss = np.exp(-np.linspace(-2, 2, 11) ** 2)
gauss /= gauss.sum()
# %timeit -n 3 -r 3 edges.correlate2d(camera, edges.SOBEL_X, "same")
# %timeit -n 3 -r 3 edges.correlate2d_separable(camera, edges.SOBEL_SMOOTH, edges.SOBEL_DIFF, "same")
# %timeit -n 3 -r 3 edges.correlate2d(camera, np.outer(gauss, gauss), "same")
# %timeit -n 3 -r 3 edges.correlate2d_separable(camera, gauss, gauss, "same")

# %% [markdown]
# For Sobel the two passes are no faster: 9 against 6 multiplications is too small a saving to
# pay for a second pass, a second padding and an intermediate image. For the 11×11 blur, 121
# against 22 multiplications, separability wins clearly. Real libraries use it for exactly such
# large smoothing kernels.

# %% [markdown]
# ## 8. Edges of a real photograph
#
# Everything so far on the classic 512×512 "cameraman" photograph that ships with scikit-image,
# as float64 in $[0, 1]$: the image, $|g_x|$ (vertical edges such as the tripod legs), $|g_y|$
# (horizontal edges such as the skyline) and the gradient magnitude. The three edge images are
# drawn with white at their 99th percentile, so that weaker edges stay visible.

# %%
gx, gy = edges.sobel(camera)
magnitude = edges.gradient_magnitude(camera)
panels = [camera, np.abs(gx), np.abs(gy), magnitude]
_, axes = plt.subplots(1, 4, figsize=(10, 2.9))
for ax, a, title in zip(axes, panels, ["image", "|gx|", "|gy|", "magnitude"], strict=True):
    ax.imshow(a, cmap="gray", vmin=0, vmax=1 if a is camera else np.quantile(a, 0.99))
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# An **edge map** keeps the pixels whose magnitude exceeds a threshold. Where to put it is a
# trade-off: low, and the texture of the grass counts as edges too; high, and only the strongest
# outlines survive, with gaps. Note the white frame, too: in "same" mode the bright sky meets the
# zero padding, a false edge of the padding rather than of the photograph. (This chapter's
# filters were fixed by hand; a CNN *learns* its filters and decides for itself what counts.)

# %%
_, axes = plt.subplots(1, 3, figsize=(9, 3.2))
for ax, quantile in zip(axes, (0.80, 0.90, 0.97), strict=True):
    threshold = np.quantile(magnitude, quantile)
    ax.imshow(magnitude > threshold, cmap="gray")
    ax.set_title(f"G > {threshold:.2f} (top {100 * (1 - quantile):.0f} %)", fontsize=10)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 9. Output sizes: a bridge to chapter 2
#
# For an $n \times n$ image and an $f \times f$ kernel, counting the positions of the kernel gives
#
# | mode | padding per side | output side |
# | --- | --- | --- |
# | valid | $0$ | $n - f + 1$ |
# | same | $(f - 1)/2$ (odd $f$) | $n$ |
# | full | $f - 1$ | $n + f - 1$ |
#
# `edges.output_shape(image_shape, kernel_shape, mode)` computes them:

# %%
print(f"{'n':>4} {'f':>3}  {'valid':>7} {'same':>7} {'full':>7}")
for n, f in [(6, 3), (28, 3), (28, 5), (224, 7), (224, 11)]:
    out_sides = [edges.output_shape((n, n), (f, f), mode)[0] for mode in edges.MODES]
    assert out_sides == [n - f + 1, n, n + f - 1]
    print(f"{n:>4} {f:>3}  {out_sides[0]:>7} {out_sides[1]:>7} {out_sides[2]:>7}")

# %% [markdown]
# Chapter 2 adds two knobs: padding $p$ of your choice and a **stride** $s$ (move the kernel $s$
# pixels at a time), for an output side of $\lfloor (n + 2p - f)/s \rfloor + 1$.

# %% [markdown]
# ## 10. Summary
#
# - A fully connected layer on images needs billions of weights; **locality** and **weight
#   sharing** reduce it to one small filter slid over the image.
# - **Cross-correlation** sums the products of the kernel with the window under it;
#   **convolution** is the same with the kernel rotated by 180°. You wrote both, in Numba, in
#   the modes "valid", "same" and "full", and they agree with SciPy.
# - Edge filters are **finite differences** (plus smoothing across): Prewitt and Sobel give
#   $g_x$ and $g_y$, and $\sqrt{g_x^2 + g_y^2}$ the edge strength in every direction.
# - A **separable** $K \times K$ kernel costs $2K$ instead of $K^2$ multiplications per pixel.
# - Output sides: $n - f + 1$, $n$ and $n + f - 1$.
#
# ### Exercises
#
# 1. The Laplacian kernel $\begin{pmatrix} 0 & 1 & 0 \\ 1 & -4 & 1 \\ 0 & 1 & 0 \end{pmatrix}$ is
#    a second derivative. Apply it to `bright_dark` and to the cameraman: how do its edges differ
#    from the Sobel magnitude's? Is it separable? (Hint: what is the rank of a separable kernel?)
# 2. Add Gaussian noise (`rng.normal(0, 0.05, camera.shape)`) to the photograph and compare the
#    edge maps of Sobel and of the plain difference row `[[1, 0, -1]]`. Then blur with `gauss`
#    (separably) before Sobel. What does smoothing buy, and what does it cost?
# 3. Remove the false frame of Section 8: pad the photograph with `np.pad(camera, 1,
#    mode="reflect")` and correlate in "valid" mode. Why does reflection not create an edge?
