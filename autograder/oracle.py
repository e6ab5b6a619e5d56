"""scipy.signal.correlate2d and convolve2d, in plain NumPy, for the suites' public checks.

The public checks compare the student's code with SciPy's results, but importing scipy.signal
takes about a second, a third of a chapter's grading time. These give SciPy's results
(tests/test_oracle.py checks it on many random cases): the full correlation, sliced for "same"
and "valid" as SciPy slices it.
"""

import numpy as np


def correlate2d(image, kernel, mode="full"):
    """SciPy's correlate2d(image, kernel, mode): (H, W) and (kh, kw) -> the mode's shape.

    "full": (H + kh - 1, W + kw - 1); "same": (H, W), the full result's centre (for an even
    kernel, SciPy's centre lies one element later than convolve2d's); "valid": the positions
    where one input covers the other, (|H - kh| + 1, |W - kw| + 1).
    """
    return _correlate(image, kernel, mode, later=True)


def convolve2d(image, kernel, mode="full"):
    """SciPy's convolve2d(image, kernel, mode): the correlation with the kernel turned 180°."""
    kernel = np.asarray(kernel)
    return _correlate(image, kernel[::-1, ::-1] if kernel.ndim == 2 else kernel, mode, False)


def _correlate(image, kernel, mode, later):
    image, kernel = np.asarray(image), np.asarray(kernel)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError("correlate2d and convolve2d take two 2-D arrays")
    if mode not in ("full", "same", "valid"):
        raise ValueError(f"mode must be 'full', 'same' or 'valid', not {mode!r}")
    (h, w), (kh, kw) = image.shape, kernel.shape
    if mode == "valid" and not ((h >= kh and w >= kw) or (h <= kh and w <= kw)):
        raise ValueError("valid mode: one input must be at least as large as the other in both "
                         "axes")
    padded = np.pad(image.astype(np.float64), ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    full = np.zeros((h + kh - 1, w + kw - 1))
    for m in range(kh):
        for n in range(kw):
            full += kernel[m, n] * padded[m:m + h + kh - 1, n:n + w + kw - 1]
    if mode == "same":
        top, left = (kh // 2, kw // 2) if later else ((kh - 1) // 2, (kw - 1) // 2)
        full = full[top:top + h, left:left + w]
    elif mode == "valid":
        full = full[min(h, kh) - 1:max(h, kh), min(w, kw) - 1:max(w, kw)]
    return full.astype(np.result_type(image, kernel))
