"""The GEMM convolution's products on cnnlab's threads, by chunks of images (given code).

The reference `conv.conv2d_forward_gemm` and `conv.conv2d_backward_gemm` ask `image_chunks` how
to run a layer. For most layers of a network (groups 1, stride 1, at least as many pixels per
image as filters) they make the im2row windows and do the products chunk by chunk: a few images
at a time, the chunks in parallel (`run_chunks`), each product in BLAS on the thread of its
chunk. Other layers (few pixels and many filters, strides, groups) make the windows of the whole
batch and take one product for all of it, cut into blocks that run in parallel the same way
(`matmul`). BLAS's own threads never run: at most numba.get_num_threads() threads compute.

Why chunks. Made for the whole batch, the window matrix of a 64-channel 3x3 layer on 32 images
of 16x16 is 19 MB: writing it, reading it back for the product, and (backward) writing and
reading the window gradients goes through main memory, which the cores share, so that on 2
threads these copies took as long as on one. A chunk's windows and outputs, at most CHUNK_BYTES,
stay in the processor's cache between the copy and the products, and the copies, the products
and the layout changes of every chunk run in parallel. Measured (2-core AMD EPYC, float32,
N = 32, forward + backward): 64 channels on 16x16 images 26 against 37 ms on one thread, 16
against 27 ms on two; 3 -> 64 channels on 32x32 images 13 against 19 ms on one thread.

Why not BLAS's own threads. After each product they wait for the next one by spinning for about
0.1 s, on the cores that the next layer's chunks need (measured: 29 instead of 16 ms for a
chunked layer after a layer with BLAS on 2 threads).

Results do not depend on the number of threads: the chunks and blocks are fixed by the shapes,
every product runs on one thread, and the parts of dw and db are summed in the chunks' order.
"""
import numpy as np

from ._parallel import parallel_for

CHUNK_BYTES = 3 << 20  # the window rows and outputs of one chunk: at most this (or one image)
MIN_CHUNKS = 4  # fewer chunks than this (a batch of a few large images): the whole batch at once
MAX_BLOCKS, BLOCK_MIN = 8, 128  # `matmul`'s blocks
_controller = None  # threadpoolctl's handle on the BLAS libraries, made on first use


def image_chunks(x_shape, w_shape, stride, groups, out_hw, itemsize):
    """How many chunks of images `conv2d_forward_gemm` and `conv2d_backward_gemm` run this layer
    in, or 0 for one product over the whole batch.

    Inputs: the shapes (N, C, H, W) and (O, C // groups, KH, KW), the stride (h, w) pair, groups,
    the output size (OH, OW) and the dtype's itemsize of a validated layer. Chunks for groups 1,
    stride 1 and OH * OW >= O, when the batch makes at least MIN_CHUNKS chunks of window rows
    (OH * OW * KH * KW * C values per image) of at most CHUNK_BYTES each, or of one image.
    Measured: with fewer pixels than filters (128 filters on 8x8 images, 512 on 4x4) or a stride,
    one product for the whole batch is faster: then each image's small product would read the
    whole filter matrix again.
    """
    n, c = x_shape[:2]
    o, _, kh, kw = w_shape
    pixels = out_hw[0] * out_hw[1]
    if groups != 1 or tuple(stride) != (1, 1) or pixels < o:
        return 0
    per_chunk = max(1, CHUNK_BYTES // (pixels * (kh * kw * c + o) * itemsize))  # images
    chunks = -(-n // per_chunk)
    if chunks < MIN_CHUNKS:
        return 0
    # A multiple of 4 chunks (up to one per image), so that 2 or 4 threads get equal shares.
    return min(n, -(-chunks // 4) * 4)


def _blas_on_one_thread():
    """A context in which BLAS computes each product on its caller's thread only: inside it, the
    chunks run on `parallel_for`'s threads, numba.get_num_threads() of them, and no BLAS thread
    competes with them."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def run_chunks(count, body, chunks):
    """parallel_for(count, body, chunks=chunks) with BLAS held to one thread meanwhile (about
    15 us): body(start, stop) runs on images start ... stop - 1. Returns the bodies' results in
    the chunks' order."""
    with _blas_on_one_thread():
        return parallel_for(count, body, chunks=chunks)


def matmul(a, b, out=None):
    """np.matmul(a, b, out=out) of stacks of matrices (..., M, K) and (..., K, P), by blocks in
    parallel (`run_chunks`): blocks of the M rows of a when M >= P, else of the P columns of b;
    at most MAX_BLOCKS blocks of at least BLOCK_MIN rows (columns), fixed by the shapes, so that
    the result does not depend on the number of threads. Returns out, a new array if None."""
    rows, cols = a.shape[-2], b.shape[-1]
    if out is None:
        out = np.empty((*np.broadcast_shapes(a.shape[:-2], b.shape[:-2]), rows, cols),
                       np.result_type(a, b))
    if rows >= cols:
        body = lambda s, e: np.matmul(a[..., s:e, :], b, out=out[..., s:e, :])  # noqa: E731
    else:
        body = lambda s, e: np.matmul(a, b[..., s:e], out=out[..., s:e])  # noqa: E731
    count = max(rows, cols)
    run_chunks(count, body, min(MAX_BLOCKS, -(-count // BLOCK_MIN)))
    return out
