"""MISSFormer (Huang et al., "MISSFormer: An Effective Transformer for 2D Medical Image Segmentation", IEEE TMI
2022), the configuration of the paper and its code: widths 64, 128, 320, 512, two blocks per stage.

* **Encoder**: the Mix Transformer of SegFormer (:class:`model.transformer.MixTransformer`: overlapped patch
  embeddings, efficient self-attention with reduction ratios 8, 4, 2, 1 and heads 1, 2, 5, 8) with MISSFormer's
  *enhanced* Mix-FFN (``GELU(LN(dwconv(fc1 x) + fc1 x))``, :class:`model.transformer.MixFFN`), LayerNorm eps 1e-5.
* **Context bridge** (:class:`ContextBridge`, four :class:`BridgeLayer` s): the four stage maps are flattened
  channel-last and cut into 64-wide tokens (``h w C_i / 64`` tokens per stage), concatenated, and pass
  pre-norm single-head attention whose keys and values come from the stages reduced by 8x8, 4x4 and 2x2
  convolutions (the 1/32 stage as it is), then each stage's tokens, back at their own width and grid, pass
  their own enhanced Mix-FFN (4x wide); both with residuals.
* **Decoder**: the 1/32 bridge output is patch-expanded (Linear to 2x the features, laid over 2x2 pixels,
  LayerNorm) to 1/16; at 1/16, 1/8 and 1/4 the expanded map and the bridge's map of that size are concatenated,
  a Linear (``concat_linear``) sets the width (320, 128, 64), two enhanced transformer blocks (the encoder's
  block at that width) refine it and patch expanding (x2, or x4 with LayerNorm at the end) enlarges it; a 1x1
  convolution gives the logits at the input size.

Differences from the official code:

* Modules its forward pass never uses are not built: the 1/32 decoder layer's ``concat_linear`` and two
  transformer blocks, and the ``norm2``/``norm3`` LayerNorms of every enhanced Mix-FFN (7.01 M parameters in
  all, which would get no gradient). With them the count is the paper's 42.46 M (42,462,537 at n_classes 9;
  ``tests/model/test_transformer.py`` checks it); without them ours is 35,452,745.
* The bridge packs and unpacks every stage channel-last (``h w C`` -> 64-wide tokens); the official code packs
  the reduced key/value maps channel-first instead (a reshape of ``C x h w``), which mixes positions and
  channels inside a token. The official code also hard-codes the token counts of 224 x 224 inputs; here they
  follow the input, so every multiple of 32 works.
* Any number of input channels (the official code repeats a grey image to three channels).
"""
import jittor as jt
from jittor import nn

from .registry import register_model
from .transformer import (MixFFN, MixTransformer, MixTransformerBlock, MultiHeadAttention, PatchExpand,
                          map_to_tokens, tokens_to_map)

DIMS = (64, 128, 320, 512)
HEADS = (1, 2, 5, 8)
SR_RATIOS = (8, 4, 2, 1)
TOKEN = 64       # width of the bridge's tokens


def pack(x, width=TOKEN):
    """``B x C x h x w`` map -> ``B x (h w C / width) x width`` tokens (channel-last, cut into ``width``)."""
    return map_to_tokens(x).reshape(x.shape[0], -1, width)


def unpack(t, channels, h, w):
    """The inverse of :func:`pack`: ``B x (h w C / width) x width`` -> ``B x C x h x w``."""
    return tokens_to_map(t.reshape(t.shape[0], h * w, channels), h, w)


class BridgeLayer(nn.Module):
    """One layer of the context bridge over the packed tokens of all stages (see the module docstring):
    ``norm1``, ``attn`` (single head, keys/values from ``sr1..3`` + ``sr_norm``), ``norm2``, ``mixffn1..4``."""

    def __init__(self, dims=DIMS, heads=1, sr_ratios=SR_RATIOS):
        super().__init__()
        self.dims, self.sr_ratios = tuple(dims), tuple(sr_ratios)
        self.norm1 = nn.LayerNorm(TOKEN)
        self.attn = MultiHeadAttention(TOKEN, heads, layout="q_kv")
        for i, (dim, r) in enumerate(zip(dims, sr_ratios), 1):
            if r > 1:
                setattr(self, f"sr{i}", nn.Conv2d(dim, dim, r, stride=r))
        self.sr_norm = nn.LayerNorm(TOKEN)
        self.norm2 = nn.LayerNorm(TOKEN)
        for i, dim in enumerate(dims, 1):
            setattr(self, f"mixffn{i}", MixFFN(dim, 4 * dim, enhanced=True))

    def _split(self, t, grids):
        """The packed tokens of each stage, as maps."""
        out, start = [], 0
        for dim, (h, w) in zip(self.dims, grids):
            n = h * w * dim // TOKEN
            out.append(unpack(t[:, start:start + n], dim, h, w))
            start += n
        return out

    def execute(self, t, grids):
        y = self.norm1(t)
        reduced = []
        for i, (m, r) in enumerate(zip(self._split(y, grids), self.sr_ratios), 1):
            reduced.append(pack(getattr(self, f"sr{i}")(m) if r > 1 else m))
        t = t + self.attn(y, context=self.sr_norm(jt.concat(reduced, dim=1)))
        mixed = []
        for i, m in enumerate(self._split(self.norm2(t), grids), 1):
            h, w = m.shape[2:]
            mixed.append(getattr(self, f"mixffn{i}")(map_to_tokens(m), (h, w)).reshape(m.shape[0], -1, TOKEN))
        return t + jt.concat(mixed, dim=1)


class ContextBridge(nn.Module):
    """``bridge_layer1..4``: packs the four stage maps, runs the layers, unpacks the maps."""

    def __init__(self, depth=4, dims=DIMS):
        super().__init__()
        self.dims = tuple(dims)
        self.layers = nn.ModuleList([BridgeLayer(dims) for _ in range(depth)])

    def execute(self, maps):
        grids = [tuple(m.shape[2:]) for m in maps]
        t = jt.concat([pack(m) for m in maps], dim=1)
        for layer in self.layers:
            t = layer(t, grids)
        return self.layers[0]._split(t, grids)


class DecoderStage(nn.Module):
    """``concat_linear`` over ``[expanded, skip]``, two enhanced transformer blocks (``layer_former_1/2``),
    patch expanding (``layer_up``: x2 to half the width, or x4 at the last stage), all on channel-last maps."""

    def __init__(self, in_dim, out_dim, heads, sr_ratio, last=False):
        super().__init__()
        self.concat_linear = nn.Linear(in_dim, out_dim)
        self.layer_former_1 = MixTransformerBlock(out_dim, heads, sr_ratio, eps=1e-5, enhanced=True)
        self.layer_former_2 = MixTransformerBlock(out_dim, heads, sr_ratio, eps=1e-5, enhanced=True)
        self.layer_up = PatchExpand(out_dim, out_dim, scale=4) if last else PatchExpand(out_dim, out_dim // 2)

    def execute(self, up, skip):
        """``up`` (``B x h x w x C``) and ``skip`` (``B x C' x h x w``) -> ``B x (h s) x (w s) x C_out``."""
        b, h, w, _ = up.shape
        t = self.concat_linear(jt.concat([up.reshape(b, h * w, -1), map_to_tokens(skip)], dim=2))
        t = self.layer_former_2(self.layer_former_1(t, (h, w)), (h, w))
        return self.layer_up(t.reshape(b, h, w, -1))


class MISSFormer(nn.Module):
    """``backbone`` (:class:`MixTransformer`), ``bridge`` (:class:`ContextBridge`), ``layer_up`` (1/32 -> 1/16),
    ``decoder_2``, ``decoder_1``, ``decoder_0`` (:class:`DecoderStage`), ``last_layer`` (1x1 conv)."""

    def __init__(self, in_channels=3, n_classes=2, bridge_depth=4):
        super().__init__()
        self.backbone = MixTransformer(in_channels, DIMS, (2, 2, 2, 2), HEADS, SR_RATIOS, eps=1e-5, enhanced=True)
        self.bridge = ContextBridge(bridge_depth, DIMS)
        self.layer_up = PatchExpand(DIMS[3], DIMS[3] // 2)
        self.decoder_2 = DecoderStage(DIMS[3] // 2 + DIMS[2], DIMS[2], HEADS[2], SR_RATIOS[2])
        self.decoder_1 = DecoderStage(DIMS[2] // 2 + DIMS[1], DIMS[1], HEADS[1], SR_RATIOS[1])
        self.decoder_0 = DecoderStage(DIMS[1] // 2 + DIMS[0], DIMS[0], HEADS[0], SR_RATIOS[0], last=True)
        self.last_layer = nn.Conv2d(DIMS[0], n_classes, 1)

    def execute(self, x):
        s1, s2, s3, s4 = self.bridge(self.backbone(x))
        up = self.layer_up(s4.transpose(0, 2, 3, 1))
        up = self.decoder_2(up, s3)
        up = self.decoder_1(up, s2)
        up = self.decoder_0(up, s1)
        return self.last_layer(up.transpose(0, 3, 1, 2))


@register_model("missformer", divisor=32, min_size=32)
def missformer(in_channels=3, n_classes=2, **kw):
    """MISSFormer: Mix Transformer encoder with enhanced Mix-FFN, 4-layer context bridge, transformer decoder."""
    return MISSFormer(in_channels, n_classes, **kw)
