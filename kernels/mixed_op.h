// The DARTS mixed edge: out = sum_k w_k * y_k over K candidate outputs of n elements each,
// with w = softmax(alpha) for one alpha row.
//   mixed_sum:          weights w given.        dy_k = w_k * dout,  dw_k = <dout, y_k>
//   mixed_softmax_sum:  logits alpha given; the softmax is taken inside and
//                       dalpha_j = w_j * (dw_j - sum_k w_k dw_k) (softmax Jacobian of dw).
// The fused form is what the CUDA backend does in one pass; the CPU form composes the two and is
// tested against softmax_fwd + mixed_sum. ys[k] may be null: that candidate contributes exactly
// zero (DARTS `none`) and gets no gradient; dys[k] may be null (gradient not wanted).
// dw / dalpha (K floats) are written per mode, or skipped when null.
//   mixed_node_fwd:     a search-cell node, the sum of its edges' mixed sums: the K candidates are
//                       K / run edges of `run` each (ys and w edge after edge), each edge's sum
//                       is rounded to float and the edges added in order in float, so out has the
//                       bits of mixed_sum_fwd per edge followed by adds. Its backward is
//                       mixed_sum_bwd over all K (every edge's dout is the node's).
#pragma once

#include <cstdint>
#include <span>

#include "kernels/common.h"

namespace cudarts::cpu {

void mixed_sum_fwd(float* out, const float* const* ys, const float* w, int K, int64_t n);
void mixed_sum_bwd(float* const* dys, float* dw, const float* dout, const float* const* ys,
                   const float* w, int K, int64_t n, GradMode mode);
void mixed_node_fwd(float* out, const float* const* ys, const float* w, int K, int run, int64_t n);

void mixed_softmax_sum_fwd(float* out, const float* const* ys, const float* alpha, int K,
                           int64_t n);
void mixed_softmax_sum_bwd(float* const* dys, float* dalpha, const float* dout,
                           const float* const* ys, const float* alpha, int K, int64_t n,
                           GradMode mode);

}  // namespace cudarts::cpu

// The same on a CUDA device (kernels/cuda/mixed_op.cu). ys and dys stay HOST arrays of K device
// pointers, as for cpu:: (the launcher copies them into the kernel's arguments); out, w, alpha,
// dw, dalpha and dout are device pointers. K is at most kMaxCandidates (kMaxSoftmaxCandidates
// for the softmax form, whose one reducing block keeps K accumulators per thread), because the
// pointer tables travel by value in the kernel arguments. dw_k are K independent reductions; dalpha
// needs all K at once and is computed by one block (v1) or one cluster of 8 blocks (v2), slower
// than dw (see the .cu note).
namespace cudarts::cuda {

inline constexpr int kMaxCandidates = 64;         // a node of 8 edges of DARTS' 8 primitives
inline constexpr int kMaxSoftmaxCandidates = 16;  // one edge: DARTS has 8 primitives

void mixed_sum_fwd(float* out, const float* const* ys, const float* w, int K, int64_t n, Stream st);
void mixed_sum_bwd(float* const* dys, float* dw, const float* dout, const float* const* ys,
                   const float* w, int K, int64_t n, GradMode mode, Stream st);
void mixed_node_fwd(float* out, const float* const* ys, const float* w, int K, int run, int64_t n,
                    Stream st);

void mixed_softmax_sum_fwd(float* out, const float* const* ys, const float* alpha, int K, int64_t n,
                           Stream st);
void mixed_softmax_sum_bwd(float* const* dys, float* dalpha, const float* dout,
                           const float* const* ys, const float* alpha, int K, int64_t n,
                           GradMode mode, Stream st);

// The backward's versions, for the tests and the benchmark: "v1" reduces dw_k on one block per
// candidate and dalpha on one block (any n); "v2" on one 8-block cluster each (n >= 8192), the
// launchers' pick there. Both entries take the launchers' arguments; the data gradients are the
// same kernel in both.
struct MixedBwdVersion {
    using Bwd = void(float* const* dys, float* dw, const float* dout, const float* const* ys,
                     const float* w, int K, int64_t n, GradMode mode, Stream st);
    const char* name;
    bool (*supports)(int64_t n);
    Bwd* mixed_sum_bwd;
    Bwd* mixed_softmax_sum_bwd;  // w holds alpha and dw receives dalpha
};
std::span<const MixedBwdVersion> mixed_bwd_versions();

}  // namespace cudarts::cuda
