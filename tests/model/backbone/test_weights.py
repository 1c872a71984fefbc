"""PyTorch weight import (model/backbone/weights.py and convert.py, ``python -m pipeline convert``):
torchvision-named ResNet-50 and VGG-16 built here in PyTorch with random weights, converted, loaded into our
encoders, and compared feature map by feature map in eval mode.

torchvision itself is not used (it does not import beside torch 2.13.0 here, and nothing may be downloaded):
the reference networks below reproduce its parameter names and forward passes. The tests that need torch are
skipped when it is not installed (``pip install -r requirements-torch.txt``).
"""
import numpy as np
import pytest

from tests.conftest import jt
import run
from model import backbone_kwargs, create_model
from model.backbone import convert, weights
from model.backbone.resnet import ResNet, resnet
from model.backbone.vgg import VGG16
from pipeline import catalog
from pipeline.__main__ import main as pipeline_main
from pipeline.setup import build_model, check_run_flags
from utils import checkpoint as ckpt
from utils.errors import CheckpointError, ConfigError

TOL = 1e-4


def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch is an optional extra (requirements-torch.txt)")


# ------------------------------------------------------------------------------- torchvision-named references
def torch_resnet50():
    """ResNet-50 with torchvision's module names (v1.5 bottlenecks, ``fc`` classifier)."""
    nn = torch_or_skip().nn

    class Bottleneck(nn.Module):
        def __init__(self, inplanes, planes, stride, downsample):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU()
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            return self.relu(self.bn3(self.conv3(out)) + identity)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            inplanes = 64
            for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
                stride = 1 if i == 0 else 2
                down = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                     nn.BatchNorm2d(planes * 4))
                layers = [Bottleneck(inplanes, planes, stride, down)]
                layers += [Bottleneck(planes * 4, planes, 1, None) for _ in range(blocks - 1)]
                setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
                inplanes = planes * 4
            self.fc = nn.Linear(2048, 1000)

        def features(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            out = [x]
            x = self.maxpool(x)
            for i in range(1, 5):
                x = getattr(self, f"layer{i}")(x)
                out.append(x)
            return out

    return Net()


def torch_vgg16(batch_norm):
    """VGG-16 (or VGG-16-BN) with torchvision's ``features.N`` names; a small ``classifier`` stands in for
    torchvision's 4096-wide one (the converter drops ``classifier.*`` whatever its shape)."""
    nn = torch_or_skip().nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            layers, ch, self.ends = [], 3, []
            for widths in ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)):
                for w in widths:
                    layers += [nn.Conv2d(ch, w, 3, padding=1)] + ([nn.BatchNorm2d(w)] if batch_norm else [])
                    layers.append(nn.ReLU())
                    ch = w
                self.ends.append(len(layers))
                layers.append(nn.MaxPool2d(2, 2))
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Linear(512, 16), nn.ReLU(), nn.Linear(16, 10))

        def stage_outputs(self, x):
            out = []
            for i, layer in enumerate(self.features):
                x = layer(x)
                if i + 1 in self.ends:
                    out.append(x)
            return out

    return Net()


def randomise(net, seed=0):
    """Random weights and BatchNorm statistics (so that eval mode really uses the running statistics)."""
    torch = torch_or_skip()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)
    net.eval()
    return net


def save_torch(net, path):
    torch_or_skip().save(net.state_dict(), str(path))
    return str(path)


def assert_features_match(ours, theirs):
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        b = b.detach().numpy()
        assert a.shape == b.shape, f"feature {i}: {a.shape} vs {b.shape}"
        scale = max(1.0, float(np.abs(b).max()))
        err = float(np.abs(a - b).max()) / scale
        assert err <= TOL, f"feature {i}: max difference {err:.2e} (relative to {scale:.1f})"


def run_both(ours, theirs_fn, size=64, seed=1):
    torch = torch_or_skip()
    x = np.random.RandomState(seed).rand(2, 3, size, size).astype("float32")
    ours.eval()
    with jt.no_grad():
        mine = [f.numpy() for f in ours(jt.array(x))]
    with torch.no_grad():
        ref = theirs_fn(torch.from_numpy(x))
    return mine, ref


# ------------------------------------------------------------------------------------------------ parity
def test_resnet50_features_match_pytorch(tmp_path):
    net = randomise(torch_resnet50())
    pth = save_torch(net, tmp_path / "resnet50.pth")
    out = str(tmp_path / "resnet50.pkl")
    assert pipeline_main(["convert", pth, out, "--arch", "resnet50"]) == 0
    state = ckpt.load_file(out)
    assert state[ckpt.META_KEY]["arch"] == "resnet50"
    assert not any(k.startswith("fc.") or k.endswith("num_batches_tracked") for k in state)
    ours = resnet(50, weights=out)
    assert_features_match(*run_both(ours, net.features))


@pytest.mark.parametrize("batch_norm", [False, True], ids=["vgg16", "vgg16_bn"])
def test_vgg16_features_match_pytorch(tmp_path, batch_norm):
    net = randomise(torch_vgg16(batch_norm))
    pth = save_torch(net, tmp_path / "vgg.pth")
    out = str(tmp_path / "vgg.pkl")
    assert convert.convert(pth, out) == ("vgg16_bn" if batch_norm else "vgg16")  # architecture detected
    ours = VGG16(batch_norm=batch_norm)
    weights.load_backbone_weights(ours, out)
    assert_features_match(*run_both(ours, net.stage_outputs))


def test_model_builder_loads_a_raw_pth_into_its_encoder(tmp_path):
    net = randomise(torch_vgg16(False))
    pth = save_torch(net, tmp_path / "vgg16.pth")
    model = create_model("ternaus", backbone_weights=pth)
    assert_features_match(*run_both(model.encoder, net.stage_outputs))


# ------------------------------------------------------------------------------------------- clear errors
def test_missing_key_is_an_error_naming_it(tmp_path, capsys):
    torch = torch_or_skip()
    state = randomise(torch_resnet50()).state_dict()
    del state["layer3.2.bn2.running_var"]
    pth = str(tmp_path / "broken.pth")
    torch.save(state, pth)
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): layer3\.2\.bn2\.running_var"):
        convert.convert(pth, str(tmp_path / "out.pkl"), "resnet50")
    assert pipeline_main(["convert", pth, str(tmp_path / "out.pkl"), "--arch", "resnet50"]) == 2
    assert "layer3.2.bn2.running_var" in capsys.readouterr().err
    assert not (tmp_path / "out.pkl").exists()


def test_wrong_shape_and_wrong_architecture_are_errors(tmp_path):
    torch = torch_or_skip()
    state = randomise(torch_resnet50()).state_dict()
    state["layer2.0.conv2.weight"] = torch.zeros(128, 128, 1, 1)
    pth = str(tmp_path / "bad_shape.pth")
    torch.save(state, pth)
    with pytest.raises(CheckpointError, match=r"shape mismatches \(1\): layer2\.0\.conv2\.weight: file "
                                              r"\(128, 128, 1, 1\) vs model \(128, 128, 3, 3\)"):
        resnet(50, weights=pth)
    with pytest.raises(CheckpointError, match="ResNet-101 encoder"):  # ResNet-50 weights for a ResNet-101
        create_model("deeplab", backbone_weights=save_torch(randomise(torch_resnet50()), tmp_path / "r50.pth"))


# ------------------------------------------------------------------------------------ no torch needed
def test_stem_follows_the_weights_and_unbuilt_layers_are_skipped(tmp_path):
    jt.set_global_seed(0)
    src = ResNet(50, deep_stem=True)
    path = str(tmp_path / "deep.pkl")
    ckpt.atomic_save(ckpt.model_state(src), path)
    loaded = resnet(50, weights=path)              # deep_stem defaults to False; the file decides
    assert loaded.deep_stem
    partial = resnet(50, weights=path, last_layer=3)  # layer4 of the file is not an "unexpected key"
    x = jt.array(np.random.RandomState(0).rand(1, 3, 64, 64).astype("float32"))
    for net in (src, loaded, partial):
        net.eval()
    with jt.no_grad():
        a = [f.numpy() for f in src(x)]
        b = [f.numpy() for f in loaded(x)]
        c = [f.numpy() for f in partial(x)]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    for u, v in zip(a[:4], c):
        np.testing.assert_array_equal(u, v)


def test_unexpected_key_is_an_error(tmp_path):
    state = ckpt.model_state(ResNet(18))
    state["layer5.0.conv1.weight"] = np.zeros((1, 1, 1, 1), "float32")
    path = str(tmp_path / "extra.pkl")
    ckpt.atomic_save(state, path)
    with pytest.raises(CheckpointError, match=r"unexpected keys \(1\): layer5\.0\.conv1\.weight"):
        resnet(18, weights=path)


def test_missing_torch_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "w.pth"
    path.write_bytes(b"not read")
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(ConfigError, match="needs PyTorch.*requirements-torch.txt"):
        weights.read_weights(str(path))


def test_backbone_kwargs():
    assert backbone_kwargs("deeplab", None) == {}
    assert backbone_kwargs("segnet", "w.pkl") == {"backbone_weights": "w.pkl"}
    with pytest.raises(ConfigError, match="has no ResNet/VGG encoder.*deeplab"):
        backbone_kwargs("unet", "w.pkl")


def test_run_py_flag_starts_the_encoder_from_the_weights(tmp_path):
    """``run.py --backbone-weights FILE`` reaches the builder: the encoder holds the file's values, and a
    network without a ResNet/VGG encoder refuses the flag."""
    source = VGG16(batch_norm=False)
    pkl = str(tmp_path / "vgg16.pkl")
    ckpt.save_weights(source, pkl)
    parser = run.build_parser(catalog)
    args = parser.parse_args(["--model", "ternaus", "--dataset", "demo", "--mode", "train", "--backbone-weights", pkl])
    model = build_model(check_run_flags(args))
    mine, ref = model.encoder.state_dict(), source.state_dict()
    assert set(mine) == set(ref)
    for k in ref:
        np.testing.assert_array_equal(mine[k].numpy(), ref[k].numpy())
    args = parser.parse_args(["--model", "unet", "--dataset", "demo", "--mode", "train", "--backbone-weights", pkl])
    with pytest.raises(ConfigError, match="ternaus"):
        build_model(check_run_flags(args))
