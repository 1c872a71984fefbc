"""SETR (Zheng et al., "Rethinking Semantic Segmentation from a Sequence-to-Sequence Perspective with
Transformers", CVPR 2021) in the original library's configuration.

The image is cut into 32 x 32 patches; each flattened patch goes through Linear -> GELU -> LayerNorm to 1024
features, gets a position embedding, and 8 BERT-style post-LayerNorm transformer layers (16 heads, FFN width
1024, dropout 0.1, LayerNorm eps 1e-12) encode the sequence. A Linear 1024 -> 4096 turns every token back
into 2 x 2 sub-patches of 1024 channels (a map at 1/16 of the input), and four conv3-BN-ReLU-bilinear x2
stages (512, 256, 128, 64 channels) and a 3x3 convolution decode the logits at input resolution.

Differences from the original:

* The original added a *frozen random* N(0, 1) table of 512 position embeddings, indexed by token number (so
  the model could not learn token positions, and inputs above 512 tokens failed). Here the position embedding
  is a *learnable* 16 x 16 grid (the token grid of a 512 x 512 input), initialised N(0, 0.02^2) like BERT's
  weights and resized bilinearly to the token grid of other inputs, so every size that is a multiple of 32
  works.
* Multi-head self-attention is the zoo's shared :class:`model.transformer.MultiHeadAttention` (Jittor 1.3.11 has
  no ``nn.MultiheadAttention``) in BERT's layout (``query``/``key``/``value``, the output Linear in the layer);
  it computes what the original's BERT attention computes, and the parameter names and count are unchanged.
"""
from jittor import nn

from .blocks import ConvBNReLU
from .registry import register_model
from .transformer import MultiHeadAttention, PositionEmbedding


class TransformerLayer(nn.Module):
    """BERT layer, post-LayerNorm: ``x = LN(x + drop(W_o attn(x)))``, ``x = LN(x + drop(W_2 gelu(W_1 x)))``."""

    def __init__(self, hidden, heads, ffn, dropout, eps):
        super().__init__()
        self.attention = MultiHeadAttention(hidden, heads, layout="separate", proj=False, attn_drop=dropout)
        self.attention_out = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=eps)
        self.intermediate = nn.Linear(hidden, ffn)
        self.act = nn.GELU()
        self.output = nn.Linear(ffn, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def execute(self, x):
        x = self.attention_norm(x + self.dropout(self.attention_out(self.attention(x))))
        return self.output_norm(x + self.dropout(self.output(self.act(self.intermediate(x)))))


class Encoder2D(nn.Module):
    """Patchify -> patch embedding -> position embedding -> transformer -> Linear back to sub-patch features.

    Returns a ``B x hidden x (H / 32 * 2) x (W / 32 * 2)`` map (2 x 2 sub-patches per 32 x 32 patch).
    """

    def __init__(self, in_channels, patch, hidden, layers, heads, ffn, dropout=0.1, eps=1e-12, pos_grid=16,
                 sample_rate=4):
        super().__init__()
        self.patch, self.hidden = patch, hidden
        self.sub = patch // 2 ** sample_rate          # sub-patches per patch side (2)
        self.patch_dense = nn.Linear(patch * patch * in_channels, hidden)
        self.patch_act = nn.GELU()
        self.patch_norm = nn.LayerNorm(hidden, eps=eps)
        self.position = PositionEmbedding(hidden, pos_grid, std=0.02)
        self.embed_norm = nn.LayerNorm(hidden, eps=eps)
        self.embed_dropout = nn.Dropout(dropout)
        self.layer = nn.ModuleList([TransformerLayer(hidden, heads, ffn, dropout, eps) for _ in range(layers)])
        self.final_dense = nn.Linear(hidden, self.sub * self.sub * hidden)

    def execute(self, x):
        b, c, h, w = x.shape
        p, gh, gw = self.patch, h // self.patch, w // self.patch
        # B x C x H x W -> B x (gh gw) x (p p C): each token is one patch, pixels row-major, channels last.
        t = x.reshape(b, c, gh, p, gw, p).transpose(0, 2, 4, 3, 5, 1).reshape(b, gh * gw, p * p * c)
        t = self.patch_norm(self.patch_act(self.patch_dense(t)))
        t = self.embed_dropout(self.embed_norm(t + self.position(gh, gw)))
        for layer in self.layer:
            t = layer(t)
        s = self.sub
        t = self.final_dense(t).reshape(b, gh, gw, s, s, self.hidden)
        return t.transpose(0, 5, 1, 3, 2, 4).reshape(b, self.hidden, gh * s, gw * s)


class Decoder2D(nn.Sequential):
    """Four conv3-BN-ReLU-bilinear x2 stages (``decoder_1..4``), then a 3x3 convolution to the logits."""

    def __init__(self, in_ch, n_classes, features):
        super().__init__()
        for i, out_ch in enumerate(features, 1):
            self.add_module(f"decoder_{i}", nn.Sequential(
                *ConvBNReLU(in_ch, out_ch), nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)))
            in_ch = out_ch
        self.add_module("final_out", nn.Conv2d(in_ch, n_classes, 3, padding=1))


class SETR(nn.Module):
    """SETR-Naive-style model: :class:`Encoder2D` (``encoder_2d``) and :class:`Decoder2D` (``decoder_2d``)."""

    def __init__(self, in_channels=3, n_classes=2, patch_size=32, hidden_size=1024, num_hidden_layers=8,
                 num_attention_heads=16, intermediate_size=1024, decode_features=(512, 256, 128, 64)):
        super().__init__()
        if patch_size % 2 ** len(decode_features):
            raise ValueError(f"patch size {patch_size} is not divisible by the decoder's upsampling "
                             f"2**{len(decode_features)}")
        self.encoder_2d = Encoder2D(in_channels, patch_size, hidden_size, num_hidden_layers,
                                    num_attention_heads, intermediate_size,
                                    sample_rate=len(decode_features))
        self.decoder_2d = Decoder2D(hidden_size, n_classes, decode_features)

    def execute(self, x):
        return self.decoder_2d(self.encoder_2d(x))


@register_model("setr", divisor=32, min_size=32)
def setr(in_channels=3, n_classes=2, **kw):
    """SETR: ViT encoder (32x32 patches, 1024-d, 8 layers, 16 heads) with a progressive-upsampling conv decoder."""
    return SETR(in_channels, n_classes, **kw)
