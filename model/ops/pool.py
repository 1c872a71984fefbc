"""Max pooling with kernel = stride (no padding, no ceil mode) as a multi-threaded CPU kernel, one image plane
per thread, with its backward pass and the indices SegNet's unpooling needs.

Within a window the first maximum in row-major order wins, in the forward pass (value and index) and in the
backward pass, as in Jittor's own pooling; an index is ``row * W + column`` within the plane, Jittor's format.
Other pools (overlapping windows, padding, ceil mode, CUDA) run Jittor's own code.
"""
import jittor as jt
from jittor import nn

_FORWARD = r"""
@alias(x, in0)
const int N = x_shape0, C = x_shape1, H = x_shape2, W = x_shape3;
const int h = out0_shape2, w = out0_shape3;
#pragma omp parallel for schedule(static)
for (long nc = 0; nc < (long)N * C; nc++) {
    const float* p = x_p + nc * H * W;
    float* q = out0_p + nc * h * w;
    int* r = out1_p + nc * h * w;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            float best = -INFINITY;
            int at = -1;
            for (int a = i * K0; a < i * K0 + K0; a++)
                for (int b = j * K1; b < j * K1 + K1; b++)
                    if (best < p[a * W + b] || at < 0) { best = p[a * W + b]; at = a * W + b; }
            q[i * w + j] = best;
            r[i * w + j] = at;
        }
}
"""

_BACKWARD = r"""
@alias(dout, in0)
@alias(idx, in1)
@alias(x, in2)
const int N = x_shape0, C = x_shape1, H = x_shape2, W = x_shape3;
const int hw = dout_shape2 * dout_shape3;
#pragma omp parallel for schedule(static)
for (long nc = 0; nc < (long)N * C; nc++) {
    float* d = out0_p + nc * H * W;
    for (long i = 0; i < (long)H * W; i++) d[i] = 0.f;
    const float* g = dout_p + nc * hw;
    const int* r = idx_p + nc * hw;
    for (int i = 0; i < hw; i++) d[r[i]] += g[i];
}
"""


def _header(k):
    return f"#include <cmath>\n#define K0 {k[0]}\n#define K1 {k[1]}\n"


class _MaxPoolFunction(jt.Function):
    def __init__(self, kernel):
        self.kernel = kernel

    def execute(self, x):
        n, c, h, w = x.shape
        shape = (n, c, h // self.kernel[0], w // self.kernel[1])
        out, idx = jt.code([shape, shape], ["float32", "int32"], [x], cpu_header=_header(self.kernel),
                           cpu_src=_FORWARD)
        self.saved = (x, idx)
        return out, idx.stop_grad()

    def grad(self, dout, *unused):
        x, idx = self.saved
        return jt.code(x.shape, "float32", [dout, idx, x], cpu_header=_header(self.kernel), cpu_src=_BACKWARD)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class FastMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` whose non-overlapping pools run the kernel of this module."""

    def execute(self, x):
        pool = self._layer
        kernel, stride, padding = _pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size), _pair(pool.padding)
        if (kernel != stride or any(padding) or pool.ceil_mode or x.ndim != 4 or str(x.dtype) != "float32"
                or jt.flags.use_cuda or x.shape[2] < kernel[0] or x.shape[3] < kernel[1]):
            return super().execute(x)
        out, idx = _MaxPoolFunction(kernel)(x)
        return (out, idx) if pool.return_indices else out
