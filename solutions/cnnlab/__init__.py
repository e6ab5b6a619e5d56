"""cnnlab: the convolutional neural network you build yourself, one chapter at a time.

Layout is NCHW like PyTorch; every public function behaves like its PyTorch/SciPy counterpart.
Modules are named after the chapters' ideas:

- `cnnlab.edges`       chapter 1, edge detection: 2-D correlation/convolution, Sobel, Prewitt
- `cnnlab.arithmetic`  chapters 2 and 4, output sizes, parameters, FLOPs, receptive fields
- `cnnlab.conv`        chapters 2-4, multi-channel (and grouped) convolution forward/backward,
                       im2col
- `cnnlab.pooling`     chapter 3, max/average pooling forward/backward
- `cnnlab.gradcheck`   chapter 3, numerical gradient checking
- `cnnlab.depthwise`   chapter 4, 1x1 (pointwise), depthwise and depthwise-separable convolutions
- `cnnlab.plots`       annotated heatmaps of small arrays, for the notebooks
- `cnnlab.timing`      the notebooks' races: the same thread counts for all, warm-up, median
"""

import importlib

__all__ = ["arithmetic", "conv", "depthwise", "edges", "gradcheck", "plots", "pooling", "timing"]


def __getattr__(name):
    # Submodules load on first use (`cnnlab.conv`), so importing cnnlab never compiles anything
    # and a chapter's notebook does not wait for other chapters' modules.
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
