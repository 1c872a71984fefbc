"""UNeXt (Valanarasu & Patel, 2022, "UNeXt: MLP-based rapid medical image segmentation network").

Three convolutional stages (conv3 -> BatchNorm -> 2x2 max pool -> ReLU; 16, 32, 128 channels) take the image to
1/8; two overlapping patch embeddings (3x3 stride-2 convolutions + LayerNorm; 160 and 256 channels) take it to
1/16 and 1/32, each followed by a tokenised shifted-MLP block.  The decoder mirrors it: conv3 -> BatchNorm ->
bilinear x2 -> ReLU, added to the encoder map of the same size (additive skips, no concatenation), with shifted-MLP
blocks after the first two decoder stages; a 1x1 convolution gives the logits.  Dropout and drop-path rates are 0
in the original, so those layers are identities and are left out.

The original class takes ``img_size`` (default 224) but never uses it for the computation; this one works for any
size that is a multiple of 32.
"""
import jittor as jt
from jittor import nn

from .ops import resize
from .registry import register_model


def to_map(tokens, h, w):
    """B x (H*W) x C tokens -> B x C x H x W."""
    return tokens.transpose(0, 2, 1).reshape(tokens.shape[0], tokens.shape[2], h, w)


def to_tokens(x):
    """B x C x H x W -> B x (H*W) x C tokens."""
    return x.flatten(2).transpose(0, 2, 1)


def shift_tokens(tokens, h, w, dim, n_shifts=5):
    """Split the channels into ``n_shifts`` chunks and shift chunk k by ``k - n_shifts // 2`` pixels along ``dim``.

    ``dim`` is 2 (height) or 3 (width) of the B x C x H x W map; pixels shifted in from outside are zero.  The
    chunks are those of ``jt.chunk`` (``ceil(C / n_shifts)`` channels, the last one smaller).
    """
    x = to_map(tokens, h, w)
    pad = n_shifts // 2
    size = x.shape[dim]
    padding = (0, 0, pad, pad) if dim == 2 else (pad, pad, 0, 0)
    shifted = []
    for k, chunk in enumerate(jt.chunk(x, n_shifts, 1)):
        start = 2 * pad - k  # output position i reads padded position i + pad - (k - pad)
        chunk = nn.pad(chunk, padding)
        shifted.append(chunk[:, :, start:start + size] if dim == 2 else chunk[:, :, :, start:start + size])
    return to_tokens(jt.concat(shifted, dim=1))


class DWConv(nn.Module):
    """Depthwise 3x3 convolution (with bias) applied to a token sequence."""

    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def execute(self, tokens, h, w):
        return to_tokens(self.dwconv(to_map(tokens, h, w)))


class ShiftMLP(nn.Module):
    """Tokenised shifted MLP: shift along height -> fc1 -> depthwise conv -> GELU -> shift along width -> fc2."""

    def __init__(self, dim, hidden=None):
        super().__init__()
        hidden = hidden or dim
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def execute(self, tokens, h, w):
        x = self.fc1(shift_tokens(tokens, h, w, dim=2))
        x = self.act(self.dwconv(x, h, w))
        return self.fc2(shift_tokens(x, h, w, dim=3))


class ShiftedBlock(nn.Module):
    """Residual shifted-MLP block: ``x + mlp(LayerNorm(x))`` on tokens (MLP ratio 1 in UNeXt)."""

    def __init__(self, dim, mlp_ratio=1.0):
        super().__init__()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = ShiftMLP(dim, int(dim * mlp_ratio))

    def execute(self, tokens, h, w):
        return tokens + self.mlp(self.norm2(tokens), h, w)


class OverlapPatchEmbed(nn.Module):
    """Overlapping patch embedding: a k x k convolution with stride s (padding k // 2), then LayerNorm on tokens."""

    def __init__(self, in_ch, embed_dim, patch_size=3, stride=2):
        super().__init__()
        self.proj = nn.Conv2d(in_ch, embed_dim, patch_size, stride=stride, padding=patch_size // 2)
        self.norm = nn.LayerNorm(embed_dim)

    def execute(self, x):
        x = self.proj(x)
        h, w = x.shape[2:]
        return self.norm(to_tokens(x)), h, w


class UNext(nn.Module):
    """UNeXt with the original's widths (conv 16/32/128, tokens 160/256); submodule names follow the original."""

    def __init__(self, in_channels=3, n_classes=2, embed_dims=(128, 160, 256), patch_size=3, patch_stride=2):
        super().__init__()
        c1, c2 = 16, 32
        e0, e1, e2 = embed_dims
        self.encoder1 = nn.Conv2d(in_channels, c1, 3, padding=1)
        self.encoder2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.encoder3 = nn.Conv2d(c2, e0, 3, padding=1)
        self.ebn1, self.ebn2, self.ebn3 = nn.BatchNorm2d(c1), nn.BatchNorm2d(c2), nn.BatchNorm2d(e0)
        self.patch_embed3 = OverlapPatchEmbed(e0, e1, patch_size, patch_stride)
        self.patch_embed4 = OverlapPatchEmbed(e1, e2, patch_size, patch_stride)
        self.block1, self.block2 = ShiftedBlock(e1), ShiftedBlock(e2)
        self.norm3, self.norm4 = nn.LayerNorm(e1), nn.LayerNorm(e2)
        self.dblock1, self.dblock2 = ShiftedBlock(e1), ShiftedBlock(e0)
        self.dnorm3, self.dnorm4 = nn.LayerNorm(e1), nn.LayerNorm(e0)
        self.decoder1 = nn.Conv2d(e2, e1, 3, padding=1)
        self.decoder2 = nn.Conv2d(e1, e0, 3, padding=1)
        self.decoder3 = nn.Conv2d(e0, c2, 3, padding=1)
        self.decoder4 = nn.Conv2d(c2, c1, 3, padding=1)
        self.decoder5 = nn.Conv2d(c1, c1, 3, padding=1)
        self.dbn1, self.dbn2 = nn.BatchNorm2d(e1), nn.BatchNorm2d(e0)
        self.dbn3, self.dbn4 = nn.BatchNorm2d(c2), nn.BatchNorm2d(c1)
        self.final = nn.Conv2d(c1, n_classes, 1)

    @staticmethod
    def _up(x):
        return nn.relu(resize(x, (2 * x.shape[2], 2 * x.shape[3])))

    @staticmethod
    def _tokenised(block, norm, x):
        """Run a shifted-MLP block and its LayerNorm on the map ``x`` (B x C x H x W in, same out)."""
        h, w = x.shape[2:]
        return to_map(norm(block(to_tokens(x), h, w)), h, w)

    def execute(self, x):
        t1 = nn.relu(nn.max_pool2d(self.ebn1(self.encoder1(x)), 2, stride=2))
        t2 = nn.relu(nn.max_pool2d(self.ebn2(self.encoder2(t1)), 2, stride=2))
        t3 = nn.relu(nn.max_pool2d(self.ebn3(self.encoder3(t2)), 2, stride=2))
        tokens, h, w = self.patch_embed3(t3)
        t4 = to_map(self.norm3(self.block1(tokens, h, w)), h, w)
        tokens, h, w = self.patch_embed4(t4)
        out = to_map(self.norm4(self.block2(tokens, h, w)), h, w)

        out = self._up(self.dbn1(self.decoder1(out))) + t4
        out = self._tokenised(self.dblock1, self.dnorm3, out)
        out = self._up(self.dbn2(self.decoder2(out))) + t3
        out = self._tokenised(self.dblock2, self.dnorm4, out)
        out = self._up(self.dbn3(self.decoder3(out))) + t2
        out = self._up(self.dbn4(self.decoder4(out))) + t1
        out = self._up(self.decoder5(out))
        return self.final(out)


@register_model("unext", divisor=32)
def unext(in_channels=3, n_classes=2, **kw):
    """UNeXt: convolutional stages plus tokenised shifted-MLP blocks, additive skips (1.47 M parameters)."""
    return UNext(in_channels, n_classes, **kw)
