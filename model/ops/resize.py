"""Bilinear resizing as a multi-threaded CPU kernel (one image plane per thread) with its backward pass,
``align_corners`` either way, with the sampling positions of Jittor's (and PyTorch's) ``interpolate``:

* ``align_corners=False``: ``src = (dst + 0.5) * in / out - 0.5``, clamped at 0 (and at ``in - 1`` when
  enlarging); ``align_corners=True``: ``src = dst * (in - 1) / (out - 1)``;
* the four neighbours ``floor(src)`` and ``floor(src) + 1`` (clamped to the image) weighted linearly.

The backward pass adds each output gradient to the four input pixels with the same weights; a thread owns a
whole plane, so no two threads add to one pixel. Other modes, and CUDA, use Jittor's own ``interpolate``.
"""
import jittor as jt
from jittor import nn

from utils import runtime

_TABLES = r"""
// source rows/columns and weights of every output row/column
static inline void axis_table(int in, int out, int align, int* i0, int* i1, float* f) {
    for (int o = 0; o < out; o++) {
        double s;
        if (align) s = out > 1 ? (double)o * (in - 1) / (out - 1) : 0.0;
        else {
            s = (o + 0.5) * ((double)in / out) - 0.5;
            if (s < 0) s = 0;
        }
        if (s > in - 1) s = in - 1;
        int a = (int)s;
        if (a > in - 1) a = in - 1;
        i0[o] = a;
        i1[o] = a + 1 < in ? a + 1 : in - 1;
        f[o] = (float)(s - a);
    }
}
// both axes' tables, from H, W (input) and h, w (output) in scope
#define BILINEAR_TABLES \
    std::vector<int> y0(h), y1(h), x0(w), x1(w); \
    std::vector<float> fy(h), fx(w); \
    axis_table(H, h, ALIGN, y0.data(), y1.data(), fy.data()); \
    axis_table(W, w, ALIGN, x0.data(), x1.data(), fx.data());
"""

_FORWARD = r"""
@alias(x, in0)
const int N = x_shape0, C = x_shape1, H = x_shape2, W = x_shape3;
const int h = out0_shape2, w = out0_shape3;
BILINEAR_TABLES
#pragma omp parallel for schedule(static)
for (long nc = 0; nc < (long)N * C; nc++) {
    const float* p = x_p + nc * H * W;
    float* q = out0_p + nc * h * w;
    for (int i = 0; i < h; i++) {
        const float* r0 = p + (long)y0[i] * W;
        const float* r1 = p + (long)y1[i] * W;
        const float b = fy[i], a = 1.f - b;
        for (int j = 0; j < w; j++) {
            const float d = fx[j], c = 1.f - d;
            q[(long)i * w + j] = a * (c * r0[x0[j]] + d * r0[x1[j]]) + b * (c * r1[x0[j]] + d * r1[x1[j]]);
        }
    }
}
"""

_BACKWARD = r"""
@alias(dout, in0)
@alias(x, in1)
const int N = x_shape0, C = x_shape1, H = x_shape2, W = x_shape3;
const int h = dout_shape2, w = dout_shape3;
BILINEAR_TABLES
#pragma omp parallel for schedule(static)
for (long nc = 0; nc < (long)N * C; nc++) {
    float* d = out0_p + nc * H * W;
    for (long i = 0; i < (long)H * W; i++) d[i] = 0.f;
    const float* g = dout_p + nc * h * w;
    for (int i = 0; i < h; i++) {
        float* r0 = d + (long)y0[i] * W;
        float* r1 = d + (long)y1[i] * W;
        const float b = fy[i], a = 1.f - b;
        for (int j = 0; j < w; j++) {
            const float v = g[(long)i * w + j], dd = fx[j], c = 1.f - dd;
            r0[x0[j]] += a * c * v; r0[x1[j]] += a * dd * v;
            r1[x0[j]] += b * c * v; r1[x1[j]] += b * dd * v;
        }
    }
}
"""


def _header(align):
    return f"#include <vector>\n#define ALIGN {int(bool(align))}\n" + _TABLES


class _ResizeFunction(jt.Function):
    def __init__(self, size, align_corners):
        self.size, self.align = tuple(int(s) for s in size), bool(align_corners)

    def execute(self, x):
        self.saved = x
        return jt.code((*x.shape[:2], *self.size), "float32", [x], cpu_header=_header(self.align),
                       cpu_src=_FORWARD)

    def grad(self, dout):
        x = self.saved
        return jt.code(x.shape, "float32", [dout, x], cpu_header=_header(self.align), cpu_src=_BACKWARD)


def resize(x, size, mode="bilinear", align_corners=False):
    """``nn.interpolate(x, size=size, mode=mode, align_corners=align_corners)``, with the kernel of this module
    for bilinear float32 N x C x H x W on the CPU."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    if mode != "bilinear" or x.ndim != 4 or str(x.dtype) != "float32" or not runtime.cpu_ops():
        return nn.interpolate(x, size=size, mode=mode, align_corners=align_corners)
    if tuple(x.shape[2:]) == size and not align_corners:
        return x
    return _ResizeFunction(size, align_corners)(x)


class FastUpsample(nn.Upsample):
    """``nn.Upsample`` whose bilinear mode runs :func:`resize`."""

    def execute(self, x):
        factor = self.scale_factor
        if self.mode != "bilinear" or factor is None:
            return super().execute(x)
        fy, fx = factor if isinstance(factor, tuple) else (factor, factor)
        return resize(x, (int(x.shape[2] * fy), int(x.shape[3] * fx)), "bilinear", self.align_corners)
