"""SegFormer (Xie et al., "SegFormer: Simple and Efficient Design for Semantic Segmentation with Transformers",
NeurIPS 2021), sizes B0, B1 and B2.

Encoder: the Mix Transformer (:class:`model.transformer.MixTransformer`): four stages at 1/4, 1/8, 1/16 and 1/32,
each an overlapped patch embedding (7x7 stride 4, then 3x3 stride 2), efficient self-attention whose keys and
values are shortened by a stride-``r`` convolution (``r`` = 8, 4, 2, 1; heads 1, 2, 5, 8), Mix-FFN (4x wide,
a 3x3 depthwise convolution instead of a position embedding, so any input size works) and LayerNorm (eps 1e-6);
stochastic depth rises to 0.1 over the blocks.

=====  ======================  ============  ============  ===============================================
size   widths                  depths        decoder dim   paper (ADE20K, 150 classes): encoder + decoder
=====  ======================  ============  ============  ===============================================
B0     32, 64, 160, 256        2, 2, 2, 2    256           3.4 M + 0.4 M
B1     64, 128, 320, 512       2, 2, 2, 2    256           13.1 M + 0.6 M
B2     64, 128, 320, 512       3, 4, 6, 3    768           24.2 M + 3.3 M
=====  ======================  ============  ============  ===============================================

All-MLP decoder (:class:`SegFormerHead`): each stage map -> Linear to the decoder width -> bilinear to 1/4 ->
concatenated (1/32 first) -> ``linear_fuse`` (1x1 conv, BatchNorm, ReLU) -> channel dropout 0.1 ->
``linear_pred`` (1x1 conv) -> logits at 1/4, resized bilinearly to the input. Parameter names follow the
official code (``patch_embed1``, ``block1.0.attn.q/kv/sr``, ``linear_c1``, ``linear_fuse``, ``linear_pred``).
"""
import jittor as jt
from jittor import nn

from .blocks import ConvBNReLU, upsample_like
from .registry import register_model
from .transformer import MixTransformer, map_to_tokens, tokens_to_map

HEADS = (1, 2, 5, 8)
SR_RATIOS = (8, 4, 2, 1)

CONFIGS = {
    "b0": dict(dims=(32, 64, 160, 256), depths=(2, 2, 2, 2), decoder_dim=256),
    "b1": dict(dims=(64, 128, 320, 512), depths=(2, 2, 2, 2), decoder_dim=256),
    "b2": dict(dims=(64, 128, 320, 512), depths=(3, 4, 6, 3), decoder_dim=768),
}


class SegFormerHead(nn.Module):
    """The all-MLP decoder: ``linear_c1..4`` (Linear per stage), ``linear_fuse``, ``dropout``, ``linear_pred``."""

    def __init__(self, dims, decoder_dim, n_classes, dropout=0.1):
        super().__init__()
        for i, dim in enumerate(dims, 1):
            setattr(self, f"linear_c{i}", nn.Linear(dim, decoder_dim))
        self.n_stages = len(dims)
        self.linear_fuse = ConvBNReLU(len(dims) * decoder_dim, decoder_dim, 1, bias=False)
        self.dropout = nn.Dropout2d(dropout)
        self.linear_pred = nn.Conv2d(decoder_dim, n_classes, 1)

    def execute(self, maps):
        first = maps[0]
        projected = []
        for i in reversed(range(self.n_stages)):
            m = maps[i]
            t = getattr(self, f"linear_c{i + 1}")(map_to_tokens(m))
            projected.append(upsample_like(tokens_to_map(t, *m.shape[2:]), first))
        return self.linear_pred(self.dropout(self.linear_fuse(jt.concat(projected, dim=1))))


class SegFormer(nn.Module):
    """``encoder`` (:class:`MixTransformer`) and ``decode_head`` (:class:`SegFormerHead`); logits at the input
    size."""

    def __init__(self, in_channels=3, n_classes=2, dims=(32, 64, 160, 256), depths=(2, 2, 2, 2), decoder_dim=256,
                 drop_path_rate=0.1):
        super().__init__()
        self.encoder = MixTransformer(in_channels, dims, depths, HEADS, SR_RATIOS, mlp_ratio=4,
                                      drop_path_rate=drop_path_rate, eps=1e-6)
        self.decode_head = SegFormerHead(dims, decoder_dim, n_classes)

    def execute(self, x):
        return upsample_like(self.decode_head(self.encoder(x)), x)


def _register(size, description):
    @register_model(f"segformer_{size}", divisor=32, min_size=32, description=description)
    def build(in_channels=3, n_classes=2, **kw):
        return SegFormer(in_channels, n_classes, **{**CONFIGS[size], **kw})
    return build


segformer_b0 = _register("b0", "SegFormer-B0: Mix Transformer encoder (32-256 wide, 2-2-2-2 blocks), all-MLP decoder (256).")
segformer_b1 = _register("b1", "SegFormer-B1: Mix Transformer encoder (64-512 wide, 2-2-2-2 blocks), all-MLP decoder (256).")
segformer_b2 = _register("b2", "SegFormer-B2: Mix Transformer encoder (64-512 wide, 3-4-6-3 blocks), all-MLP decoder (768).")
