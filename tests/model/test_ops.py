"""model/ops and utils.optim.FastAdam: the multi-threaded CPU operators equal Jittor's own ops (values and
gradients) and float64 NumPy references, on odd shapes, batch 1 and permuted (non-contiguous) inputs, give the
same bits with 1 and 2 threads, and reach the networks through accelerate()."""
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, jt
from jittor import nn
from model import create_model, ops
from model.ops import FastBatchNorm, FastBatchNormReLU, FastMaxPool2d, FastUpsample, PassThrough
from utils.optim import FastAdam

SHAPES = [(1, 3, 5, 7), (2, 4, 9, 6)]


def rand(shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


def grads(fn, x, params, gy):
    y = fn(x)
    return [y.numpy()] + [g.numpy() for g in jt.grad((y * gy).sum(), [x] + params)]


# ---------------------------------------------------------------------------------------------- BatchNorm
def batchnorm_reference(x, w, b, gy, relu, eps=1e-5):
    """Training-mode BatchNorm (+ReLU) forward and backward in float64."""
    x, w, b, gy = (a.astype(np.float64) for a in (x, w, b, gy))
    axes = (0, 2, 3)
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    xhat = (x - mean) / np.sqrt(var + eps)
    y = xhat * w[None, :, None, None] + b[None, :, None, None]
    g = gy * (y > 0) if relu else gy
    if relu:
        y = np.maximum(y, 0)
    m = x.shape[0] * x.shape[2] * x.shape[3]
    dw, db = (g * xhat).sum(axes), g.sum(axes)
    dx = w[None, :, None, None] / np.sqrt(var + eps) * (g - db[None, :, None, None] / m
                                                         - xhat * dw[None, :, None, None] / m)
    return y, dx, dw, db, mean.ravel(), var.ravel()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("relu", [False, True])
def test_batchnorm_matches_float64_reference_and_jittor(shape, relu):
    c = shape[1]
    x = rand(shape) * 3 + 1
    gy = rand(shape, 1)
    w, b = np.random.RandomState(2).rand(c).astype(np.float32) + 0.5, rand((c,), 3)
    fast = (FastBatchNormReLU if relu else FastBatchNorm)(c)
    plain = nn.BatchNorm2d(c)
    for layer in (fast, plain):
        layer.weight.assign(jt.array(w))
        layer.bias.assign(jt.array(b))
    xv = jt.array(x)
    ours = grads(fast, xv, [fast.weight, fast.bias], jt.array(gy))
    theirs = grads((lambda t: nn.relu(plain(t))) if relu else plain, xv, [plain.weight, plain.bias], jt.array(gy))
    ref = batchnorm_reference(x, w, b, gy, relu)
    for got, want in zip(ours, ref[:4]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    if not relu:  # with the ReLU, a value at ~0 may fall on either side in Jittor's float32 statistics
        for got, want in zip(ours, theirs):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # the running statistics move as Jittor's do (biased variance, momentum 0.1)
    np.testing.assert_allclose(fast.running_mean.numpy(), plain.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast.running_var.numpy(), 0.9 + 0.1 * ref[5], rtol=1e-5)


def test_batchnorm_in_eval_mode_and_on_a_permuted_input():
    fast, plain = FastBatchNorm(4), nn.BatchNorm2d(4)
    x = jt.array(rand((3, 6, 4, 5))).permute(0, 2, 1, 3)  # N x C x H x W made by a transpose
    np.testing.assert_allclose(fast(x).numpy(), plain(x).numpy(), rtol=1e-4, atol=1e-4)
    fast.eval()
    plain.eval()
    with jt.no_grad():  # the multi-threaded kernel with the running statistics
        np.testing.assert_allclose(fast(x).numpy(), plain(x).numpy(), rtol=1e-6, atol=1e-6)
    relu = FastBatchNormReLU(4)
    relu.load_parameters({k: v.numpy() for k, v in fast.state_dict().items()})
    relu.eval()
    with jt.no_grad():
        np.testing.assert_allclose(relu(x).numpy(), nn.relu(plain(x)).numpy(), rtol=1e-6, atol=1e-6)
    # with gradients, evaluation mode is Jittor's own op, whose gradient exists
    g = jt.grad(fast(x).sum(), x).numpy()
    np.testing.assert_allclose(g, jt.grad(plain(x).sum(), x).numpy(), rtol=1e-6)
    assert np.abs(g).min() > 0


# ---------------------------------------------------------------------------------------------- pooling
@pytest.mark.parametrize("shape", [(1, 2, 5, 7), (2, 3, 8, 6)])
def test_max_pool_equals_jittor_with_ties_and_indices(shape):
    x = np.maximum(rand(shape), 0)          # many ties at 0, where the first maximum must win
    x[0, 0, 0, :2] = 0.0
    gy = jt.array(rand((shape[0], shape[1], shape[2] // 2, shape[3] // 2), 1))
    fast, plain = FastMaxPool2d(2, 2), nn.MaxPool2d(2, 2)
    xv = jt.array(x)
    for got, want in zip(grads(fast, xv, [], gy), grads(plain, xv, [], gy)):
        np.testing.assert_array_equal(got, want)
    out, idx = FastMaxPool2d(2, 2, return_indices=True)(xv)
    ref_out, ref_idx = nn.MaxPool2d(2, 2, return_indices=True)(xv)
    np.testing.assert_array_equal(out.numpy(), ref_out.numpy())
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())


def test_pools_the_kernel_does_not_cover_run_jittors_code():
    x = jt.array(rand((1, 2, 7, 7)))
    for args in ((3, 2), (2, 2, 1)):   # overlapping windows; padding
        np.testing.assert_array_equal(FastMaxPool2d(*args)(x).numpy(), nn.MaxPool2d(*args)(x).numpy())


# ---------------------------------------------------------------------------------------------- resizing
def resize_reference(x, size, align):
    """Bilinear resizing in float64 with PyTorch's sampling positions."""
    n, c, h, w = x.shape

    def table(src, dst):
        o = np.arange(dst, dtype=np.float64)
        s = o * (src - 1) / max(dst - 1, 1) if align else np.maximum((o + 0.5) * src / dst - 0.5, 0)
        s = np.minimum(s, src - 1)
        a = np.floor(s).astype(int)
        return a, np.minimum(a + 1, src - 1), s - a
    y0, y1, fy = table(h, size[0])
    x0, x1, fx = table(w, size[1])
    x = x.astype(np.float64)
    top = x[:, :, y0][:, :, :, x0] * (1 - fx) + x[:, :, y0][:, :, :, x1] * fx
    bottom = x[:, :, y1][:, :, :, x0] * (1 - fx) + x[:, :, y1][:, :, :, x1] * fx
    return top * (1 - fy)[:, None] + bottom * fy[:, None]


@pytest.mark.parametrize("shape,size,align", [((1, 2, 5, 7), (10, 14), False), ((2, 3, 9, 6), (4, 5), False),
                                              ((1, 2, 5, 7), (9, 13), True), ((2, 1, 6, 6), (6, 6), True)])
def test_resize_matches_float64_reference_and_jittor(shape, size, align):
    x = jt.array(rand(shape))
    gy = jt.array(rand((shape[0], shape[1], *size), 1))
    ours = grads(lambda t: ops.resize(t, size, "bilinear", align), x, [], gy)
    theirs = grads(lambda t: nn.interpolate(t, size=size, mode="bilinear", align_corners=align), x, [], gy)
    np.testing.assert_allclose(ours[0], resize_reference(x.numpy(), size, align), rtol=1e-5, atol=1e-5)
    for got, want in zip(ours, theirs):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # the gradient of a linear map is its transpose: <resize(x), g> = <x, resize^T(g)>
    assert float((ours[0] * gy.numpy()).sum()) == pytest.approx(float((x.numpy() * ours[1]).sum()), rel=1e-4)


def test_upsample_module_uses_the_kernel_with_its_factor():
    x = jt.array(rand((1, 2, 4, 5)))
    up = FastUpsample(scale_factor=2, mode="bilinear")
    np.testing.assert_allclose(up(x).numpy(), nn.Upsample(scale_factor=2, mode="bilinear")(x).numpy(), atol=1e-6)
    nearest = FastUpsample(scale_factor=2, mode="nearest")
    np.testing.assert_array_equal(nearest(x).numpy(), nn.Upsample(scale_factor=2, mode="nearest")(x).numpy())


# ---------------------------------------------------------------------------------------------- Adam
def test_fast_adam_follows_jittors_adam():
    jt.set_global_seed(0)
    a = nn.Conv2d(2, 3, 3)
    b = nn.Conv2d(2, 3, 3)
    b.load_parameters({k: v.numpy() for k, v in a.state_dict().items()})
    opt_a, opt_b = nn.Adam(a.parameters(), 1e-2, weight_decay=1e-3), FastAdam(b.parameters(), 1e-2, weight_decay=1e-3)
    x = jt.array(rand((2, 2, 6, 6)))
    for _ in range(3):
        opt_a.step((a(x) ** 2).mean())
        opt_b.step((b(x) ** 2).mean())
    for k, v in a.state_dict().items():
        np.testing.assert_allclose(b.state_dict()[k].numpy(), v.numpy(), rtol=1e-5, atol=1e-6)
    for key in ("values", "m"):
        for u, w in zip(opt_a.param_groups[0][key], opt_b.param_groups[0][key]):
            np.testing.assert_allclose(w.numpy(), u.numpy(), rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------------------------------------- wiring
def test_accelerate_swaps_classes_keeps_names_and_fuses_only_unshared_relus():
    shared = nn.ReLU()

    class Net(nn.Module):
        def __init__(self):
            self.a = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU())
            self.b = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2), shared)
            self.act = shared          # the same ReLU used a second time: it must keep working
            self.pool = nn.MaxPool2d(2)

        def execute(self, x):
            return self.pool(self.act(self.b(self.a(x)) - 1.0))

    net = Net()
    names = sorted(net.state_dict())
    x = jt.array(rand((2, 1, 6, 6)))
    before = net(x).numpy()
    ops.accelerate(net)
    assert sorted(net.state_dict()) == names
    assert type(net.a[1]) is FastBatchNormReLU and type(net.a[2]) is PassThrough
    assert type(net.b[1]) is FastBatchNorm and type(shared) is nn.ReLU
    assert type(net.pool) is FastMaxPool2d
    np.testing.assert_allclose(net(x).numpy(), before, rtol=1e-4, atol=1e-5)


def test_models_get_the_operators_unless_switched_off(monkeypatch):
    kinds = {type(m) for m in create_model("unet").modules()}
    assert {FastBatchNormReLU, FastMaxPool2d, FastUpsample} <= kinds
    monkeypatch.setenv("JMEDSEG_CPU_OPS", "0")
    kinds = {type(m) for m in create_model("unet").modules()}
    assert not kinds & {FastBatchNorm, FastBatchNormReLU, FastMaxPool2d, FastUpsample}


def test_one_and_two_threads_give_the_same_bits(tmp_path):
    script = (
        "import numpy as np\nfrom utils import runtime\njt = runtime.init()\n"
        "from model.ops import FastBatchNormReLU, resize\n"
        "x = jt.array(np.random.RandomState(0).randn(2, 8, 33, 17).astype('float32'))\n"
        "bn = FastBatchNormReLU(8)\ny = resize(bn(x), (20, 40))\ng = jt.grad(y.sqr().sum(), x)\n"
        f"np.save(r'{tmp_path}/' + __import__('os').environ['OMP_NUM_THREADS'] + '.npy', "
        "np.concatenate([y.numpy().ravel(), g.numpy().ravel()]))\n")
    for threads in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads)
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "1.npy"), np.load(tmp_path / "2.npy"))
