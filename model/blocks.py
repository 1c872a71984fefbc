"""Building blocks shared by several networks.

Conventions: every block is a ``jittor.nn.Module`` with ``execute``; normalisation is BatchNorm (eps 1e-5,
momentum 0.1) unless a block says otherwise; upsampling that must match the original uses bilinear
interpolation with ``align_corners=False``.
"""
import jittor as jt
from jittor import nn

from .ops import resize


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class ConvBNReLU(nn.Sequential):
    """conv -> norm -> activation, the one convolution block of the zoo (each part optional).

    ``kernel_size``, ``stride``, ``dilation``, ``padding``: ints or ``(h, w)`` pairs; ``padding=None`` is
    "same" padding for odd kernels (``dilation * (k - 1) // 2`` per axis). ``pad_mode="reflect"`` puts a
    ``ReflectionPad2d`` layer first and leaves the convolution unpadded (MultiResUNet). The convolution has a
    bias unless ``bias=False``. ``norm(channels)`` builds the normalisation layer (BatchNorm by default, None
    for none); ``act()`` the activation (ReLU by default, None for none).

    Submodules are the Sequential's indices ``0, 1, 2`` (``[pad,] conv, norm, act``), as the original's
    checkpoints name them; ``names`` gives them other names where a weight file expects them (HarDNet's
    ``conv, norm, relu``). ``*ConvBNReLU(...)`` unpacks the layers into an enclosing Sequential (the STN's
    flat ``loc.0 .. loc.11``).
    """

    def __init__(self, in_ch, out_ch, kernel_size=3, stride=1, padding=None, dilation=1, groups=1, bias=True,
                 norm=nn.BatchNorm2d, act=nn.ReLU, pad_mode="zeros", names=None):
        kh, kw = _pair(kernel_size)
        dh, dw = _pair(dilation)
        pad = (dh * (kh - 1) // 2, dw * (kw - 1) // 2) if padding is None else _pair(padding)
        layers = []
        if pad_mode == "reflect":
            if pad[0] != pad[1]:  # Jittor 1.3.11's ReflectionPad2d refuses a tuple (it compares it with 0)
                raise ValueError(f"reflection padding needs equal padding along H and W, got {pad}")
            if pad[0]:
                layers.append(nn.ReflectionPad2d(pad[0]))
            pad = (0, 0)
        elif pad_mode != "zeros":
            raise ValueError(f"pad_mode must be 'zeros' or 'reflect', got {pad_mode!r}")
        layers.append(nn.Conv2d(in_ch, out_ch, (kh, kw), stride=stride, padding=pad, dilation=(dh, dw),
                                groups=groups, bias=bias))
        if norm is not None:
            layers.append(norm(out_ch))
        if act is not None:
            layers.append(act())
        if names is None:
            super().__init__(*layers)
            return
        if len(names) != len(layers):
            raise ValueError(f"names {names} do not match the {len(layers)} layers of this block")
        super().__init__()
        for name, layer in zip(names, layers):
            self.add_module(name, layer)


class DoubleConv(nn.Sequential):
    """(conv3 -> BN -> ReLU) x 2, the UNet block; ``mid_ch`` defaults to ``out_ch``.

    The convolutions keep their bias, as in the original (Jittor's default), which is what its stated
    parameter counts include.
    """

    def __init__(self, in_ch, out_ch, mid_ch=None):
        mid_ch = mid_ch or out_ch
        super().__init__(ConvBNReLU(in_ch, mid_ch), ConvBNReLU(mid_ch, out_ch))


class Down(nn.Sequential):
    """2x2 max pooling, then a :class:`DoubleConv`."""

    def __init__(self, in_ch, out_ch):
        super().__init__(nn.MaxPool2d(2, stride=2), DoubleConv(in_ch, out_ch))


def upsample_like(x, ref, mode="bilinear"):
    """Resize ``x`` to the spatial size of ``ref`` (align_corners=False; the CPU operator of model/ops)."""
    if tuple(x.shape[2:]) == tuple(ref.shape[2:]):
        return x
    return resize(x, tuple(ref.shape[2:]), mode=mode, align_corners=False)


class Up(nn.Module):
    """Upsample x2, concatenate ``[skip, upsampled]`` and apply a :class:`DoubleConv`.

    ``bilinear=True``: bilinear x2 (no parameters) and ``DoubleConv(in_ch, out_ch, mid=in_ch // 2)``;
    ``bilinear=False``: a 2x2 transposed convolution halving the channels, then ``DoubleConv(in_ch, out_ch)``.
    ``in_ch`` is the channel count after concatenation.
    """

    def __init__(self, in_ch, out_ch, bilinear=True):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.conv = DoubleConv(in_ch, out_ch, in_ch // 2)
        else:
            self.up = nn.ConvTranspose2d(in_ch, in_ch // 2, 2, stride=2)
            self.conv = DoubleConv(in_ch, out_ch)

    def execute(self, x, skip):
        x = upsample_like(self.up(x), skip)
        return self.conv(jt.concat([skip, x], dim=1))


class OutConv(nn.Conv2d):
    """1x1 convolution to class logits."""

    def __init__(self, in_ch, n_classes):
        super().__init__(in_ch, n_classes, 1)


class UpConv(nn.Sequential):
    """Nearest-neighbour x2 upsampling, then conv3 -> norm -> ReLU (the ``up_conv`` of Attention U-Net / R2U-Net).

    ``norm`` builds the normalisation layer from a channel count (BatchNorm by default).
    """

    def __init__(self, in_ch, out_ch, norm=nn.BatchNorm2d):
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(in_ch, out_ch, 3, padding=1),
            norm(out_ch),
            nn.ReLU(),
        )


class AttentionGate(nn.Module):
    """Additive attention gate (Oktay et al., 2018, "Attention U-Net"): ``x * sigmoid(psi(relu(W_g g + W_x x)))``.

    ``g`` is the gating signal from the decoder and ``x`` the skip features at the same resolution; ``W_g``,
    ``W_x`` and ``psi`` are 1x1 convolutions (with bias), each followed by ``norm``; ``psi`` has one channel,
    so the gate is one coefficient per pixel.  Shared by Attention U-Net (BatchNorm) and R2 Attention U-Net
    (InstanceNorm).
    """

    def __init__(self, g_ch, x_ch, inter_ch, norm=nn.BatchNorm2d):
        super().__init__()
        self.W_g = nn.Sequential(nn.Conv2d(g_ch, inter_ch, 1), norm(inter_ch))
        self.W_x = nn.Sequential(nn.Conv2d(x_ch, inter_ch, 1), norm(inter_ch))
        self.psi = nn.Sequential(nn.Conv2d(inter_ch, 1, 1), norm(1), nn.Sigmoid())

    def execute(self, g, x):
        return x * self.psi(nn.relu(self.W_g(g) + self.W_x(x)))


class ShiftGroupConv(nn.Module):
    """Grouped conv (no bias) -> GroupNorm(one group per conv group) -> ReLU -> roll the channels by ``shift``.

    The cyclic channel shift moves half a group (``out_group // 2`` by default) into the neighbouring group, so
    the next grouped convolution mixes information across groups without a dense 1x1 layer.  ``in_group`` and
    ``out_group`` are the channels per group.  Shared by OneNet and LightNet.
    """

    def __init__(self, in_group, out_group, groups, dilation=1, kernel_size=3, shift=None):
        super().__init__()
        self.shift = out_group // 2 if shift is None else shift
        self.conv = nn.Conv2d(in_group * groups, out_group * groups, kernel_size,
                              padding=dilation * (kernel_size // 2), dilation=dilation, groups=groups, bias=False)
        self.norm = nn.GroupNorm(groups, out_group * groups)
        self.act = nn.ReLU()

    def execute(self, x):
        return jt.roll(self.act(self.norm(self.conv(x))), self.shift, 1)


class ShiftGroupStack(nn.Sequential):
    """The 16 dilated 1024-channel ShiftGroupConv layers of OneNet/LightNet; returns the selected layer outputs.

    Each layer has 64 groups of 16 channels, channel shift 8 and the dilation of ``DILATIONS``.  ``execute``
    chains the layers and returns the outputs of the layers in ``PICKED`` (0-based), in that order.  The
    original selects them with overlapping slices (``[2:3] + [6:7] + [11:13] + [-4:]``), so layer 12 appears
    twice; that is kept, since the fusion layers' widths (and the stated parameter counts) depend on it.
    """

    DILATIONS = (1,) * 3 + (2,) * 4 + (4,) * 6 + (8, 16, 32)
    PICKED = (2, 6, 11, 12, 12, 13, 14, 15)

    def __init__(self):
        super().__init__(*[ShiftGroupConv(16, 16, 64, dilation=d) for d in self.DILATIONS])

    def execute(self, x):
        outputs = []
        for layer in self:
            x = layer(x)
            outputs.append(x)
        return [outputs[i] for i in self.PICKED]


def group_norm(channels):
    """GroupNorm with the original's group-count rule (EANet, LRF-EANet, SimpleUNet): 32/16/8/4 groups for >= 512/256/128/64
    channels, else 1."""
    groups = next((g for c, g in ((512, 32), (256, 16), (128, 8), (64, 4)) if channels >= c), 1)
    return nn.GroupNorm(groups, channels)


class ExternalAttention(nn.Module):
    """External attention (Guo et al., 2021, "Beyond Self-attention: External Attention using Two Linear Layers").

    conv1x1 (with bias) -> ``linear_0`` (a 1x1 Conv1d to ``k`` = 64 memory units) -> softmax over the pixels ->
    renormalisation over the units (double normalisation) -> ``linear_1`` (Conv1d back to ``c``) -> conv1x1 +
    :func:`group_norm` -> ``+ input`` -> ReLU.  Shared by EANet and LRF-EANet.
    """

    def __init__(self, c, k=64):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 1)
        self.linear_0 = nn.Conv1d(c, k, 1, bias=False)
        self.linear_1 = nn.Conv1d(k, c, 1, bias=False)
        self.conv2 = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), group_norm(c))

    def execute(self, x):
        b, c, h, w = x.shape
        attn = nn.softmax(self.linear_0(self.conv1(x).reshape(b, c, h * w)), dim=-1)
        attn = attn / (1e-9 + attn.sum(dim=1, keepdims=True))
        out = self.conv2(self.linear_1(attn).reshape(b, c, h, w))
        return nn.relu(out + x)


def pixel_attention(query, key, value):
    """Self-attention over the pixels (SAGAN, DANet's position attention, OCNet, CS-Net): every pixel's output is
    ``value`` averaged over all pixels with the weights ``softmax_j(q_i . k_j)``. ``query``/``key`` are
    B x C' x H x W, ``value`` B x C x H x W; returns B x C x H x W."""
    b, c, h, w = value.shape
    q = query.reshape(b, -1, h * w).transpose(0, 2, 1)                  # B x HW x C'
    attention = nn.softmax(jt.matmul(q, key.reshape(b, -1, h * w)), dim=-1)  # B x HW x HW
    return jt.matmul(value.reshape(b, c, h * w), attention.transpose(0, 2, 1)).reshape(b, c, h, w)


class PixelSelfAttention(nn.Module):
    """1x1 ``query_conv``/``key_conv`` (to ``ch // reduction`` channels) and ``value_conv`` projections, and
    :func:`pixel_attention` over them (:meth:`attend`): the base of DANet's position attention and OCNet's
    object context, with the parameter names of their original code."""

    def __init__(self, ch, reduction):
        super().__init__()
        self.query_conv = nn.Conv2d(ch, ch // reduction, 1)
        self.key_conv = nn.Conv2d(ch, ch // reduction, 1)
        self.value_conv = nn.Conv2d(ch, ch, 1)

    def attend(self, x):
        return pixel_attention(self.query_conv(x), self.key_conv(x), self.value_conv(x))


class ChannelSelfAttention(nn.Module):
    """Channel self-attention (DANet's channel attention module, CS-Net's channel affinity):
    ``x + gamma * softmax(E) X`` over the C x C energy ``E = X X^T`` of the flattened map ``X`` (C x HW), with
    ``gamma`` learnt from 0. ``from_max=True`` uses ``rowmax(E) - E`` instead of ``E`` (CS-Net, and the DANet
    paper's code), which favours the *least* similar channels; ``False`` is the original DANet port's form."""

    def __init__(self, from_max=False):
        super().__init__()
        self.from_max = from_max
        self.gamma = jt.zeros(1)

    def execute(self, x):
        b, c, h, w = x.shape
        flat = x.reshape(b, c, h * w)
        energy = jt.matmul(flat, flat.transpose(0, 2, 1))
        if self.from_max:
            energy = energy.max(dim=-1, keepdims=True) - energy
        attention = nn.softmax(energy, dim=-1)
        return self.gamma * jt.matmul(attention, flat).reshape(b, c, h, w) + x


class LinkNetDecoder(nn.Module):
    """LinkNet decoder block (Chaurasia & Culurciello, 2017), as CE-Net and D-LinkNet use it.

    conv1x1 to ``in_ch // 4`` -> BN -> ReLU -> 3x3 transposed conv, stride 2 (x2) -> BN -> ReLU -> conv1x1 to
    ``out_ch`` -> BN -> ReLU; every convolution keeps its bias, as in the original.
    """

    def __init__(self, in_ch, out_ch):
        super().__init__()
        mid = in_ch // 4
        self.conv1 = nn.Conv2d(in_ch, mid, 1)
        self.norm1 = nn.BatchNorm2d(mid)
        self.deconv2 = nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, output_padding=1)
        self.norm2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_ch, 1)
        self.norm3 = nn.BatchNorm2d(out_ch)

    def execute(self, x):
        x = nn.relu(self.norm1(self.conv1(x)))
        x = nn.relu(self.norm2(self.deconv2(x)))
        return nn.relu(self.norm3(self.conv3(x)))


class LinkNetHead(nn.Module):
    """The final stage of CE-Net and D-LinkNet: 4x4 transposed conv, stride 2, to 32 channels (x2) -> ReLU ->
    conv3 32->32 -> ReLU -> conv3 to the class logits."""

    def __init__(self, in_ch, n_classes, mid=32):
        super().__init__()
        self.finaldeconv1 = nn.ConvTranspose2d(in_ch, mid, 4, stride=2, padding=1)
        self.finalconv2 = nn.Conv2d(mid, mid, 3, padding=1)
        self.finalconv3 = nn.Conv2d(mid, n_classes, 3, padding=1)

    def execute(self, x):
        x = nn.relu(self.finaldeconv1(x))
        x = nn.relu(self.finalconv2(x))
        return self.finalconv3(x)


class LinkNetBase(nn.Module):
    """CE-Net and D-LinkNet: a ResNet ``encoder``, a centre block on its 1/32 map, four LinkNet decoders
    ``decoder4..1`` whose outputs add the encoder map of the same size, and the LinkNet ``head``.

    A subclass passes its encoder up, builds its centre modules, calls :meth:`build_decoders` with the centre's
    output width, and defines :meth:`centre`.
    """

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def build_decoders(self, centre_ch, n_classes):
        _, c1, c2, c3, _ = self.encoder.channels
        self.decoder4 = LinkNetDecoder(centre_ch, c3)
        self.decoder3 = LinkNetDecoder(c3, c2)
        self.decoder2 = LinkNetDecoder(c2, c1)
        self.decoder1 = LinkNetDecoder(c1, c1)
        self.head = LinkNetHead(c1, n_classes)

    def centre(self, x):
        raise NotImplementedError

    def execute(self, x):
        _, e1, e2, e3, e4 = self.encoder(x)
        d4 = self.decoder4(self.centre(e4)) + e3
        d3 = self.decoder3(d4) + e2
        d2 = self.decoder2(d3) + e1
        return self.head(self.decoder1(d2))
