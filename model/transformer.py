"""Transformer pieces shared by the zoo's transformers (SETR, TransUNet, Swin-UNETR, MISSFormer, SegFormer).

Jittor 1.3.11 has no ``nn.MultiheadAttention``; :class:`MultiHeadAttention` is the one attention every network
here uses. Token sequences are ``B x N x C`` (row-major over the map: token ``i * W + j`` is pixel ``(i, j)``),
maps are ``B x C x H x W``; window functions work on channel-last maps ``B x H x W x C``, as the Swin papers do.

* :func:`attend`: scaled dot-product attention over heads, with an additive bias (relative positions) and a
  mask (boolean: ``True`` blocks the pair, as ``torch.nn.MultiheadAttention``'s ``attn_mask``; or additive).
* :class:`MultiHeadAttention`: the projections around it, in the three layouts the papers' code uses (one fused
  ``qkv`` Linear; ``q`` + ``kv``; separate ``query``/``key``/``value``), optionally with key/value reduction
  (SegFormer's efficient attention: a stride-``r`` convolution and LayerNorm shorten the key/value sequence).
* :class:`Mlp`, :class:`MixFFN` (SegFormer's Mix-FFN; ``enhanced=True`` is MISSFormer's with its skip and
  LayerNorm), :class:`TransformerBlock` (pre-norm ViT block), :class:`MixTransformerBlock` and
  :class:`MixTransformer` (SegFormer's encoder, which MISSFormer also uses).
* :class:`PatchEmbed` (plain and overlapped), :class:`PatchMerging`, :class:`PatchExpand`.
* :func:`window_partition`, :func:`window_reverse`, :func:`shifted_window_mask`,
  :func:`relative_position_index`, :class:`RelativePositionBias` (Swin).
* :class:`PositionEmbedding` (a learnable grid, resized to the token grid, so any size meeting the divisor
  works), :class:`LayerNorm2d` (LayerNorm over the channels of a map), :func:`drop_path`.
"""
import numpy as np

import jittor as jt
from jittor import init, nn

# Added to the scores of blocked pairs: exp() of it is 0 in float32, and a row that is blocked everywhere
# stays finite (uniform weights) instead of NaN.
BLOCKED = -1e9


def drop_path(p):
    """Stochastic depth on a residual branch: Jittor's ``DropPath`` (per sample, rescaled by 1 / (1 - p), off in
    eval mode) when ``p > 0``, else an identity."""
    return nn.DropPath(p) if p > 0 else nn.Identity()


def dropout(p):
    return nn.Dropout(p) if p > 0 else nn.Identity()


def tokens_to_map(t, h, w):
    """``B x (h w) x C`` tokens -> ``B x C x h x w`` map."""
    return t.transpose(0, 2, 1).reshape(t.shape[0], t.shape[2], h, w)


def map_to_tokens(x):
    """``B x C x H x W`` map -> ``B x (H W) x C`` tokens."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h * w).transpose(0, 2, 1)


def split_heads(t, heads):
    """``B x N x (heads d)`` -> ``B x heads x N x d``."""
    b, n, c = t.shape
    return t.reshape(b, n, heads, c // heads).transpose(0, 2, 1, 3)


def merge_heads(t):
    """``B x heads x N x d`` -> ``B x N x (heads d)``."""
    b, h, n, d = t.shape
    return t.transpose(0, 2, 1, 3).reshape(b, n, h * d)


def as_additive_mask(mask):
    """A mask as scores to add: boolean (NumPy or Jittor, ``True`` = blocked) -> 0 / :data:`BLOCKED`; a float
    mask is already additive."""
    if mask is None:
        return None
    if isinstance(mask, np.ndarray):
        mask = jt.array(mask)
    if mask.dtype == "bool":
        return mask.float32() * BLOCKED
    return mask


def attend(q, k, v, bias=None, mask=None, weight_dropout=None):
    """Scaled dot-product attention: ``softmax(q k^T / sqrt(d) + bias + mask) v`` over ``B x heads x N x d``
    queries and ``B x heads x M x d`` keys/values. ``bias`` and ``mask`` broadcast to ``B x heads x N x M``;
    ``mask`` is boolean (``True`` blocks) or additive. ``weight_dropout`` is applied to the weights."""
    scores = jt.matmul(q, k.transpose(0, 1, 3, 2)) * (q.shape[-1] ** -0.5)
    if bias is not None:
        scores = scores + bias
    mask = as_additive_mask(mask)
    if mask is not None:
        scores = scores + mask
    weights = nn.softmax(scores, dim=-1)
    if weight_dropout is not None:
        weights = weight_dropout(weights)
    return jt.matmul(weights, v)


class MultiHeadAttention(nn.Module):
    """Multi-head attention over ``B x N x dim`` tokens.

    ``layout`` names the projections as the papers' code does, so that the parameter names follow them:

    * ``"qkv"``: one Linear ``qkv`` (dim -> 3 dim; output features ``[q | k | v]``, each head-major), as Swin and
      timm's ViT; self-attention only.
    * ``"q_kv"``: Linears ``q`` and ``kv`` (``[k | v]``), as SegFormer and MISSFormer.
    * ``"separate"``: Linears ``query``, ``key``, ``value``, as BERT (SETR) and TransUNet.

    ``proj=True`` adds the output Linear ``proj`` (SETR's block holds its own). ``sr_ratio > 1`` (``q_kv`` only)
    reduces the key/value tokens with ``sr`` (a ``sr_ratio`` x ``sr_ratio`` convolution of stride ``sr_ratio``)
    and ``norm`` (LayerNorm); ``execute`` then needs the token grid ``hw``. ``attn_drop`` drops attention weights,
    ``proj_drop`` the output.

    ``execute(x, context=None, hw=None, bias=None, mask=None)``: keys and values come from ``context``
    (``B x M x dim``; layouts ``q_kv``/``separate``) or from ``x``; ``bias``/``mask`` as in :func:`attend`.
    """

    LAYOUTS = ("qkv", "q_kv", "separate")

    def __init__(self, dim, heads, layout="qkv", qkv_bias=True, proj=True, attn_drop=0.0, proj_drop=0.0,
                 sr_ratio=1, norm_eps=1e-5):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dimension {dim} is not a multiple of the number of heads {heads}")
        if layout not in self.LAYOUTS:
            raise ValueError(f"layout must be one of {self.LAYOUTS}, got {layout!r}")
        if sr_ratio > 1 and layout != "q_kv":
            raise ValueError("key/value reduction (sr_ratio > 1) needs the 'q_kv' layout")
        self.dim, self.heads, self.layout, self.sr_ratio = dim, heads, layout, sr_ratio
        if layout == "qkv":
            self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        elif layout == "q_kv":
            self.q = nn.Linear(dim, dim, bias=qkv_bias)
            self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        else:
            self.query = nn.Linear(dim, dim, bias=qkv_bias)
            self.key = nn.Linear(dim, dim, bias=qkv_bias)
            self.value = nn.Linear(dim, dim, bias=qkv_bias)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, stride=sr_ratio)
            self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.attn_drop = nn.Dropout(attn_drop) if attn_drop > 0 else None
        self.proj = nn.Linear(dim, dim) if proj else None
        self.proj_drop = dropout(proj_drop)

    def _reduce(self, x, hw):
        if hw is None:
            raise ValueError("key/value reduction needs the token grid hw=(H, W)")
        x = self.sr(tokens_to_map(x, *hw))
        return self.norm(map_to_tokens(x))

    def project(self, x, context=None, hw=None):
        """The queries, keys and values, ``B x heads x N x d`` each."""
        h = self.heads
        if self.layout == "qkv":
            if context is not None:
                raise ValueError("the fused 'qkv' layout is self-attention only")
            b, n, c = x.shape
            qkv = self.qkv(x).reshape(b, n, 3, h, c // h).transpose(2, 0, 3, 1, 4)
            return qkv[0], qkv[1], qkv[2]
        source = x if context is None else context
        if self.sr_ratio > 1:
            source = self._reduce(source, hw)
        if self.layout == "q_kv":
            b, m, c = source.shape
            kv = self.kv(source).reshape(b, m, 2, h, c // h).transpose(2, 0, 3, 1, 4)
            return split_heads(self.q(x), h), kv[0], kv[1]
        return split_heads(self.query(x), h), split_heads(self.key(source), h), split_heads(self.value(source), h)

    def execute(self, x, context=None, hw=None, bias=None, mask=None):
        q, k, v = self.project(x, context, hw)
        out = merge_heads(attend(q, k, v, bias=bias, mask=mask, weight_dropout=self.attn_drop))
        if self.proj is not None:
            out = self.proj_drop(self.proj(out))
        return out


class Mlp(nn.Module):
    """``fc1 -> GELU -> dropout -> fc2 -> dropout``, the transformer feed-forward block."""

    def __init__(self, dim, hidden, drop=0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = dropout(drop)

    def execute(self, x, hw=None):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class MixFFN(nn.Module):
    """SegFormer's Mix-FFN: ``fc1 -> 3x3 depthwise conv (dwconv) on the token grid -> GELU -> fc2``; the
    convolution gives the tokens their positions, so no position embedding is needed.

    ``enhanced=True`` is MISSFormer's enhanced Mix-FFN: ``GELU(LN(dwconv(fc1 x) + fc1 x))`` before ``fc2``.
    ``execute(x, hw)`` needs the token grid.
    """

    def __init__(self, dim, hidden, drop=0.0, enhanced=False):
        super().__init__()
        self.enhanced = enhanced
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        if enhanced:
            self.norm = nn.LayerNorm(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = dropout(drop)

    def execute(self, x, hw):
        x = self.fc1(x)
        mixed = map_to_tokens(self.dwconv(tokens_to_map(x, *hw)))
        x = self.act(self.norm(mixed + x)) if self.enhanced else self.act(mixed)
        return self.drop(self.fc2(self.drop(x)))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block (ViT): ``x + attn(norm1 x)``, then ``x + mlp(norm2 x)``, with stochastic
    depth on both branches. ``attn`` is a :class:`MultiHeadAttention` (``layout``), ``mlp`` an :class:`Mlp` of
    width ``mlp_dim``."""

    def __init__(self, dim, heads, mlp_dim, drop=0.0, attn_drop=0.0, path_drop=0.0, eps=1e-6, layout="qkv"):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = MultiHeadAttention(dim, heads, layout=layout, attn_drop=attn_drop, proj_drop=drop)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_dim, drop)
        self.drop_path = drop_path(path_drop)

    def execute(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class MixTransformerBlock(nn.Module):
    """SegFormer's block: pre-norm efficient attention (``q_kv`` layout, key/value reduction ``sr_ratio``) and
    Mix-FFN (``mlp_ratio`` x wider; ``enhanced`` for MISSFormer's), stochastic depth ``path_drop``."""

    def __init__(self, dim, heads, sr_ratio, mlp_ratio=4, path_drop=0.0, eps=1e-6, enhanced=False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = MultiHeadAttention(dim, heads, layout="q_kv", sr_ratio=sr_ratio, norm_eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MixFFN(dim, dim * mlp_ratio, enhanced=enhanced)
        self.drop_path = drop_path(path_drop)

    def execute(self, x, hw):
        x = x + self.drop_path(self.attn(self.norm1(x), hw=hw))
        return x + self.drop_path(self.mlp(self.norm2(x), hw))


class PatchEmbed(nn.Module):
    """Patch embedding by a convolution ``proj`` (``patch`` x ``patch`` kernel) and an optional LayerNorm
    ``norm``: plain (``stride=None``: stride = patch, no overlap; ViT, Swin) or overlapped (``stride < patch``,
    padding ``patch // 2``; SegFormer's overlapped patch merging). ``execute`` returns the tokens
    ``B x N x dim`` and the token grid ``(h, w)``."""

    def __init__(self, in_ch, dim, patch, stride=None, norm=True, eps=1e-5):
        super().__init__()
        stride = patch if stride is None else stride
        padding = 0 if stride == patch else patch // 2
        self.proj = nn.Conv2d(in_ch, dim, patch, stride=stride, padding=padding)
        self.norm = nn.LayerNorm(dim, eps=eps) if norm else None

    def execute(self, x):
        x = self.proj(x)
        h, w = x.shape[2:]
        t = map_to_tokens(x)
        return (self.norm(t) if self.norm is not None else t), (h, w)


class MixTransformer(nn.Module):
    """SegFormer's Mix Transformer encoder (MiT): four stages, each an overlapped :class:`PatchEmbed`
    (``patch_embed1..4``: 7x7 stride 4, then 3x3 stride 2), ``depths[i]`` :class:`MixTransformerBlock` s
    (``block1..4``) and a LayerNorm (``norm1..4``). Stochastic depth rises linearly from 0 to
    ``drop_path_rate`` over all blocks. Returns the four maps (1/4 .. 1/32), ``B x dims[i] x h x w``.
    ``enhanced`` uses MISSFormer's enhanced Mix-FFN; ``eps`` is the blocks' and stage norms' LayerNorm eps."""

    PATCH = ((7, 4), (3, 2), (3, 2), (3, 2))

    def __init__(self, in_channels, dims, depths, heads, sr_ratios, mlp_ratio=4, drop_path_rate=0.0, eps=1e-6,
                 enhanced=False):
        super().__init__()
        self.dims = tuple(dims)
        rates = np.linspace(0, drop_path_rate, sum(depths)).tolist() if drop_path_rate > 0 else [0.0] * sum(depths)
        prev, start = in_channels, 0
        for i, (dim, depth, head, sr) in enumerate(zip(dims, depths, heads, sr_ratios), 1):
            patch, stride = self.PATCH[i - 1]
            setattr(self, f"patch_embed{i}", PatchEmbed(prev, dim, patch, stride))
            setattr(self, f"block{i}", nn.ModuleList([
                MixTransformerBlock(dim, head, sr, mlp_ratio, rates[start + j], eps, enhanced) for j in range(depth)]))
            setattr(self, f"norm{i}", nn.LayerNorm(dim, eps=eps))
            prev, start = dim, start + depth

    def execute(self, x):
        maps = []
        for i in range(1, len(self.dims) + 1):
            t, hw = getattr(self, f"patch_embed{i}")(x)
            for block in getattr(self, f"block{i}"):
                t = block(t, hw)
            x = tokens_to_map(getattr(self, f"norm{i}")(t), *hw)
            maps.append(x)
        return maps


def _space_to_channels(x, p):
    """``B x H x W x C`` -> ``B x H/p x W/p x (p p C)``, the ``p x p`` neighbours ordered column-major (the
    offset ``(di, dj)`` at position ``dj * p + di``): Swin's patch-merging order ``x[0::2, 0::2], x[1::2, 0::2],
    x[0::2, 1::2], x[1::2, 1::2]`` for ``p = 2``."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 4, 2, 5)
    return x.reshape(b, h // p, w // p, p * p * c)


def _channels_to_space(x, p):
    """``B x h x w x (p p C)`` -> ``B x (h p) x (w p) x C``, channels ordered ``(p1 p2 C)`` row-major: the
    pixel-shuffle of Swin-Unet's and MISSFormer's patch expanding."""
    b, h, w, c = x.shape
    x = x.reshape(b, h, w, p, p, c // (p * p)).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h * p, w * p, c // (p * p))


class PatchMerging(nn.Module):
    """Swin's patch merging on ``B x H x W x C`` maps: every 2 x 2 neighbourhood's features concatenated
    (4 C), LayerNorm ``norm``, Linear ``reduction`` (no bias) to ``2 C``; halves H and W (even sizes)."""

    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def execute(self, x):
        return self.reduction(self.norm(_space_to_channels(x, 2)))


class PatchExpand(nn.Module):
    """Patch expanding (Swin-Unet, MISSFormer) on ``B x H x W x dim`` maps: Linear ``expand`` (no bias) to
    ``scale^2 * out_dim`` features, each token's features laid out over a ``scale x scale`` block, LayerNorm
    ``norm``: ``B x (H scale) x (W scale) x out_dim``."""

    def __init__(self, dim, out_dim, scale=2):
        super().__init__()
        self.scale = scale
        self.expand = nn.Linear(dim, scale * scale * out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim)

    def execute(self, x):
        return self.norm(_channels_to_space(self.expand(x), self.scale))


def window_partition(x, wh, ww):
    """``B x H x W x C`` -> ``(B nH nW) x (wh ww) x C``: the non-overlapping ``wh x ww`` windows, batch-major,
    then row-major over the windows; pixels row-major inside a window. H, W must be multiples of the window."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // wh, wh, w // ww, ww, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b * (h // wh) * (w // ww), wh * ww, c)


def window_reverse(windows, wh, ww, h, w):
    """The inverse of :func:`window_partition`: ``(B nH nW) x (wh ww) x C`` -> ``B x H x W x C``."""
    nh, nw = h // wh, w // ww
    c = windows.shape[-1]
    x = windows.reshape(windows.shape[0] // (nh * nw), nh, nw, wh, ww, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(x.shape[0], h, w, c)


def shifted_window_mask(h, w, wh, ww, sh, sw):
    """Swin's attention mask for windows shifted by ``(sh, sw)`` on an ``h x w`` map (multiples of the window).

    After the cyclic shift (``roll`` by ``-sh, -sw``) the last windows of each axis hold pixels from the far
    edge of the map; pixels that were not neighbours before the shift must not attend to each other. Each axis
    splits into ``[0, h - wh)``, ``[h - wh, h - sh)``, ``[h - sh, h)``; the regions are their products. Returns
    a NumPy bool array ``(nH nW) x (wh ww) x (wh ww)``, ``True`` where query and key are in different regions
    (blocked), windows ordered as :func:`window_partition`.
    """
    def bands(n, win, shift):
        label = np.zeros(n, np.int64)
        label[n - win:n - shift] = 1
        label[n - shift:] = 2
        return label

    regions = bands(h, wh, sh)[:, None] * 3 + bands(w, ww, sw)[None, :]
    windows = regions.reshape(h // wh, wh, w // ww, ww).transpose(0, 2, 1, 3).reshape(-1, wh * ww)
    return windows[:, :, None] != windows[:, None, :]


def relative_position_index(wh, ww, window=None):
    """Index into Swin's relative-position table for every (query, key) pair of a ``wh x ww`` window:
    ``(dy + W - 1) * (2 W - 1) + (dx + W - 1)`` with ``(dy, dx)`` = query position - key position and ``W``
    the table's window (``window``, default ``max(wh, ww)``; a smaller window reads the same table).
    Returns an int64 NumPy array ``(wh ww) x (wh ww)``."""
    size = max(wh, ww) if window is None else window
    ys, xs = np.meshgrid(np.arange(wh), np.arange(ww), indexing="ij")
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    dy = ys[:, None] - ys[None, :] + size - 1
    dx = xs[:, None] - xs[None, :] + size - 1
    return dy * (2 * size - 1) + dx


class RelativePositionBias(nn.Module):
    """Swin's learnt relative position bias: ``relative_position_bias_table`` holds one value per head for
    each of the ``(2 window - 1)^2`` offsets (initialised N(0, 0.02^2), as Swin's code: truncated at +-2, which a
    std of 0.02 never reaches); ``execute(wh, ww)``
    returns the additive bias ``1 x heads x N x N`` of a ``wh x ww`` window (``wh, ww <= window``)."""

    def __init__(self, window, heads):
        super().__init__()
        self.window = window
        self.relative_position_bias_table = init.trunc_normal_(
            jt.zeros(((2 * window - 1) ** 2, heads)), std=0.02)
        self._index = {}

    def execute(self, wh, ww):
        if (wh, ww) not in self._index:
            self._index[(wh, ww)] = jt.array(relative_position_index(wh, ww, self.window).reshape(-1))
        n = wh * ww
        bias = self.relative_position_bias_table[self._index[(wh, ww)]].reshape(n, n, -1)
        return bias.transpose(2, 0, 1).reshape(1, -1, n, n)


class PositionEmbedding(nn.Module):
    """A learnable ``grid x grid`` map of ``dim``-d position embeddings (``weight``, ``1 x dim x grid x grid``,
    initialised N(0, std^2)), bilinearly resized to the token grid when it differs, so every input size the
    network takes works, not only the one it was built for."""

    def __init__(self, dim, grid, std=0.02):
        super().__init__()
        self.weight = init.gauss((1, dim, grid, grid), "float32", std=std)

    def execute(self, gh, gw):
        """The embeddings of a ``gh x gw`` token grid, row-major: ``1 x (gh gw) x dim``."""
        w = self.weight
        if tuple(w.shape[2:]) != (gh, gw):
            w = nn.interpolate(w, size=(gh, gw), mode="bilinear", align_corners=False)
        return w.reshape(1, w.shape[1], gh * gw).transpose(0, 2, 1)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of every pixel of a ``B x C x H x W`` map (ConvNeXt's "channels first"),
    with a per-channel ``weight`` and ``bias`` unless ``affine=False``."""

    def __init__(self, channels, eps=1e-5, affine=True):
        super().__init__()
        self.eps = eps
        self.weight = jt.ones(channels) if affine else None
        self.bias = jt.zeros(channels) if affine else None

    def execute(self, x):
        mean = x.mean(dim=1, keepdims=True)
        centred = x - mean
        x = centred / jt.sqrt((centred * centred).mean(dim=1, keepdims=True) + self.eps)
        if self.weight is not None:
            x = x * self.weight.reshape(1, -1, 1, 1) + self.bias.reshape(1, -1, 1, 1)
        return x
