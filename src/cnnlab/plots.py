"""Pictures of small arrays, shared by the chapter notebooks (given code, not an exercise)."""

import matplotlib.pyplot as plt
import numpy as np


def heatmap(ax, a, title="", cmap=None, fontsize=9):
    """Draw the 2-D array `a` on `ax` as a heatmap with its numbers written in the cells.

    Cell (i, j) is centred at x = j, y = i. `cmap`: "coolwarm" centres white on zero (red
    positive, blue negative); "gray" for images; None picks "coolwarm" when `a` has negative
    entries and "Blues" otherwise.
    """
    a = np.asarray(a, dtype=float)
    top = max(np.abs(a).max(), 1e-9)
    if cmap is None:
        cmap = "coolwarm" if a.min() < 0 else "Blues"
    vmin, vmax = (-top, top) if cmap == "coolwarm" else (min(a.min(), 0), top)
    image = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax)
    for (i, j), value in np.ndenumerate(a):
        r, g, b, _ = image.cmap(image.norm(value))
        color = "black" if 0.3 * r + 0.6 * g + 0.1 * b > 0.5 else "white"  # readable on any cell
        ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=fontsize, color=color)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def show_grids(arrays, titles, cmaps=None, figsize=None, fontsize=9):
    """Draw small 2-D arrays side by side as annotated heatmaps (default "coolwarm"); return the
    axes."""
    cmaps = cmaps or ["coolwarm"] * len(arrays)
    _, axes = plt.subplots(1, len(arrays), figsize=figsize or (2.5 * len(arrays), 2.7))
    for ax, a, title, cmap in zip(np.atleast_1d(axes), arrays, titles, cmaps, strict=True):
        heatmap(ax, a, title, cmap, fontsize)
    return np.atleast_1d(axes)
