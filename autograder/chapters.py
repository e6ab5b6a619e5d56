"""The chapter registry: each chapter's assignment name, title, and the package functions its
students write (the functions holding `### BEGIN SOLUTION` regions in `solutions/cnnlab`).

The build uses it to decide, per assignment, which regions become stubs (this chapter's and later
ones') and which stay as reference code (earlier chapters', so one early bug does not cascade into
every later grade). The assignment name is also the notebook's and the grading suite's name.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Chapter:
    name: str  # assignment name: notebook solutions/notebooks/<name>.py, suite test_<name>.py
    title: str
    functions: tuple[str, ...]  # "module.function" of every function with a solution region


CHAPTERS = (
    Chapter(
        "ch01_edges",
        "Edge detection",
        (
            "edges.correlate2d",
            "edges._correlate2d_valid",
            "edges.convolve2d",
            "edges.gradient_magnitude",
        ),
    ),
    Chapter(
        "ch02_arithmetic",
        "Convolution arithmetic and the multi-channel forward pass",
        (
            "arithmetic.conv_output_size",
            "arithmetic.transposed_conv_output_size",
            "arithmetic.conv_params",
            "arithmetic.conv_macs",
            "arithmetic.receptive_field",
            "conv._conv2d_forward_loops",
            "conv._im2col_kernel",
            "conv._col2im_kernel",
            "conv.conv2d_forward_gemm",
            "conv._im2row_kernel",
        ),
    ),
    Chapter(
        "ch03_backprop",
        "Backpropagation through convolution and pooling",
        (
            "conv._conv2d_backward_input",
            "conv._conv2d_backward_weight",
            "conv._conv2d_backward_bias",
            "conv.conv2d_backward_gemm",
            "conv._row2im_kernel",
            "pooling._maxpool2d_forward_kernel",
            "pooling._maxpool2d_backward_kernel",
            "pooling._avgpool2d_forward_kernel",
            "pooling._avgpool2d_backward_kernel",
            "pooling.global_avgpool2d_forward",
            "pooling.global_avgpool2d_backward",
        ),
    ),
    Chapter(
        "ch04_depthwise",
        "1×1, depthwise, depthwise-separable and grouped convolutions",
        (
            "depthwise.pointwise_conv2d_forward",
            "depthwise.pointwise_conv2d_backward",
            "depthwise._depthwise_forward_kernel",
            "depthwise._depthwise_backward_input_kernel",
            "depthwise._depthwise_backward_weight_kernel",
            "conv._conv2d_forward_grouped",
            "conv._conv2d_backward_input_grouped",
            "conv._conv2d_backward_weight_grouped",
            "arithmetic.separable_conv_params",
            "arithmetic.separable_conv_macs",
        ),
    ),
)


def chapter(name):
    """Look a chapter up by its assignment name (`ch01_edges`), its prefix (`ch01`) or its number
    (`1`); a ValueError in one line listing the chapters otherwise."""
    key = str(name).strip().lower()
    if key.isdigit():
        key = f"ch{int(key):02d}"
    for ch in CHAPTERS:
        if key in (ch.name, ch.name.split("_")[0]):
            return ch
    known = ", ".join(f"{ch.name.split('_')[0]} ({ch.name})" for ch in CHAPTERS)
    raise ValueError(f"unknown chapter {name!r}; the chapters are {known}")
