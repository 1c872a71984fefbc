"""bench/onednn_breakdown.py: oneDNN's verbose lines of both versions are summed into the right categories."""
import pytest

from bench.onednn_breakdown import parse_verbose

# oneDNN 2.x (Jittor's, Debian's libdnnl) and 3.x (PyTorch's bundled copy) verbose lines
V2 = [
    "onednn_verbose,exec,cpu,convolution,jit:avx512_core,forward_inference,src_f32::blocked:aBcd16b:f0,,"
    "alg:convolution_direct,mb4_ic64oc64_ih128oh128kh3sh1dh0,2.5",
    "onednn_verbose,exec,cpu,convolution,jit:avx512_core,backward_data,src_f32::blocked:aBcd16b:f0,,alg,mb4,1.25",
    "onednn_verbose,exec,cpu,reorder,jit:blk,undef,src_f32::blocked:abcd:f0 dst_f32::blocked:aBcd16b:f0,,,4x64,0.5",
    "onednn_verbose,exec,cpu,reorder,jit:uni,undef,src_f32::blocked:abcd:f0,,,64x64x3x3,0.25",
    "onednn_verbose,info,cpu,isa:Intel AVX-512",
    "onednn_verbose,create:cache_miss,cpu,convolution,jit:avx512_core,forward_inference,src,,alg,mb4,0.1",
]
V3 = [
    "onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx512_core,forward_training,src:f32,attr,alg,mb4,3.0",
    "onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx512_core,backward_weights,src:f32,attr,alg,mb4,2.0",
    "onednn_verbose,v1,primitive,exec,cpu,pooling,jit:avx512_core,forward_training,src:f32,attr,alg,mb4,0.75",
    "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:blk,undef,src:f32::blocked:abcd::f0,attr,,4x64,1.5",
    "not a verbose line, 7.0",
]


def test_both_formats_sum_by_category_and_skip_creation_and_info_lines():
    assert parse_verbose(V2) == pytest.approx(
        {"convolution forward": 2.5, "convolution backward_data": 1.25, "reorder": 0.75})
    assert parse_verbose(V3) == pytest.approx(
        {"convolution forward": 3.0, "convolution backward_weights": 2.0, "other": 0.75, "reorder": 1.5})
