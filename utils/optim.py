"""Optimizers and learning-rate schedules by name (``-o``, ``--poly``).

:data:`OPTIMIZERS`: the original's ``Adam`` (betas 0.9/0.999, eps 1e-8) and ``SGD`` (momentum 0.9, weight
decay 1e-4), each ``factory(params, lr)``. On the CPU, Adam is :class:`FastAdam` (``utils.runtime.cpu_ops``):
Jittor's formula to the letter, each parameter's update (weight decay, both moments, the step) in one
multi-threaded kernel instead of Jittor's chain of single-threaded element-wise ops; its state
(``pg["values"]``, ``pg["m"]``) is Jittor's, so checkpoints and ``--resume`` do not change. :data:`SCHEDULERS`: ``constant`` and ``poly``
(``lr * (1 - it / total) ** 0.9`` over the real number of iterations), each ``schedule(base_lr, iteration,
total_iterations) -> lr``, applied before every step (Jittor 1.3.11's own schedulers lag one step behind).
"""
import math

import jittor as jt
from jittor import nn

from utils import runtime
from utils.registry import Registry

OPTIMIZERS = Registry("optimizer")
SCHEDULERS = Registry("learning-rate schedule")


_UPDATE = r"""
@alias(p, in0)
@alias(g, in1)
@alias(m, in2)
@alias(v, in3)
@alias(k, in4)
const float step = k_p[0], eps = k_p[1], wd = k_p[2], b0 = k_p[3], b1 = k_p[4];
const long n = p_shape0;
#pragma omp parallel for schedule(static) if (n > 32768)
for (long i = 0; i < n; i++) {
    const float gi = g_p[i] + wd * p_p[i];
    const float mi = b0 * m_p[i] + (1.f - b0) * gi;
    const float vi = b1 * v_p[i] + (1.f - b1) * gi * gi;
    out1_p[i] = mi;
    out2_p[i] = vi;
    out0_p[i] = p_p[i] - mi * step / (std::sqrt(vi) + eps);
}
"""


class FastAdam(nn.Adam):
    """``nn.Adam`` whose step runs the kernel of this module on the CPU."""

    def step(self, loss=None, retain_graph=False):
        if jt.flags.use_cuda:
            return super().step(loss, retain_graph)
        self.pre_step(loss, retain_graph)
        n = float(self.n_step)
        jt.flags.node_order = 1
        for pg in self.param_groups:
            lr = pg.get("lr", self.lr)
            eps = pg.get("eps", self.eps)
            weight_decay = pg.get("weight_decay", self.weight_decay)
            b0, b1 = pg.get("betas", self.betas)
            step = lr * math.sqrt(1 - b1 ** n) / (1 - b0 ** n)
            constants = jt.array([step, eps, weight_decay, b0, b1], dtype="float32")
            for p, g, v, m in zip(pg["params"], pg["grads"], pg["values"], pg["m"]):
                if p.is_stop_grad():
                    continue
                if str(p.dtype) != "float32":  # the kernel is written for float32: Jittor's formula
                    g = p * weight_decay + g
                    m.update(b0 * m + (1 - b0) * g)
                    v.update(b1 * v + (1 - b1) * g * g)
                    p.update(p - m * step / (jt.sqrt(v) + eps))
                    continue
                flat = [t.reshape((-1,)) for t in (p, g, m, v)]
                new_p, new_m, new_v = jt.code([flat[0].shape] * 3, [p.dtype] * 3, flat + [constants],
                                              cpu_header="#include <cmath>\n", cpu_src=_UPDATE)
                m.update(new_m.reshape(m.shape))
                v.update(new_v.reshape(v.shape))
                p.update(new_p.reshape(p.shape))
        self.post_step()


@OPTIMIZERS.register("Adam")
def adam(params, lr):
    return (FastAdam if runtime.cpu_ops() else nn.Adam)(params, lr, betas=(0.9, 0.999))


@OPTIMIZERS.register("SGD")
def sgd(params, lr):
    return nn.SGD(params, lr, momentum=0.9, weight_decay=1e-4)


def make_optimizer(name, params, lr):
    """The optimizer ``name`` (a :class:`~utils.errors.ConfigError` listing the valid names when unknown)."""
    return OPTIMIZERS.get(name, "-o")(params, lr)


@SCHEDULERS.register("constant")
def constant_lr(base_lr, iteration, total_iterations):
    return base_lr


@SCHEDULERS.register("poly")
def poly_lr(base_lr, iteration, total_iterations, power=0.9):
    """``base_lr * (1 - iteration / total_iterations) ** power`` (never negative)."""
    return base_lr * max(0.0, 1.0 - iteration / total_iterations) ** power
