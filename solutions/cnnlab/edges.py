"""Chapter 1 — edge detection with 2-D cross-correlation and convolution.

`correlate2d` and `convolve2d` behave exactly like `scipy.signal.correlate2d` / `convolve2d` for
2-D real arrays (modes "valid", "same", "full"; zero padding), except that the result is always a
float array: float32 for float32 inputs, float64 otherwise.
"""

import numpy as np
from numba import njit

from ._validate import as_float_array, check_choice, common_dtype

MODES = ("valid", "same", "full")

# Vertical-edge filters respond to a change from left to right; their transposes to horizontal
# edges. Sobel weighs the centre row twice: it is the outer product of a smoothing [1, 2, 1] and a
# difference [1, 0, -1].
PREWITT_X = np.array([[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]])
PREWITT_Y = PREWITT_X.T.copy()
SOBEL_X = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
SOBEL_Y = SOBEL_X.T.copy()
SOBEL_SMOOTH = np.array([1.0, 2.0, 1.0])  # SOBEL_X == np.outer(SOBEL_SMOOTH, SOBEL_DIFF)
SOBEL_DIFF = np.array([1.0, 0.0, -1.0])


def output_shape(image_shape, kernel_shape, mode):
    """Shape of `correlate2d(image, kernel, mode)` for an image of size H×W and a kernel KH×KW.

    valid: (H-KH+1, W-KW+1) — the kernel stays inside the image;
    same:  (H, W)           — padded so the output has the input's size;
    full:  (H+KH-1, W+KW-1) — every position where kernel and image overlap at all.
    """
    (h, w), (kh, kw) = image_shape, kernel_shape
    check_choice(mode, "mode", MODES)
    if mode == "same":
        return h, w
    if mode == "full":
        return h + kh - 1, w + kw - 1
    if (h - kh) * (w - kw) < 0:  # neither contains the other, as correlate2d refuses too
        raise ValueError(
            f"mode='valid' needs one input at least as large as the other in every dimension, "
            f"got image {tuple(image_shape)} and kernel {tuple(kernel_shape)}"
        )
    return abs(h - kh) + 1, abs(w - kw) + 1


def _larger(a, b):
    """True when `a` is at least as large as `b` in every dimension and larger in one."""
    return a.shape != b.shape and a.shape[0] >= b.shape[0] and a.shape[1] >= b.shape[1]


def _validate_pair(image, kernel, mode):
    image = as_float_array(image, "image", 2)
    kernel = as_float_array(kernel, "kernel", 2)
    check_choice(mode, "mode", MODES)
    dtype = common_dtype(image, kernel)
    output_shape(image.shape, kernel.shape, mode)  # raises if neither contains the other
    return image.astype(dtype, copy=False), kernel.astype(dtype, copy=False)


def correlate2d(image, kernel, mode="valid"):
    """2-D cross-correlation: slide `kernel` over `image` and sum the elementwise products.

    out[i, j] = sum_{u, v} padded[i + u, j + v] * kernel[u, v]

    Inputs:
    - image: (H, W) real array.
    - kernel: (KH, KW) real array.
    - mode: "valid" (no padding), "same" (zero padding so the output is H×W: (KH-1)//2 rows on
      top and KH//2 at the bottom, likewise for columns) or "full" (KH-1 rows and KW-1
      columns of zeros on every side).

    Returns out: float array of shape `output_shape(image.shape, kernel.shape, mode)`.
    """
    image, kernel = _validate_pair(image, kernel, mode)
    if mode == "valid" and _larger(kernel, image):
        # Like SciPy: a kernel larger than the image slides the image over the kernel instead.
        return correlate2d(kernel, image, "valid")[::-1, ::-1].copy()
    kh, kw = kernel.shape
    ### BEGIN SOLUTION
    if mode == "valid":
        padded = image
    elif mode == "same":
        padded = np.pad(image, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))
    else:  # full
        padded = np.pad(image, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    return _correlate2d_valid(padded, kernel)
    ### END SOLUTION


@njit(cache=True)
def _correlate2d_valid(image, kernel):
    """The loops of a "valid" cross-correlation (the Numba kernel behind `correlate2d`).

    Inputs:
    - image: (H, W) float array, already padded; H >= KH and W >= KW.
    - kernel: (KH, KW) float array of the same dtype.

    Returns out: (H-KH+1, W-KW+1) array of image's dtype,
        out[i, j] = sum_{u,v} image[i+u, j+v] * kernel[u, v].
    """
    ### BEGIN SOLUTION
    kh, kw = kernel.shape
    oh, ow = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.zeros((oh, ow), dtype=image.dtype)
    for i in range(oh):
        for j in range(ow):
            for u in range(kh):
                for v in range(kw):
                    out[i, j] += image[i + u, j + v] * kernel[u, v]
    return out
    ### END SOLUTION


def convolve2d(image, kernel, mode="valid"):
    """2-D convolution: cross-correlation with the kernel rotated by 180°.

    out[i, j] = sum_{u, v} padded[i + u, j + v] * kernel[KH-1-u, KW-1-v]

    Same arguments, modes and output shapes as `correlate2d`, with one subtlety in "same" mode:
    rotating the kernel also mirrors its centre, so for an even-sized kernel the zero padding is
    KH//2 rows on top and (KH-1)//2 at the bottom (the mirror image of correlate2d's), exactly as
    `scipy.signal.convolve2d` does.

    Returns out: float array of shape `output_shape(image.shape, kernel.shape, mode)`.
    """
    image, kernel = _validate_pair(image, kernel, mode)
    ### BEGIN SOLUTION
    flipped = kernel[::-1, ::-1]
    if mode != "same":
        return correlate2d(image, flipped, mode)
    top, left = (kernel.shape[0] - 1) // 2, (kernel.shape[1] - 1) // 2
    full = correlate2d(image, flipped, "full")
    return full[top : top + image.shape[0], left : left + image.shape[1]].copy()
    ### END SOLUTION


def correlate2d_separable(image, column, row, mode="valid"):
    """Correlate with the rank-1 kernel np.outer(column, row) as two 1-D passes.

    A KH×KW kernel costs KH*KW multiplications per output pixel; its two 1-D factors cost KH+KW.

    Inputs:
    - image: (H, W) real array.
    - column: (KH,) vertical factor.
    - row: (KW,) horizontal factor.
    - mode: as in `correlate2d`.

    Returns out: equal to correlate2d(image, np.outer(column, row), mode) up to rounding.
    """
    column = as_float_array(column, "column", 1)
    row = as_float_array(row, "row", 1)
    image = as_float_array(image, "image", 2)
    if mode == "valid" and (image.shape[0] < column.size or image.shape[1] < row.size):
        raise ValueError(
            f"mode='valid' needs the image {image.shape} to be at least as large as the "
            f"kernel ({column.size}, {row.size})"
        )
    vertical = correlate2d(image, column[:, None], mode)
    return correlate2d(vertical, row[None, :], mode)


def sobel(image, mode="same"):
    """Sobel gradients of a grayscale image.

    Inputs:
    - image: (H, W) real array.
    - mode: as in `correlate2d`; "same" keeps the image's size (zero padding).

    Returns (gx, gy): correlate2d(image, SOBEL_X, mode) — large where intensity changes from
    left to right (vertical edges) — and correlate2d(image, SOBEL_Y, mode) (horizontal edges).
    """
    return correlate2d(image, SOBEL_X, mode), correlate2d(image, SOBEL_Y, mode)


def prewitt(image, mode="same"):
    """Prewitt gradients (gx, gy): like `sobel` with the unweighted PREWITT_X / PREWITT_Y."""
    return correlate2d(image, PREWITT_X, mode), correlate2d(image, PREWITT_Y, mode)


OPERATORS = {"sobel": sobel, "prewitt": prewitt}


def gradient_magnitude(image, operator="sobel", mode="same"):
    """Edge strength sqrt(gx² + gy²) at every pixel.

    Inputs:
    - image: (H, W) real array.
    - operator: "sobel" or "prewitt" — which pair of gradient filters gives gx and gy.
    - mode: as in `correlate2d`.

    Returns magnitude: non-negative float array, the shape of gx.
    """
    check_choice(operator, "operator", tuple(OPERATORS))
    ### BEGIN SOLUTION
    gx, gy = OPERATORS[operator](image, mode)
    return np.sqrt(gx * gx + gy * gy)
    ### END SOLUTION
