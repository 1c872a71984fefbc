"""TransUNet (Chen et al., "TransUNet: Transformers Make Strong Encoders for Medical Image Segmentation", 2021),
the R50-ViT-B/16 hybrid of the paper, and a smaller CPU configuration.

* **Encoder**: our ResNet-50 (``model/backbone/resnet.py``, torchvision names, so ``--backbone-weights`` takes
  a torchvision ResNet-50) up to ``layer3`` (1/16, 1024 channels); a 1x1 convolution (``patch_embeddings``:
  patches of one pixel of the 1/16 map, i.e. 16 x 16 image patches) to the transformer width, a learnable
  position embedding (:class:`model.transformer.PositionEmbedding`, a 14 x 14 grid: the token grid of the
  paper's 224 px inputs, resized bilinearly to other grids), dropout 0.1, pre-norm transformer layers
  (:class:`model.transformer.TransformerBlock`, LayerNorm eps 1e-6, attention in the ``query/key/value``
  layout of the official code, MLP dropout 0.1) and a final LayerNorm.
* **Cascaded upsampler**: the tokens back to a map, conv3-BN-ReLU to 512 (``conv_more``), then four decoder
  blocks (bilinear x2 with ``align_corners=True`` as the official code, concatenate the ResNet map of that
  size, two conv3-BN-ReLU): 256 (+ ``layer2``), 128 (+ ``layer1``), 64 (+ the stem), 16 (no skip), and a 3x3
  convolution to the logits at the input size.

Configurations (``transunet`` is the paper's; ``transunet_small`` a documented CPU default):

=====================  =======  ======  =====  =========  ========================================
name                   layers   width   heads  MLP width  parameters (n_classes 2, BN statistics)
=====================  =======  ======  =====  =========  ========================================
``transunet``          12       768     12     3072       101,957,986
``transunet_small``    4        384     6      1536       21,762,274
=====================  =======  ======  =====  =========  ========================================

Differences from the paper's code: its ResNet-50 is Big Transfer's (GroupNorm, weight-standardised
convolutions, pre-activation units) with **9** units in its third stage; ours is torchvision's (BatchNorm,
``layer3`` with 6 blocks), the one the zoo shares and ImageNet weights fit. With ``layer3`` at 9 blocks the
trainable count at n_classes 9 and the 14 x 14 grid is 105,277,081, the 105.28 M quoted for the official
model (``tests/model/test_transformer.py`` checks it). Its root max pool has no
padding (and pads the skip maps back to size); ours pads by one, so every map has exactly 1/2, 1/4 ... of the
input.
"""
import jittor as jt
from jittor import nn

from .backbone.resnet import resnet
from .blocks import ConvBNReLU
from .registry import register_model
from .transformer import PositionEmbedding, TransformerBlock, map_to_tokens, tokens_to_map

CONFIGS = {
    "transunet": dict(hidden=768, layers=12, heads=12, mlp_dim=3072),
    "transunet_small": dict(hidden=384, layers=4, heads=6, mlp_dim=1536),
}


class DecoderBlock(nn.Module):
    """Bilinear x2 (``align_corners=True``), concatenate the skip map (if any), two conv3-BN-ReLU (no bias)."""

    def __init__(self, in_ch, out_ch, skip_ch=0):
        super().__init__()
        self.conv1 = ConvBNReLU(in_ch + skip_ch, out_ch, bias=False)
        self.conv2 = ConvBNReLU(out_ch, out_ch, bias=False)

    def execute(self, x, skip=None):
        h, w = x.shape[2:]
        x = nn.interpolate(x, size=(2 * h, 2 * w), mode="bilinear", align_corners=True)
        if skip is not None:
            x = jt.concat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class TransUNet(nn.Module):
    """``encoder`` (ResNet-50 to ``layer3``), ``patch_embeddings``, ``position``, ``layer`` (transformer),
    ``encoder_norm``, ``conv_more``, ``blocks`` (decoder), ``segmentation_head``."""

    def __init__(self, in_channels=3, n_classes=2, hidden=768, layers=12, heads=12, mlp_dim=3072, dropout=0.1,
                 pos_grid=14, decoder_channels=(256, 128, 64, 16), backbone_weights=None):
        super().__init__()
        self.encoder = resnet(50, in_channels, backbone_weights, last_layer=3)
        stem_ch, c1, c2, c3 = self.encoder.channels
        self.patch_embeddings = nn.Conv2d(c3, hidden, 1)
        self.position = PositionEmbedding(hidden, pos_grid)
        self.dropout = nn.Dropout(dropout)
        self.layer = nn.ModuleList([TransformerBlock(hidden, heads, mlp_dim, drop=dropout, layout="separate")
                                    for _ in range(layers)])
        self.encoder_norm = nn.LayerNorm(hidden, eps=1e-6)
        self.conv_more = ConvBNReLU(hidden, 512, bias=False)
        ins = (512,) + tuple(decoder_channels[:-1])
        skips = (c2, c1, stem_ch, 0)
        self.blocks = nn.ModuleList([DecoderBlock(i, o, s) for i, o, s in zip(ins, decoder_channels, skips)])
        self.segmentation_head = nn.Conv2d(decoder_channels[-1], n_classes, 3, padding=1)

    def execute(self, x):
        stem, f1, f2, f3 = self.encoder(x)
        t = map_to_tokens(self.patch_embeddings(f3))
        gh, gw = f3.shape[2:]
        t = self.dropout(t + self.position(gh, gw))
        for layer in self.layer:
            t = layer(t)
        y = self.conv_more(tokens_to_map(self.encoder_norm(t), gh, gw))
        for block, skip in zip(self.blocks, (f2, f1, stem, None)):
            y = block(y, skip)
        return self.segmentation_head(y)


def _register(name, description):
    @register_model(name, divisor=16, min_size=32, encoder="resnet50", description=description)
    def build(in_channels=3, n_classes=2, backbone_weights=None, **kw):
        return TransUNet(in_channels, n_classes, backbone_weights=backbone_weights, **{**CONFIGS[name], **kw})
    return build


transunet = _register("transunet", "TransUNet (R50-ViT-B/16): ResNet-50 to 1/16, 12-layer 768-d ViT, "
                                   "cascaded upsampler with skips.")
transunet_small = _register("transunet_small", "TransUNet, CPU size: ResNet-50 to 1/16, 4-layer 384-d ViT, "
                                               "cascaded upsampler with skips.")
