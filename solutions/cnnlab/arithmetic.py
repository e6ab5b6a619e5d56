"""Convolution arithmetic: output sizes, parameter counts, FLOPs, memory and receptive fields.

Chapter 2 counts standard and grouped layers (`groups`: 1 for a standard convolution, C for a
depthwise one); chapter 4 adds the depthwise-separable layer (`separable_conv_params`,
`separable_conv_macs`).

Everything here is plain Python integer arithmetic (no Numba): it is what you compute on paper
before building a network. The conventions are PyTorch's (`torch.nn.Conv2d`,
`torch.nn.ConvTranspose2d`): sizes round down, so a kernel that does not tile the padded input
exactly simply ignores the leftover rows/columns at the bottom/right.
"""

import math
from numbers import Integral

from ._validate import pair

# ----------------------------------------------------------------------------------------------
# Validation helpers (given code)
# ----------------------------------------------------------------------------------------------


def _check_int(value, name, minimum):
    """Return `value` as an int >= `minimum`; TypeError for non-ints (bools are not ints)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {name}={value}")
    return int(value)


def _check_kernel_fits(size, kernel_size, padding, dilation, where=""):
    """Raise a ValueError when the dilated kernel is larger than the padded input."""
    span = dilation * (kernel_size - 1) + 1
    if span > size + 2 * padding:
        raise ValueError(
            f"kernel does not fit{where}: kernel_size={kernel_size} with dilation={dilation} "
            f"spans {span} pixels, but the padded input has only {size + 2 * padding} "
            f"(size={size}, padding={padding})"
        )


def _check_groups(in_channels, out_channels, groups):
    """Raise a ValueError unless `groups` divides both channel counts."""
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"groups={groups} must divide both in_channels={in_channels} and "
            f"out_channels={out_channels}"
        )


def _check_layers(layers):
    """Return `layers` as a list of (kernel, stride, dilation) int triples, all >= 1."""
    if not isinstance(layers, (list, tuple)):
        raise TypeError(
            f"layers must be a list of (kernel, stride, dilation) tuples, got {layers!r}"
        )
    checked = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, (list, tuple)) or len(layer) != 3:
            raise TypeError(
                f"layers[{index}] must be a (kernel, stride, dilation) tuple, got {layer!r}"
            )
        kernel, stride, dilation = (
            _check_int(value, f"layers[{index}].{name}", 1)
            for value, name in zip(layer, ("kernel", "stride", "dilation"), strict=True)
        )
        checked.append((kernel, stride, dilation))
    return checked


# ----------------------------------------------------------------------------------------------
# Output sizes
# ----------------------------------------------------------------------------------------------


def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    """Output size (along one axis) of a convolution, exactly like `torch.nn.Conv2d`.

    Inputs:
    - size: int >= 1, input height (or width).
    - kernel_size: int >= 1, kernel height (or width).
    - stride: int >= 1, step between two kernel positions.
    - padding: int >= 0, zeros added on both sides.
    - dilation: int >= 1, spacing between kernel taps (1 = a dense kernel).

    Returns the number of kernel positions, an int >= 1:
        floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1
    Raises ValueError when the dilated kernel does not fit in the padded input.
    """
    size = _check_int(size, "size", 1)
    kernel_size = _check_int(kernel_size, "kernel_size", 1)
    stride = _check_int(stride, "stride", 1)
    padding = _check_int(padding, "padding", 0)
    dilation = _check_int(dilation, "dilation", 1)
    _check_kernel_fits(size, kernel_size, padding, dilation)
    ### BEGIN SOLUTION
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
    ### END SOLUTION


def transposed_conv_output_size(
    size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1
):
    """Output size (along one axis) of a transposed convolution, like `torch.nn.ConvTranspose2d`.

    Inputs:
    - size: int >= 1, input height (or width).
    - kernel_size: int >= 1, kernel height (or width).
    - stride: int >= 1, step on the *output* between the kernel copies of two input pixels.
    - padding: int >= 0, rows/columns cropped from both sides of the output.
    - output_padding: int >= 0, extra rows/columns added on one side (bottom/right) only;
      must be smaller than max(stride, dilation), as in PyTorch.
    - dilation: int >= 1, spacing between kernel taps.

    Returns an int >= 1:
        (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    Raises ValueError when output_padding is too large or the result would be < 1.
    """
    size = _check_int(size, "size", 1)
    kernel_size = _check_int(kernel_size, "kernel_size", 1)
    stride = _check_int(stride, "stride", 1)
    padding = _check_int(padding, "padding", 0)
    output_padding = _check_int(output_padding, "output_padding", 0)
    dilation = _check_int(dilation, "dilation", 1)
    if output_padding >= max(stride, dilation):
        raise ValueError(
            f"output_padding={output_padding} must be smaller than stride={stride} or "
            f"dilation={dilation}"
        )
    ### BEGIN SOLUTION
    out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    ### END SOLUTION
    if out < 1:
        raise ValueError(
            f"transposed convolution output would be {out} pixels: padding={padding} crops too "
            f"much (size={size}, kernel_size={kernel_size}, stride={stride}, "
            f"output_padding={output_padding}, dilation={dilation})"
        )
    return out


# ----------------------------------------------------------------------------------------------
# Cost of a layer
# ----------------------------------------------------------------------------------------------


def conv_params(in_channels, out_channels, kernel_size, groups=1, bias=True):
    """Number of learnable parameters of a `torch.nn.Conv2d` layer.

    Inputs:
    - in_channels: int C >= 1.
    - out_channels: int O >= 1, the number of filters.
    - kernel_size: int K or pair (KH, KW).
    - groups: int >= 1 dividing C and O; each filter sees C // groups input channels.
    - bias: bool, whether every filter has a bias.

    Returns an int: O * (C // groups) * KH * KW weights, plus O biases if `bias`.
    """
    in_channels = _check_int(in_channels, "in_channels", 1)
    out_channels = _check_int(out_channels, "out_channels", 1)
    kh, kw = pair(kernel_size, "kernel_size", minimum=1)
    groups = _check_int(groups, "groups", 1)
    _check_groups(in_channels, out_channels, groups)
    if not isinstance(bias, bool):
        raise TypeError(f"bias must be True or False, got {bias!r}")
    ### BEGIN SOLUTION
    weights = out_channels * (in_channels // groups) * kh * kw
    return weights + (out_channels if bias else 0)
    ### END SOLUTION


def conv_macs(
    input_size,
    in_channels,
    out_channels,
    kernel_size,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
):
    """Multiply-accumulates (MACs) of a convolution's forward pass on one image.

    Inputs:
    - input_size: int or pair (H, W), the input's spatial size.
    - in_channels: int C >= 1.
    - out_channels: int O >= 1.
    - kernel_size, stride, padding, dilation: int or pair (h, w), as in `torch.nn.Conv2d`.
    - groups: int >= 1 dividing C and O.

    Returns an int: every one of the O * OH * OW outputs is a sum of (C // groups) * KH * KW
    products. Bias additions are not counted.
    """
    h, w = pair(input_size, "input_size", minimum=1)
    in_channels = _check_int(in_channels, "in_channels", 1)
    out_channels = _check_int(out_channels, "out_channels", 1)
    kh, kw = pair(kernel_size, "kernel_size", minimum=1)
    sh, sw = pair(stride, "stride", minimum=1)
    ph, pw = pair(padding, "padding", minimum=0)
    dh, dw = pair(dilation, "dilation", minimum=1)
    groups = _check_int(groups, "groups", 1)
    _check_groups(in_channels, out_channels, groups)
    _check_kernel_fits(h, kh, ph, dh, where=" along the height")
    _check_kernel_fits(w, kw, pw, dw, where=" along the width")
    ### BEGIN SOLUTION
    oh = conv_output_size(h, kh, sh, ph, dh)
    ow = conv_output_size(w, kw, sw, pw, dw)
    return out_channels * oh * ow * (in_channels // groups) * kh * kw
    ### END SOLUTION


def conv_flops(
    input_size,
    in_channels,
    out_channels,
    kernel_size,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
):
    """Floating-point operations of a convolution's forward pass on one image: 2 * MACs.

    Same arguments as `conv_macs`. Each multiply-accumulate is one multiplication and one
    addition. Bias additions are not counted (like most papers, and like
    `torch.utils.flop_counter`).
    """
    return 2 * conv_macs(
        input_size, in_channels, out_channels, kernel_size, stride, padding, dilation, groups
    )


def separable_conv_params(in_channels, out_channels, kernel_size, depth_multiplier=1, bias=True):
    """Learnable parameters of a depthwise-separable convolution (chapter 4): a depthwise layer,
    then a pointwise (1x1) layer.

    Inputs:
    - in_channels: int C >= 1.
    - out_channels: int O >= 1, the outputs of the pointwise layer.
    - kernel_size: int K or pair (KH, KW), the depthwise kernel.
    - depth_multiplier: int M >= 1, depthwise filters per input channel (C * M channels between
      the two layers).
    - bias: bool, whether both layers have biases.

    Returns an int: the depthwise layer's C * M * KH * KW weights (a convolution with groups=C)
    plus the pointwise layer's O * C * M, and C * M + O biases if `bias`. Against a standard
    KH x KW convolution from C to O channels that is a fraction 1/O + 1/(KH * KW) of the weights
    (for M = 1, without biases).
    """
    in_channels = _check_int(in_channels, "in_channels", 1)
    out_channels = _check_int(out_channels, "out_channels", 1)
    kh, kw = pair(kernel_size, "kernel_size", minimum=1)
    depth_multiplier = _check_int(depth_multiplier, "depth_multiplier", 1)
    if not isinstance(bias, bool):
        raise TypeError(f"bias must be True or False, got {bias!r}")
    hidden = in_channels * depth_multiplier  # channels between the two layers
    ### BEGIN SOLUTION
    depthwise = conv_params(in_channels, hidden, (kh, kw), groups=in_channels, bias=bias)
    pointwise = conv_params(hidden, out_channels, 1, bias=bias)
    return depthwise + pointwise
    ### END SOLUTION


def separable_conv_macs(
    input_size,
    in_channels,
    out_channels,
    kernel_size,
    stride=1,
    padding=0,
    dilation=1,
    depth_multiplier=1,
):
    """Multiply-accumulates of a depthwise-separable convolution's forward pass on one image.

    Inputs:
    - input_size: int or pair (H, W), the input's spatial size.
    - in_channels: int C >= 1; out_channels: int O >= 1.
    - kernel_size, stride, padding, dilation: int or pair (h, w), of the depthwise layer (the
      pointwise layer has stride 1 and no padding).
    - depth_multiplier: int M >= 1, depthwise filters per input channel.

    Returns an int: the depthwise layer's C * M * OH * OW * KH * KW MACs plus the pointwise
    layer's O * OH * OW * C * M, where OH x OW is the depthwise layer's output size. Bias
    additions are not counted.
    """
    h, w = pair(input_size, "input_size", minimum=1)
    in_channels = _check_int(in_channels, "in_channels", 1)
    out_channels = _check_int(out_channels, "out_channels", 1)
    kh, kw = pair(kernel_size, "kernel_size", minimum=1)
    sh, sw = pair(stride, "stride", minimum=1)
    ph, pw = pair(padding, "padding", minimum=0)
    dh, dw = pair(dilation, "dilation", minimum=1)
    depth_multiplier = _check_int(depth_multiplier, "depth_multiplier", 1)
    _check_kernel_fits(h, kh, ph, dh, where=" along the height")
    _check_kernel_fits(w, kw, pw, dw, where=" along the width")
    hidden = in_channels * depth_multiplier  # channels between the two layers
    ### BEGIN SOLUTION
    depthwise = conv_macs((h, w), in_channels, hidden, (kh, kw), (sh, sw), (ph, pw), (dh, dw),
                          groups=in_channels)
    oh, ow = conv_output_size(h, kh, sh, ph, dh), conv_output_size(w, kw, sw, pw, dw)
    pointwise = conv_macs((oh, ow), hidden, out_channels, 1)
    return depthwise + pointwise
    ### END SOLUTION


def activation_memory(shape, dtype_bytes=4):
    """Bytes taken by an activation tensor.

    Inputs:
    - shape: tuple of ints >= 0, e.g. (N, C, H, W).
    - dtype_bytes: int >= 1, bytes per element (4 for float32, 8 for float64).

    Returns an int: the number of elements times `dtype_bytes`.
    """
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"shape must be a tuple of ints, got {shape!r}")
    dims = [_check_int(d, f"shape[{i}]", 0) for i, d in enumerate(shape)]
    dtype_bytes = _check_int(dtype_bytes, "dtype_bytes", 1)
    return math.prod(dims) * dtype_bytes


# ----------------------------------------------------------------------------------------------
# Receptive fields
# ----------------------------------------------------------------------------------------------


def receptive_field(layers):
    """Receptive field, on the input, of one unit of the last layer of a stack of convolutions.

    Inputs:
    - layers: list of (kernel, stride, dilation) int tuples, first layer first. Pooling layers
      count too (a 2x2 max-pool with stride 2 is (2, 2, 1)).

    Returns an int: the side of the input window that one unit of the last layer depends on
    (1 for an empty stack). Each layer widens the field by dilation * (kernel - 1) steps of the
    current jump (the product of the strides of the layers before it).
    """
    layers = _check_layers(layers)
    ### BEGIN SOLUTION
    field, step = 1, 1
    for kernel, stride, dilation in layers:
        field += dilation * (kernel - 1) * step
        step *= stride
    return field
    ### END SOLUTION


def jump(layers):
    """Distance, in input pixels, between two adjacent units of the last layer.

    Inputs:
    - layers: list of (kernel, stride, dilation) int tuples, as for `receptive_field`.

    Returns an int: the product of the strides (1 for an empty stack).
    """
    layers = _check_layers(layers)
    return math.prod(stride for _, stride, _ in layers)
