// Differentiable ops on Vars. Each runs the forward kernel of kernels/<family>.h on the input's
// device and records a backward closure (autograd/var.h). Shapes are NCHW for images and
// (rows, cols) for matrices; the kernel headers hold the exact semantics and derivations.
// Non-learnable inputs (labels, masks, running statistics) are plain Tensors.
#pragma once

#include <vector>

#include "autograd/var.h"
#include "engine/rng.h"
#include "kernels/dropout.h"
#include "kernels/rnn_cell.h"

namespace cudarts {

// ----- convolution, pooling, resampling (ops_conv.cpp) -----
// w: (c_out, c_in / groups, k, k); no bias.
Var conv2d(const Var& x, const Var& w, int stride = 1, int pad = 0, int dil = 1, int groups = 1);
// ys[i] = conv2d(xs[i], ws[i], ...) for every i, all xs of one shape and all ws of one shape, the
// same numbers; on CUDA the forward and the weight gradients are one launch per 16 items where
// the shape's kernel is ours (depthwise), and each input gradient is its own launch (inputs are
// often shared: every edge leaving a state convolves its ReLU).
std::vector<Var> conv2d_group(const std::vector<Var>& xs, const std::vector<Var>& ws,
                              int stride = 1, int pad = 0, int dil = 1, int groups = 1);
Var max_pool2d(const Var& x, int k, int stride, int pad);
Var avg_pool2d(const Var& x, int k, int stride, int pad);  // count_include_pad=False
Var global_avg_pool(const Var& x);                         // (n, c, h, w) -> (n, c)
Var subsample(const Var& x, int stride, int offset);       // x[:, :, off::s, off::s]

// ----- padding and bias (ops_pad.cpp) -----
// Zeros around x (n, c, h, w): top/bottom rows, left/right columns, all >= 0 (kernels/pad.h);
// all four zero returns x itself, nothing recorded.
Var pad2d(const Var& x, int top, int bottom, int left, int right);
// x (n, c, ...) + b[c] broadcast over n and every trailing position; b has c elements.
Var channel_bias(const Var& x, const Var& b);

// ----- batch norm (ops_norm.cpp) -----
// gamma/beta undefined: affine=False. running_mean/var may be undefined (no tracking); in
// training they are updated in place with `momentum`. x: (n, c, ...) normalised per channel.
Var batch_norm(const Var& x, const Var& gamma, const Var& beta, const Tensor& running_mean,
               const Tensor& running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);
// Training-mode, affine=False batch norms of several inputs of one shape, each with its own
// statistics: ys[i] = batch_norm(xs[i], {}, {}, running_means[i], running_vars[i], true) for every
// i, bit for bit, but on CUDA all statistics in one launch, all applies in another and the whole
// backward in a third (per 16 inputs; kernels/batchnorm.h). Running entries may be undefined.
// relu[i] (empty: none) makes ys[i] = relu(that norm), the ReLU fused into the same kernels.
std::vector<Var> batch_norm_group(const std::vector<Var>& xs,
                                  const std::vector<Tensor>& running_means,
                                  const std::vector<Tensor>& running_vars,
                                  const std::vector<bool>& relu = {}, float momentum = 0.1f,
                                  float eps = 1e-5f);

// ----- elementwise (ops_elementwise.cpp) -----
Var relu(const Var& x);
Var tanh(const Var& x);
Var sigmoid(const Var& x);
Var add(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var scale(const Var& x, float alpha);
Var sum(const Var& x);   // one element
Var mean(const Var& x);  // one element
// x * mask broadcast as in kernels/dropout.h; the mask is a constant.
Var mask_mul(const Var& x, const Tensor& mask, const BroadcastShape& s);
// Inverted dropout with probability p (identity when p == 0 or not training).
Var dropout(const Var& x, float p, Generator& gen, bool training = true);
// DARTS drop path: each sample kept with probability 1-p and scaled by 1/(1-p).
Var drop_path(const Var& x, float p, Generator& gen, bool training = true);

// ----- shapes and channels (ops_tensor.cpp) -----
Var concat_channels(const std::vector<Var>& xs);  // along dim 1
Var slice_channels(const Var& x, int begin, int count);
Var reshape(const Var& x, const Shape& shape);
// A copy of `shape` elements starting `offset` into x's flat data (e.g. one row of alpha).
Var narrow(const Var& x, int64_t offset, const Shape& shape);

// ----- dense (ops_dense.cpp) -----
Var linear(const Var& x, const Var& w, const Var& b);  // b may be undefined
Var matmul(const Var& a, const Var& b);
Var embedding(const Tensor& ids, const Var& table);  // ids int32 (any shape) -> shape + [dim]

// ----- softmax, losses, mixed op (ops_loss.cpp) -----
Var softmax(const Var& x);                            // over the last dimension
Var log_softmax(const Var& x);                        // over the last dimension
Var nll_loss(const Var& logp, const Tensor& labels);  // mean over rows
Var cross_entropy(const Var& logits, const Tensor& labels, float smoothing = 0.f);
// Rows whose label is among the top-k logits (top-1: the largest, first on ties); not recorded.
int64_t count_correct(const Var& logits, const Tensor& labels, int topk = 1);
// sum_k w[k] * ys[k]; an undefined ys[k] contributes zero (DARTS `none`). w has K elements.
Var mixed_sum(const std::vector<Var>& ys, const Var& w);
// The same with w = softmax(alpha) taken inside (the fused MixedOp); alpha has K elements.
Var mixed_softmax_sum(const std::vector<Var>& ys, const Var& alpha);
// sum_k w.flat[offset + k] * ys[k]: the weights are K consecutive values of a larger w (one row
// of the search cell's softmax(alphas)), read in place instead of through a narrow copy; the
// backward writes their gradients there (the first write of a backward zeroes the rest of w's
// gradient, a memset, so every other row then accumulates).
Var mixed_sum(const std::vector<Var>& ys, const Var& w, int64_t offset);
// A search-cell node: the sum over its edges, in order, of each edge's mixed_sum(edge's ys, w,
// offset + e * per_edge), where ys holds the edges' candidates edge after edge (per_edge each).
// The same numbers as those mixed sums added one by one, in one launch and one tape entry (edges
// past cuda::kMaxCandidates candidates in all fall back to exactly that).
Var mixed_node(const std::vector<Var>& ys, const Var& w, int64_t offset, int per_edge);

// ----- the recurrent cell (ops_rnn.cpp) -----
// s + sigmoid(c) * (act(h) - s) with [c | h] = ch: ch (rows, 2n), s (rows, n) (kernels/rnn_cell.h).
Var rnn_highway(const Var& ch, const Var& s, RnnAct act);
// sum over tanh, relu, sigmoid, identity of p_k (s + sigmoid(c) (f_k(h) - s)), p = softmax(alpha)
// of one search edge's 5 logits (none first: it adds nothing).
Var rnn_highway_mix(const Var& ch, const Var& s, const Var& alpha);

}  // namespace cudarts
