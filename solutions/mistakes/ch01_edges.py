"""Classic chapter 1 bugs, as exact text substitutions on the reference package.

Each (name, file, old, new, exercise, hint) must make `exercise` lose points, and grading it must
name it: `hint` is what the learner reads when their result equals this mistake's (the format is in
autograder/mistakes.py; without a hint, the name is shown).
"""

MUTANTS = [
    ("correlate2d flips the kernel", "edges.py",
     "out[i, j] += image[i + u, j + v] * kernel[u, v]",
     "out[i, j] += image[i + u, j + v] * kernel[kh - 1 - u, kw - 1 - v]", "correlate2d",
     "correlate2d does not flip the kernel: out[i, j] += image[i + u, j + v] * kernel[u, v] "
     "(flipping makes it a convolution)."),
    ("convolve2d forgets to flip the kernel", "edges.py",
     "flipped = kernel[::-1, ::-1]", "flipped = kernel", "convolve2d",
     "your convolve2d equals correlate2d: the kernel was not flipped (convolve2d correlates "
     "with kernel[::-1, ::-1])."),
    ("off-by-one output size (valid loses a row and a column)", "edges.py",
     "oh, ow = image.shape[0] - kh + 1, image.shape[1] - kw + 1",
     "oh, ow = image.shape[0] - kh, image.shape[1] - kw", "correlate2d",
     "off by one: the valid output is (H-KH+1) x (W-KW+1); yours is one row and one column "
     "short."),
    ("same mode pads k//2 on both sides", "edges.py",
     "padded = np.pad(image, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))",
     "padded = np.pad(image, ((kh // 2, kh // 2), (kw // 2, kw // 2)))", "correlate2d",
     "in 'same' mode an even-sized kernel pads (KH-1)//2 rows on top and KH//2 at the bottom "
     "(columns likewise), not KH//2 on both sides."),
    ("full mode pads k//2 instead of k-1", "edges.py",
     "padded = np.pad(image, ((kh - 1, kh - 1), (kw - 1, kw - 1)))",
     "padded = np.pad(image, ((kh // 2, kh // 2), (kw // 2, kw // 2)))", "correlate2d",
     "in 'full' mode pad KH-1 rows and KW-1 columns on every side, not KH//2 and KW//2."),
    ("kernel axes transposed (kh, kw swapped)", "edges.py",
     "    kh, kw = kernel.shape\n    oh, ow",
     "    kw, kh = kernel.shape\n    oh, ow", "correlate2d",
     "the kernel's height and width are swapped: kh, kw = kernel.shape (rows first), so "
     "non-square kernels get the wrong padding."),
    ("dtype silently changed to float64", "edges.py",
     "out = np.zeros((oh, ow), dtype=image.dtype)", "out = np.zeros((oh, ow))", "correlate2d",
     "the output's dtype must follow the input: np.zeros((oh, ow), dtype=image.dtype), not "
     "NumPy's float64 default."),
    ("convolve2d in same mode keeps correlate2d's padding", "edges.py",
     "    if mode != \"same\":\n        return correlate2d(image, flipped, mode)",
     "    if True:\n        return correlate2d(image, flipped, mode)", "convolve2d",
     "in 'same' mode flipping the kernel mirrors its centre: for an even-sized kernel "
     "convolve2d pads KH//2 rows on top and (KH-1)//2 at the bottom, the mirror of "
     "correlate2d's padding."),
    ("gradient magnitude as |gx| + |gy|", "edges.py",
     "return np.sqrt(gx * gx + gy * gy)", "return np.abs(gx) + np.abs(gy)", "gradient_magnitude",
     "the magnitude is sqrt(gx² + gy²), not |gx| + |gy|."),
]
