"""Memory a step of a network will need, estimated before it runs, and the memory this machine has free.

Jittor builds its graph lazily: calling a module on ``jt.zeros(shape)`` infers every output's shape without
allocating or computing anything. :func:`activation_bytes` sums the float32 outputs of the leaf modules of one
such forward pass. A training step keeps them for the backward pass and creates their gradients, and holds
weights, gradients and Adam's two moments: measured on UNet with this library (4 x 3 x 128^2 and 256^2, Jittor
1.3.11 on the CPU), the peak is within 10 % of ``2 x activations + 4 x weights``, which
:func:`step_bytes` returns. Inference keeps no activations for a backward pass: ``activations + weights``.
"""
import jittor as jt
from jittor import nn


def _leaves(model):
    return [m for m in model.modules()
            if not isinstance(m, nn.Sequential) and not any(isinstance(v, nn.Module) for v in vars(m).values())]


def activation_bytes(model, input_shape):
    """Bytes of the float32 outputs of every leaf module for one forward pass on ``input_shape`` (nothing is
    computed; the hooks are removed afterwards)."""
    total = [0]

    def count(module, inputs, output):
        for out in output if isinstance(output, (list, tuple)) else [output]:
            if isinstance(out, jt.Var):
                total[0] += int(out.numel()) * 4

    leaves = [m for m in _leaves(model) if getattr(m, "__fhook__", None) is None]
    for m in leaves:
        m.register_forward_hook(count)
    try:
        model(jt.zeros(input_shape))
    finally:
        for m in leaves:
            m.remove_forward_hook()
    return total[0]


def step_bytes(model, input_shape, training=True):
    """Estimated peak bytes of one step (see the module docstring)."""
    weights = sum(int(p.numel()) for p in model.parameters()) * 4
    activations = activation_bytes(model, input_shape)
    return 2 * activations + 4 * weights if training else activations + weights


def available_bytes():
    """``MemAvailable`` of /proc/meminfo, or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def gigabytes(n):
    return f"{n / 1e9:.1f} GB"
