"""Training-mode BatchNorm (and BatchNorm + ReLU) as multi-threaded CPU kernels with their backward pass.

Forward: per channel, the mean and the (biased) variance of the batch, accumulated in float64, one channel per
thread; then ``y = x * scale + shift`` (``scale = weight / sqrt(var + eps)``), clamped at 0 when the ReLU is
fused. The running statistics move exactly as in Jittor's ``nn.BatchNorm`` (``r += (stat - r) * momentum``,
the biased variance). Backward, per channel::

    g      = dy (times y > 0 with the ReLU)
    dbias  = sum(g),  dweight = sum(g * xhat),  xhat = (x - mean) * invstd
    dx     = weight * invstd * (g - sum(g) / M - xhat * sum(g * xhat) / M)        M = N * H * W

In evaluation mode without gradients (``jt.no_grad()``, as every prediction here runs) the same
multi-threaded ``y = x * scale + shift`` (+ ReLU) kernel applies the running statistics. Affine-free layers,
synchronised statistics under MPI, evaluation with gradients and inputs other than N x C x H x W use Jittor's
own BatchNorm.
"""
import jittor as jt
from jittor import nn

HEADER = "#include <cmath>\n"

_STATS = r"""
@alias(x, in0)
const int N = x_shape0, C = x_shape1;
const long HW = (long)x_shape2 * x_shape3;
const double M = (double)N * HW;
#pragma omp parallel for schedule(static)
for (int c = 0; c < C; c++) {
    double s = 0, ss = 0;
    for (int n = 0; n < N; n++) {
        const float* p = x_p + ((long)n * C + c) * HW;
        double s1 = 0, ss1 = 0;
        for (long i = 0; i < HW; i++) { const double v = p[i]; s1 += v; ss1 += v * v; }
        s += s1; ss += ss1;
    }
    const double mean = s / M;
    double var = ss / M - mean * mean;
    if (var < 0) var = 0;
    out0_p[c] = (float)mean;
    out1_p[c] = (float)var;
}
"""

_APPLY = r"""
@alias(x, in0)
@alias(scale, in1)
@alias(shift, in2)
const int N = x_shape0, C = x_shape1;
const long HW = (long)x_shape2 * x_shape3;
#pragma omp parallel for schedule(static)
for (long nc = 0; nc < (long)N * C; nc++) {
    const int c = nc % C;
    const float a = scale_p[c], b = shift_p[c];
    const float* p = x_p + nc * HW;
    float* q = out0_p + nc * HW;
    for (long i = 0; i < HW; i++) {
        const float v = p[i] * a + b;
        q[i] = RELU ? (v > 0.f ? v : 0.f) : v;
    }
}
"""

_BACKWARD = r"""
@alias(dy, in0)
@alias(x, in1)
@alias(y, in2)
@alias(mean, in3)
@alias(invstd, in4)
@alias(w, in5)
const int N = x_shape0, C = x_shape1;
const long HW = (long)x_shape2 * x_shape3;
const double M = (double)N * HW;
#pragma omp parallel for schedule(static)
for (int c = 0; c < C; c++) {
    const double mu = mean_p[c], is = invstd_p[c];
    double sg = 0, sgx = 0;
    for (int n = 0; n < N; n++) {
        const long o = ((long)n * C + c) * HW;
        const float *g = dy_p + o, *xp = x_p + o, *yp = y_p + o;
        double a = 0, b = 0;
        for (long i = 0; i < HW; i++) {
            const double gi = (RELU && !(yp[i] > 0.f)) ? 0.0 : (double)g[i];
            a += gi;
            b += gi * (xp[i] - mu);
        }
        sg += a; sgx += b;
    }
    out1_p[c] = (float)(sgx * is);
    out2_p[c] = (float)sg;
    const double k = w_p[c] * is, mg = sg / M, mgx = sgx * is * is / M;
    for (int n = 0; n < N; n++) {
        const long o = ((long)n * C + c) * HW;
        const float *g = dy_p + o, *xp = x_p + o, *yp = y_p + o;
        float* d = out0_p + o;
        for (long i = 0; i < HW; i++) {
            const double gi = (RELU && !(yp[i] > 0.f)) ? 0.0 : (double)g[i];
            d[i] = (float)(k * (gi - mg - (xp[i] - mu) * mgx));
        }
    }
}
"""


class _BatchNormFunction(jt.Function):
    """``(y, mean, var)`` of a batch; the gradient flows to x, weight and bias through ``y``."""

    def __init__(self, relu, eps):
        self.relu, self.eps = int(relu), float(eps)

    def execute(self, x, weight, bias):
        c = x.shape[1]
        mean, var = jt.code([(c,), (c,)], ["float32", "float32"], [x], cpu_header=HEADER, cpu_src=_STATS)
        invstd = 1.0 / jt.sqrt(var + self.eps)
        scale = weight * invstd
        y = _apply(x, scale, bias - mean * scale, self.relu)
        self.saved = (x, y, mean, invstd, weight)
        return y, mean.stop_grad(), var.stop_grad()

    def grad(self, dy, *unused):
        x, y, mean, invstd, weight = self.saved
        c = x.shape[1]
        header = HEADER + f"#define RELU {self.relu}\n"
        return jt.code([x.shape, (c,), (c,)], ["float32"] * 3, [dy, x, y, mean, invstd, weight],
                       cpu_header=header, cpu_src=_BACKWARD)


def _apply(x, scale, shift, relu):
    return jt.code(x.shape, "float32", [x, scale, shift], cpu_header=HEADER + f"#define RELU {int(relu)}\n",
                   cpu_src=_APPLY)


def _covered(bn, x):
    return (bn.affine and x.ndim == 4 and str(x.dtype) == "float32" and not jt.flags.use_cuda
            and (not bn.is_train or not (bn.sync and jt.in_mpi)))


class FastBatchNorm(nn.BatchNorm):
    """``nn.BatchNorm`` whose training-mode pass runs the kernels of this module."""

    fuse_relu = False

    def execute(self, x):
        if _covered(self, x) and not self.is_train and jt.flags.no_grad:
            scale = self.weight / jt.sqrt(self.running_var + self.eps)
            return _apply(x, scale, self.bias - self.running_mean * scale, self.fuse_relu)
        if not _covered(self, x) or not self.is_train:
            y = super().execute(x)
            return nn.relu(y) if self.fuse_relu else y
        y, mean, var = _BatchNormFunction(self.fuse_relu, self.eps)(x, self.weight, self.bias)
        self.running_mean.update(self.running_mean + (mean - self.running_mean) * self.momentum)
        self.running_var.update(self.running_var + (var - self.running_var) * self.momentum)
        return y


class FastBatchNormReLU(FastBatchNorm):
    """:class:`FastBatchNorm` followed by a ReLU, in one pass (the ReLU after it becomes a :class:`PassThrough`)."""

    fuse_relu = True


class PassThrough(nn.ReLU):
    """A ReLU whose work the BatchNorm before it does (:class:`FastBatchNormReLU`): returns its input."""

    def execute(self, x):
        return x
