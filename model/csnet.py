"""CS-Net, channel and spatial attention network (Mou et al., MICCAI 2019, "CS-Net: Channel and Spatial
Attention Network for Curvilinear Structure Segmentation"), in the variant of the original library.

Encoder: five residual blocks 32-64-128-256-512 (double conv + 1x1 residual) with 2x2 max pooling.  At 1/16
the affinity attention adds a spatial self-attention (query/key from 1x3 and 3x1 convolutions) and a channel
self-attention, each scaled by a learned ``gamma`` that starts at 0; the result is concatenated with the encoder
features and fused by a 1x1 convolution.  The decoder upsamples with 2x2 transposed convolutions, concatenates
the skip and applies a double conv; a 1x1 convolution gives the logits.  Convolutions get Kaiming-normal
weights and zero biases, as in the original.

Difference from the original library: the network returns logits.  The original applied ``jt.sigmoid`` to
its 2-channel output and then softmax cross-entropy on top, which bounds the effective logits to (0, 1); the
published model predicted all background.
"""
import jittor as jt
from jittor import init, nn

from .registry import register_model
from .blocks import ChannelSelfAttention, ConvBNReLU, DoubleConv, OutConv, pixel_attention


class ResEncoder(nn.Module):
    """``relu(double_conv(x) + conv1x1(x))``."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv = DoubleConv(in_ch, out_ch)
        self.conv1x1 = nn.Conv2d(in_ch, out_ch, 1)

    def execute(self, x):
        return nn.relu(self.conv(x) + self.conv1x1(x))


class SpatialAttention(nn.Module):
    """Position self-attention: ``x + gamma * V softmax(Q^T K)^T`` with Q from a 1x3 and K from a 3x1 conv (C/8)."""

    def __init__(self, ch):
        super().__init__()
        self.query = ConvBNReLU(ch, ch // 8, (1, 3))
        self.key = ConvBNReLU(ch, ch // 8, (3, 1))
        self.value = nn.Conv2d(ch, ch, 1)
        self.gamma = jt.zeros(1)

    def execute(self, x):
        return self.gamma * pixel_attention(self.query(x), self.key(x), self.value(x)) + x


class AffinityAttention(nn.Module):
    """Sum of the spatial and the channel attention outputs (each already includes ``x``)."""

    def __init__(self, ch):
        super().__init__()
        self.sab = SpatialAttention(ch)
        # The original took the row maxima of the batch's first sample for every sample; a softmax does not change
        # when a row is shifted by a constant, so the per-sample maxima used here give the same result.
        self.cab = ChannelSelfAttention(from_max=True)

    def execute(self, x):
        return self.sab(x) + self.cab(x)


class CSNet(nn.Module):
    """CS-Net with encoder widths 32-64-128-256-512 (H and W divisible by 16)."""

    def __init__(self, in_channels=3, n_classes=2):
        super().__init__()
        widths = (32, 64, 128, 256, 512)
        self.pool = nn.MaxPool2d(2, stride=2)
        self.enc_input = ResEncoder(in_channels, widths[0])
        self.encoder1, self.encoder2, self.encoder3, self.encoder4 = (
            ResEncoder(i, o) for i, o in zip(widths[:-1], widths[1:]))
        self.affinity_attention = AffinityAttention(widths[-1])
        self.attention_fuse = nn.Conv2d(2 * widths[-1], widths[-1], 1)
        self.deconv4, self.deconv3, self.deconv2, self.deconv1 = (
            nn.ConvTranspose2d(i, o, 2, stride=2) for i, o in zip(widths[:0:-1], widths[-2::-1]))
        self.decoder4, self.decoder3, self.decoder2, self.decoder1 = (
            DoubleConv(i, o) for i, o in zip(widths[:0:-1], widths[-2::-1]))
        self.final = OutConv(widths[0], n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    init.constant_(m.bias, 0.0)

    def execute(self, x):
        skips = [self.enc_input(x)]
        for encoder in (self.encoder1, self.encoder2, self.encoder3):
            skips.append(encoder(self.pool(skips[-1])))
        x = self.encoder4(self.pool(skips[-1]))
        x = self.attention_fuse(jt.concat([x, self.affinity_attention(x)], dim=1))
        for deconv, decoder in ((self.deconv4, self.decoder4), (self.deconv3, self.decoder3),
                                (self.deconv2, self.decoder2), (self.deconv1, self.decoder1)):
            x = decoder(jt.concat([skips.pop(), deconv(x)], dim=1))
        return self.final(x)


# min_size 32: Jittor's max pooling refuses an input no larger than its kernel (a 2x2 map at 1/8).
# The spatial attention's query/key/value start without gradient: their output is scaled by gamma = 0.
@register_model("csnet", divisor=16, min_size=32,
                no_grad=(r"affinity_attention\.sab\.(query|key|value)\.",))
def csnet(in_channels=3, n_classes=2, **kw):
    """CS-Net: residual U-Net with spatial and channel affinity attention at the bottleneck."""
    return CSNet(in_channels, n_classes, **kw)
