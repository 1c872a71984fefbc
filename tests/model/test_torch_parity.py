"""Jittor -> PyTorch parity: our weights copied by name into PyTorch ports give the same logits in eval mode.

Two networks: ``unet`` against ``bench/torch_unet.py`` (the port the speed comparison times) and ``dlink``, a
ResNet-based network (ResNet-50 encoder, dilated centre, LinkNet decoders with transposed convolutions), against
a port written below on the torchvision-named ResNet-50 of ``backbone/test_weights.py``. The BatchNorm statistics are
moved away from their initial values first, so eval mode really uses them. Skipped without torch.
"""
import numpy as np
import pytest

from tests.conftest import jt
from model import create_model
from utils.checkpoint import model_state

TOL = 1e-4


def moved_statistics(model, size, steps=3):
    """Training-mode passes on random inputs move every BatchNorm's running statistics."""
    model.train()
    for seed in range(steps):
        x = np.random.RandomState(seed).rand(2, 3, size, size).astype("float32")
        model(jt.array(x)).sync()
    jt.sync_all(True)
    model.eval()
    return model


def compare(ours, theirs, size, seed=11):
    torch = pytest.importorskip("torch")
    from bench.torch_unet import load_numpy_state
    load_numpy_state(theirs, model_state(ours))
    theirs.eval()
    x = np.random.RandomState(seed).rand(2, 3, size, size).astype("float32")
    with jt.no_grad():
        mine = ours(jt.array(x)).numpy()
    with torch.no_grad():
        ref = theirs(torch.from_numpy(x)).numpy()
    assert mine.shape == ref.shape
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(mine - ref).max()) / scale
    assert err <= TOL, f"max difference {err:.2e} (relative to {scale:.2f})"
    assert np.abs(ref).max() > 1e-3  # not a trivially zero output


def test_unet_matches_the_pytorch_port():
    pytest.importorskip("torch")
    from bench.torch_unet import TorchUNet
    jt.set_global_seed(0)
    compare(moved_statistics(create_model("unet"), 64), TorchUNet(), 64)


def torch_dlinknet(n_classes=2):
    """D-LinkNet in PyTorch with our parameter names (``encoder.*``, ``dblock.dilate1..5``, ``decoder4..1``,
    ``head.finaldeconv1/finalconv2/finalconv3``)."""
    torch = pytest.importorskip("torch")
    nn, F = torch.nn, torch.nn.functional
    from tests.model.backbone.test_weights import torch_resnet50

    class Decoder(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            mid = cin // 4
            self.conv1, self.norm1 = nn.Conv2d(cin, mid, 1), nn.BatchNorm2d(mid)
            self.deconv2 = nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, output_padding=1)
            self.norm2 = nn.BatchNorm2d(mid)
            self.conv3, self.norm3 = nn.Conv2d(mid, cout, 1), nn.BatchNorm2d(cout)

        def forward(self, x):
            x = F.relu(self.norm1(self.conv1(x)))
            x = F.relu(self.norm2(self.deconv2(x)))
            return F.relu(self.norm3(self.conv3(x)))

    class Center(nn.Module):
        def __init__(self, ch):
            super().__init__()
            for i, d in enumerate((1, 2, 4, 8, 16), 1):
                setattr(self, f"dilate{i}", nn.Conv2d(ch, ch, 3, padding=d, dilation=d))

        def forward(self, x):
            out, y = x, x
            for i in range(1, 6):
                y = F.relu(getattr(self, f"dilate{i}")(y))
                out = out + y
            return out

    class Head(nn.Module):
        def __init__(self, cin):
            super().__init__()
            self.finaldeconv1 = nn.ConvTranspose2d(cin, 32, 4, stride=2, padding=1)
            self.finalconv2 = nn.Conv2d(32, 32, 3, padding=1)
            self.finalconv3 = nn.Conv2d(32, n_classes, 3, padding=1)

        def forward(self, x):
            return self.finalconv3(F.relu(self.finalconv2(F.relu(self.finaldeconv1(x)))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch_resnet50()
            self.encoder.fc = nn.Identity()
            self.dblock = Center(2048)
            self.decoder4, self.decoder3 = Decoder(2048, 1024), Decoder(1024, 512)
            self.decoder2, self.decoder1 = Decoder(512, 256), Decoder(256, 256)
            self.head = Head(256)

        def forward(self, x):
            _, e1, e2, e3, e4 = self.encoder.features(x)
            d4 = self.decoder4(self.dblock(e4)) + e3
            d3 = self.decoder3(d4) + e2
            d2 = self.decoder2(d3) + e1
            return self.head(self.decoder1(d2))

    return Net()


def test_resnet_based_dlink_matches_a_pytorch_port():
    pytest.importorskip("torch")
    jt.set_global_seed(0)
    compare(moved_statistics(create_model("dlink"), 64, steps=2), torch_dlinknet(), 64)
