"""The shared transformer pieces (model/transformer.py) against references: torch.nn.MultiheadAttention with copied
weights, NumPy, and hand-built tables; and the medical transformers' parameter counts against their papers.

Shapes are few and small (every new shape compiles Jittor kernels). The torch tests skip without torch.
"""
import numpy as np
import pytest

from tests.conftest import jt
from model import count_parameters, create_model
from model.transformer import (LayerNorm2d, MultiHeadAttention, PatchExpand, PatchMerging, PositionEmbedding,
                               relative_position_index, shifted_window_mask, window_partition, window_reverse)

TOL = 1e-5
E, HEADS, N, M = 8, 2, 5, 7     # embedding, heads, query tokens, key/value tokens


def rand(*shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype("float32")


def set_linear(linear, weight, bias):
    linear.weight.assign(jt.array(np.ascontiguousarray(weight)))
    linear.bias.assign(jt.array(np.ascontiguousarray(bias)))


def copy_into(ours, theirs):
    """torch's in_proj (rows [q; k; v]) and out_proj into our layout's Linears."""
    w = theirs.in_proj_weight.detach().numpy()
    b = theirs.in_proj_bias.detach().numpy()
    if ours.layout == "qkv":
        set_linear(ours.qkv, w, b)
    elif ours.layout == "q_kv":
        set_linear(ours.q, w[:E], b[:E])
        set_linear(ours.kv, w[E:], b[E:])
    else:
        for name, i in (("query", 0), ("key", 1), ("value", 2)):
            set_linear(getattr(ours, name), w[i * E:(i + 1) * E], b[i * E:(i + 1) * E])
    set_linear(ours.proj, theirs.out_proj.weight.detach().numpy(), theirs.out_proj.bias.detach().numpy())


def torch_mha(seed=0):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    mha = torch.nn.MultiheadAttention(E, HEADS, batch_first=True)
    torch.nn.init.normal_(mha.in_proj_bias)   # torch starts the biases at 0: make them count
    torch.nn.init.normal_(mha.out_proj.bias)
    return mha.eval()


def blocking_mask(n, m, seed=2):
    """A boolean mask (True = blocked) that leaves every query at least one key."""
    mask = np.random.RandomState(seed).rand(n, m) > 0.6
    mask[:, 0] = False
    return mask


@pytest.mark.parametrize("layout", ["qkv", "q_kv", "separate"])
@pytest.mark.parametrize("masked", ["none", "bool", "float"])
def test_self_attention_matches_torch(layout, masked):
    torch = pytest.importorskip("torch")
    theirs = torch_mha()
    ours = MultiHeadAttention(E, HEADS, layout=layout)
    copy_into(ours, theirs)
    x = rand(2, N, E, seed=1)
    mask = None
    if masked == "bool":
        mask = blocking_mask(N, N)
    elif masked == "float":
        mask = rand(N, N, seed=3)
    tx = torch.from_numpy(x)
    ref = theirs(tx, tx, tx, attn_mask=None if mask is None else torch.from_numpy(mask), need_weights=False)[0]
    out = ours(jt.array(x), mask=mask).numpy()
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("layout", ["q_kv", "separate"])
def test_cross_attention_with_mask_matches_torch(layout):
    torch = pytest.importorskip("torch")
    theirs = torch_mha(seed=1)
    ours = MultiHeadAttention(E, HEADS, layout=layout)
    copy_into(ours, theirs)
    x, ctx, mask = rand(2, N, E, seed=4), rand(2, M, E, seed=5), blocking_mask(N, M)
    tc = torch.from_numpy(ctx)
    ref = theirs(torch.from_numpy(x), tc, tc, attn_mask=torch.from_numpy(mask), need_weights=False)[0]
    out = ours(jt.array(x), context=jt.array(ctx), mask=mask).numpy()
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=TOL, atol=TOL)


def test_key_value_reduction_is_attention_over_the_reduced_tokens():
    """SegFormer's efficient attention: keys/values from a stride-2 2x2 convolution of the 4 x 4 token grid and a
    LayerNorm; the reference reduces the tokens in NumPy and attends with torch's module."""
    torch = pytest.importorskip("torch")
    theirs = torch_mha(seed=2)
    ours = MultiHeadAttention(E, HEADS, layout="q_kv", sr_ratio=2)
    copy_into(ours, theirs)
    x = rand(2, 16, E, seed=6)
    w, b = ours.sr.weight.numpy(), ours.sr.bias.numpy()          # E x E x 2 x 2
    grid = x.reshape(2, 4, 4, E)
    patches = grid.reshape(2, 2, 2, 2, 2, E).transpose(0, 1, 3, 5, 2, 4).reshape(2, 4, E * 4)  # (c, di, dj)
    reduced = patches @ w.reshape(E, E * 4).T + b
    reduced = (reduced - reduced.mean(-1, keepdims=True)) / np.sqrt(reduced.var(-1, keepdims=True) + 1e-5)
    tr = torch.from_numpy(reduced.astype("float32"))
    ref = theirs(torch.from_numpy(x), tr, tr, need_weights=False)[0].detach().numpy()
    out = ours(jt.array(x), hw=(4, 4)).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=TOL)


def test_window_partition_and_reverse_are_exact_inverses():
    x = rand(2, 8, 12, 3, seed=7)
    windows = window_partition(jt.array(x), 4, 6).numpy()
    assert windows.shape == (2 * 2 * 2, 24, 3)
    # window 1 of image 0 is rows 0-3, columns 6-11, row-major; window 2 starts the second row of windows
    np.testing.assert_array_equal(windows[1], x[0, 0:4, 6:12].reshape(24, 3))
    np.testing.assert_array_equal(windows[2], x[0, 4:8, 0:6].reshape(24, 3))
    np.testing.assert_array_equal(windows[5], x[1, 0:4, 6:12].reshape(24, 3))
    back = window_reverse(jt.array(windows), 4, 6, 8, 12).numpy()
    np.testing.assert_array_equal(back, x)


# Regions of an 8 x 8 map after a cyclic shift by 2 with 4 x 4 windows (Swin's labelling: rows and columns
# split into [0, 4), [4, 6), [6, 8); region = 3 * row band + column band), written out by hand.
REGIONS_8x8 = np.array([
    [0, 0, 0, 0, 1, 1, 2, 2],
    [0, 0, 0, 0, 1, 1, 2, 2],
    [0, 0, 0, 0, 1, 1, 2, 2],
    [0, 0, 0, 0, 1, 1, 2, 2],
    [3, 3, 3, 3, 4, 4, 5, 5],
    [3, 3, 3, 3, 4, 4, 5, 5],
    [6, 6, 6, 6, 7, 7, 8, 8],
    [6, 6, 6, 6, 7, 7, 8, 8],
])


def test_shifted_window_mask_blocks_exactly_the_pairs_from_different_regions():
    mask = shifted_window_mask(8, 8, 4, 4, 2, 2)
    assert mask.shape == (4, 16, 16) and mask.dtype == bool
    for win, (r0, c0) in enumerate([(0, 0), (0, 4), (4, 0), (4, 4)]):
        labels = REGIONS_8x8[r0:r0 + 4, c0:c0 + 4].reshape(16)
        np.testing.assert_array_equal(mask[win], labels[:, None] != labels[None, :])
    assert not mask[0].any()                                    # the top-left window is one region
    assert (~mask[3]).sum(axis=1).tolist() == [4] * 16          # bottom-right: four regions of four pixels
    assert (~mask[1]).sum(axis=1).tolist() == [8] * 16          # top-right: two regions of eight
    # in the last window, pixels (0, 1) and (0, 2) came from opposite edges of the map: blocked both ways;
    # (0, 0) and (0, 1) were neighbours
    assert mask[3][1, 2] and mask[3][2, 1] and not mask[3][0, 1]


def test_relative_position_index_matches_the_hand_computed_table():
    # 2 x 2 window, tokens (0,0) (0,1) (1,0) (1,1); index = (dy + 1) * 3 + (dx + 1), (dy, dx) = query - key
    expected = np.array([
        [4, 3, 1, 0],
        [5, 4, 2, 1],
        [7, 6, 4, 3],
        [8, 7, 5, 4],
    ])
    np.testing.assert_array_equal(relative_position_index(2, 2), expected)
    # the same window reading a 3 x 3 window's table (5 x 5 offsets): (dy + 2) * 5 + (dx + 2)
    np.testing.assert_array_equal(relative_position_index(2, 2, window=3), expected // 3 * 5 + expected % 3 + 6)
    big = relative_position_index(7, 7)
    assert big.shape == (49, 49) and big.min() == 0 and big.max() == 168 and (np.diag(big) == 84).all()


def test_patch_merging_concatenates_swins_neighbour_order():
    x = rand(1, 4, 6, 2, seed=8)
    merge = PatchMerging(2)
    from model.transformer import _space_to_channels
    ours = _space_to_channels(jt.array(x), 2).numpy()
    expected = np.concatenate([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
    np.testing.assert_array_equal(ours, expected)
    assert tuple(merge(jt.array(x)).shape) == (1, 2, 3, 4)


def test_patch_expand_lays_features_out_row_major_over_the_block():
    expand = PatchExpand(4, 3, scale=2)
    expand.expand.weight.assign(jt.array(rand(12, 4, seed=9)))
    x = rand(1, 2, 3, 4, seed=10)
    features = x @ expand.expand.weight.numpy().T                  # 1 x 2 x 3 x 12, laid out (p1 p2 c)
    expected = np.zeros((1, 4, 6, 3), "float32")
    for p1 in range(2):
        for p2 in range(2):
            expected[:, p1::2, p2::2] = features[..., (p1 * 2 + p2) * 3:(p1 * 2 + p2 + 1) * 3]
    expected = (expected - expected.mean(-1, keepdims=True)) / np.sqrt(expected.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(expand(jt.array(x)).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_layer_norm_2d_normalises_the_channels_of_each_pixel():
    norm = LayerNorm2d(3)
    norm.weight.assign(jt.array(np.array([1.0, 2.0, 0.5], "float32")))
    norm.bias.assign(jt.array(np.array([0.0, 1.0, -1.0], "float32")))
    x = rand(2, 3, 4, 5, seed=11)
    z = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    expected = z * np.array([1.0, 2.0, 0.5]).reshape(1, 3, 1, 1) + np.array([0.0, 1.0, -1.0]).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(norm(jt.array(x)).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_position_embedding_is_the_table_at_its_grid_and_resized_elsewhere():
    pos = PositionEmbedding(4, 3)
    table = pos.weight.numpy()
    np.testing.assert_array_equal(pos(3, 3).numpy()[0], table[0].reshape(4, 9).T)
    assert tuple(pos(2, 5).shape) == (1, 10, 4)


# ---------------------------------------------------------------------------------------------------------------
# Parameter counts against the papers (trainable parameters, in the configuration each paper states).

def trainable(model):
    return count_parameters(model)[1]


@pytest.mark.parametrize("size,stated", [("b0", 3.8e6), ("b1", 13.7e6), ("b2", 27.5e6)])
def test_segformer_counts_match_the_paper(size, stated):
    """SegFormer's Table 1, encoder + decoder on ADE20K (150 classes), stated to 0.1 M."""
    assert abs(trainable(create_model(f"segformer_{size}", n_classes=150)) - stated) <= 0.05e6


def test_missformer_count_is_the_papers_with_the_modules_the_official_code_never_uses():
    """42.46 M (the paper, Synapse: 9 classes). The official code also builds the 1/32 decoder layer's
    concat_linear (1024 -> 512) and two 512-wide transformer blocks, and norm2/norm3 in every enhanced Mix-FFN;
    its forward pass never uses them, so we do not build them."""
    from model.transformer import MixFFN, MixTransformerBlock
    model = create_model("missformer", n_classes=9)
    unused_norms = sum(4 * m.fc1.weight.shape[0] for m in model.modules() if isinstance(m, MixFFN))
    block = trainable(MixTransformerBlock(512, 8, 1, eps=1e-5, enhanced=True)) + 4 * 2048
    official = trainable(model) + unused_norms + (1024 * 512 + 512) + 2 * block
    assert abs(official - 42.46e6) <= 0.005e6, official


def test_transunet_count_matches_the_official_r50_vit_b16(monkeypatch):
    """105.28 M: R50-ViT-B/16 at 224 px (a 14 x 14 token grid), 9 classes. The official ResNet-50 has 9 units
    in its third stage (torchvision's, ours, has 6) and GroupNorm (same parameters as BatchNorm's affine)."""
    from model.backbone import resnet
    monkeypatch.setitem(resnet.SPECS, 50, (resnet.Bottleneck, (3, 4, 9, 3)))
    assert abs(trainable(create_model("transunet", n_classes=9)) - 105.28e6) <= 0.005e6


def count_as_3d(model, extra=lambda name: 1):
    """The count of the same network with every k x k convolution kernel k x k x k (``extra(name)`` multiplies
    other parameters)."""
    total = 0
    for name, p in model.state_dict().items():
        n = int(p.numel())
        total += n * (p.shape[-1] if p.ndim == 4 else extra(name))
    return total


@pytest.mark.parametrize("size,kernel,stated", [("s", 3, 5.6e6), ("s", 5, 5.9e6), ("b", 3, 10.5e6), ("b", 5, 11.0e6)])
def test_mednext_layers_give_the_papers_3d_counts(size, kernel, stated):
    """The MedNeXt release's table (3D, stated to 0.1 M). S with kernel 5 gives 5.98 M against the stated 5.9 M
    (the others round to their figure), so the tolerance is the registry's 2 %."""
    model = create_model(f"mednext_{size}", in_channels=1, n_classes=14, kernel_size=kernel)
    assert abs(count_as_3d(model) - stated) <= 0.02 * stated


def test_swin_unetr_in_3d_is_monais_swin_unetr():
    """The papers' Swin-UNETR is 3D (MONAI's SwinUNETR, feature size 48: 62,187,296 parameters for 1 input
    channel and 14 classes). In 3D the relative-position table has 13^3 rows instead of 13^2 and patch merging
    concatenates 8 neighbours instead of 4; everything else only gains a kernel dimension."""
    def extra(name):
        if "relative_position_bias_table" in name:
            return 13
        return 2 if ".downsample." in name else 1
    assert count_as_3d(create_model("swinunetr", in_channels=1, n_classes=14), extra) == 62187296


def test_shifted_window_attention_matches_a_per_window_numpy_reference():
    """Swin-UNETR's block on an 8 x 8 map, windows 4 x 4 shifted by 2: each pixel attends only to the pixels of
    its window (after the cyclic shift) that lie in its region of REGIONS_8x8, with the relative-position bias of
    their offset; written per window in NumPy."""
    from model.swin_unetr import SwinBlock
    jt.set_global_seed(0)
    block = SwinBlock(4, 2, window=4, shift=2)
    block.position_bias.relative_position_bias_table.assign(jt.array(rand(49, 2, seed=12)))
    x = rand(1, 8, 8, 4, seed=13)
    out = block.attend(jt.array(x)).numpy()

    wq, bq = block.attn.qkv.weight.numpy(), block.attn.qkv.bias.numpy()
    wp, bp = block.attn.proj.weight.numpy(), block.attn.proj.bias.numpy()
    table = block.position_bias.relative_position_bias_table.numpy()
    rolled = np.roll(x[0], (-2, -2), axis=(0, 1))
    result = np.zeros_like(rolled)
    pos = [(i, j) for i in range(4) for j in range(4)]
    for r0 in (0, 4):
        for c0 in (0, 4):
            tokens = rolled[r0:r0 + 4, c0:c0 + 4].reshape(16, 4)
            qkv = tokens @ wq.T + bq
            heads = []
            for h in range(2):
                q, k, v = (qkv[:, s * 4 + h * 2:s * 4 + h * 2 + 2] for s in range(3))
                scores = q @ k.T / np.sqrt(2)
                for a, (ia, ja) in enumerate(pos):
                    for b, (ib, jb) in enumerate(pos):
                        scores[a, b] += table[(ia - ib + 3) * 7 + (ja - jb + 3), h]
                        if REGIONS_8x8[r0 + ia, c0 + ja] != REGIONS_8x8[r0 + ib, c0 + jb]:
                            scores[a, b] = -np.inf
                heads.append(np.exp(scores - scores.max(1, keepdims=True)) / np.exp(
                    scores - scores.max(1, keepdims=True)).sum(1, keepdims=True) @ v)
            result[r0:r0 + 4, c0:c0 + 4] = (np.concatenate(heads, 1) @ wp.T + bp).reshape(4, 4, 4)
    np.testing.assert_allclose(out[0], np.roll(result, (2, 2), axis=(0, 1)), rtol=1e-4, atol=1e-5)


def test_mednext_deep_supervision_returns_logits_at_every_decoder_scale():
    jt.set_global_seed(0)
    model = create_model("mednext_s", n_classes=3, kernel_size=3, deep_supervision=True)
    model.eval()
    with jt.no_grad():
        outs = model(jt.array(rand(1, 3, 32, 32, seed=14)), deep=True)
        plain = model(jt.array(rand(1, 3, 32, 32, seed=14)))
    assert [tuple(o.shape) for o in outs] == [(1, 3, 32 // 2 ** i, 32 // 2 ** i) for i in range(5)]
    np.testing.assert_allclose(outs[0].numpy(), plain.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        create_model("mednext_s", kernel_size=3)(jt.array(rand(1, 3, 32, 32)), deep=True)
