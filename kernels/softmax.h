// Row-wise softmax family over a (rows, cols) fp32 matrix, and the classification losses.
//   softmax      y = exp(x - max) / sum exp(x - max)           dx = y * (dy - <dy, y>)
//   log_softmax  y = x - max - log sum exp(x - max)            dx = dy - softmax(x) * sum(dy)
//   nll          loss = -mean_r logp[r, label_r]               dlogp[r, label_r] = -dloss / rows
//   cross_entropy with label smoothing e over K = cols classes:
//       target t = (1 - e) * onehot + e / K,  loss = mean_r sum_k -t_k * logp[r, k]
//       dlogits = dloss / rows * (softmax(logits) - t)
//     e = 0 is torch CrossEntropyLoss (mean reduction); e = 0.1 is DARTS ImageNet's
//     CrossEntropyLabelSmooth.
// Labels are int32 in [0, cols); out-of-range labels throw cudarts::Error (not InputError: data
// loaders validate labels, so a bad one here is a bug upstream).
// Losses accumulate in double on the CPU.
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace cudarts::cpu {

void softmax_fwd(float* y, const float* x, int rows, int cols);
void softmax_bwd(float* dx, const float* dy, const float* y, int rows, int cols, GradMode mode);
void log_softmax_fwd(float* y, const float* x, int rows, int cols);
void log_softmax_bwd(float* dx, const float* dy, const float* y, int rows, int cols, GradMode mode);

// Mean negative log-likelihood of log-probabilities; returns the loss.
float nll_loss_fwd(const float* logp, const int32_t* labels, int rows, int cols);
void nll_loss_bwd(float* dlogp, float dloss, const int32_t* labels, int rows, int cols,
                  GradMode mode);

// Writes logp = log_softmax(logits) (rows x cols, kept for backward) and returns the mean loss.
float cross_entropy_fwd(float* logp, const float* logits, const int32_t* labels, int rows, int cols,
                        float smoothing);
void cross_entropy_bwd(float* dlogits, float dloss, const float* logp, const int32_t* labels,
                       int rows, int cols, float smoothing, GradMode mode);

// Number of rows whose largest logit (first on ties) is the label, and top-5 likewise. A row
// holding a NaN or infinite logit is never correct.
int64_t count_correct(const float* logits, const int32_t* labels, int rows, int cols, int topk);

}  // namespace cudarts::cpu

// The same on a CUDA device (kernels/cuda/softmax.cu). Where cpu:: returns a value the CUDA
// twin writes it to a device pointer given first (loss, correct), and a loss backward reads its
// incoming gradient from a device pointer (dloss), so no step waits on a host round trip. Labels
// live on the device and are not checked by the launchers: a label outside [0, cols) makes its
// row's loss and gradient NaN and count_correct write -1, so the bug shows rather than reading
// out of bounds. Loss sums are per-row values reduced by a single block: deterministic, no
// atomics.
namespace cudarts::cuda {

void softmax_fwd(float* y, const float* x, int rows, int cols, Stream st);
void softmax_bwd(float* dx, const float* dy, const float* y, int rows, int cols, GradMode mode,
                 Stream st);
void log_softmax_fwd(float* y, const float* x, int rows, int cols, Stream st);
void log_softmax_bwd(float* dx, const float* dy, const float* y, int rows, int cols, GradMode mode,
                     Stream st);

void nll_loss_fwd(float* loss, const float* logp, const int32_t* labels, int rows, int cols,
                  Stream st);
void nll_loss_bwd(float* dlogp, const float* dloss, const int32_t* labels, int rows, int cols,
                  GradMode mode, Stream st);

void cross_entropy_fwd(float* loss, float* logp, const float* logits, const int32_t* labels,
                       int rows, int cols, float smoothing, Stream st);
void cross_entropy_bwd(float* dlogits, const float* dloss, const float* logp, const int32_t* labels,
                       int rows, int cols, float smoothing, GradMode mode, Stream st);

// Writes the count as one int32 on the device.
void count_correct(int32_t* correct, const float* logits, const int32_t* labels, int rows, int cols,
                   int topk, Stream st);

}  // namespace cudarts::cuda
