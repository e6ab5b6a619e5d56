"""Classic chapter 1 bugs, as exact text substitutions on the reference package.

Each (name, file, old, new, exercise) must make `exercise` lose points.
"""

MUTANTS = [
    ("correlate2d flips the kernel", "edges.py",
     "out[i, j] += image[i + u, j + v] * kernel[u, v]",
     "out[i, j] += image[i + u, j + v] * kernel[kh - 1 - u, kw - 1 - v]", "correlate2d"),
    ("convolve2d forgets to flip the kernel", "edges.py",
     "flipped = kernel[::-1, ::-1]", "flipped = kernel", "convolve2d"),
    ("off-by-one output size (valid loses a row and a column)", "edges.py",
     "oh, ow = image.shape[0] - kh + 1, image.shape[1] - kw + 1",
     "oh, ow = image.shape[0] - kh, image.shape[1] - kw", "correlate2d"),
    ("same mode pads k//2 on both sides", "edges.py",
     "padded = np.pad(image, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))",
     "padded = np.pad(image, ((kh // 2, kh // 2), (kw // 2, kw // 2)))", "correlate2d"),
    ("full mode pads k//2 instead of k-1", "edges.py",
     "padded = np.pad(image, ((kh - 1, kh - 1), (kw - 1, kw - 1)))",
     "padded = np.pad(image, ((kh // 2, kh // 2), (kw // 2, kw // 2)))", "correlate2d"),
    ("kernel axes transposed (kh, kw swapped)", "edges.py",
     "    kh, kw = kernel.shape\n    oh, ow",
     "    kw, kh = kernel.shape\n    oh, ow", "correlate2d"),
    ("dtype silently changed to float64", "edges.py",
     "out = np.zeros((oh, ow), dtype=image.dtype)", "out = np.zeros((oh, ow))", "correlate2d"),
    ("convolve2d in same mode keeps correlate2d's padding", "edges.py",
     "    if mode != \"same\":\n        return correlate2d(image, flipped, mode)",
     "    if True:\n        return correlate2d(image, flipped, mode)", "convolve2d"),
    ("gradient magnitude as |gx| + |gy|", "edges.py",
     "return np.sqrt(gx * gx + gy * gy)", "return np.abs(gx) + np.abs(gy)", "gradient_magnitude"),
]
