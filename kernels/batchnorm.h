// Batch normalization over (N, H*W) per channel, NCHW fp32 (BatchNorm2d; hw = 1 gives BatchNorm1d).
// Training: mean and biased variance of the batch, y = (x - mean) * invstd * gamma + beta with
// invstd = 1/sqrt(var + eps); running stats update rm = (1-m) rm + m mean,
// rv = (1-m) rv + m var_unbiased (PyTorch semantics, momentum m = 0.1, eps = 1e-5).
// Eval: the running statistics replace the batch ones.
// Backward (training), with xhat = (x - mean) * invstd and g = dy * gamma:
//   dx = invstd * (g - mean(g) - xhat * mean(g * xhat)),  dgamma = sum dy*xhat,  dbeta = sum dy.
// Backward (eval) is the affine map's: dx = dy * gamma * invstd_running.
// gamma/beta null means affine=False (DARTS search network); dgamma/dbeta null skips them.
// The variance is computed in two passes (mean first), so it is stable for large means.
#pragma once

#include <ostream>
#include <span>

#include "kernels/common.h"

namespace cudarts {

constexpr float kBnEps = 1e-5f;      // PyTorch BatchNorm2d default
constexpr float kBnMomentum = 0.1f;  // PyTorch BatchNorm2d default

struct BatchNormShape {
    int n, c, hw;  // x viewed as (n, c, hw)
    int64_t elems() const { return int64_t(n) * c * hw; }
    int64_t per_channel() const { return int64_t(n) * hw; }
    void validate() const;  // needs n*hw >= 2 in training (unbiased variance), checked there
    // What both backends check before a kernel: validate() and eps >= 0; in training also the
    // momentum in [0, 1] and, when there is a channel, n*hw >= 2. False: nothing to compute.
    void validate_eval(float eps) const;
    bool validate_train(float momentum, float eps) const;
};
std::ostream& operator<<(std::ostream& os, const BatchNormShape& s);

// One batch norm of a group: several independent training-mode batch norms of one shape, each
// with its own tensors, computed together (batch_norm_group_*: on CUDA one launch per pass for up
// to kBatchNormGroupChunk of them). Every pointer means what it means in the single calls below
// (gamma/beta/running stats may be null, and dx/dgamma/dbeta null are not wanted); each item of a
// backward writes its gradients with its own mode. The items of one call run at once on CUDA, so
// no two may write the same output (y, statistics, dx, dgamma or dbeta).
struct BatchNormTrainItem {
    float* y;
    float* save_mean;
    float* save_invstd;
    float* running_mean;
    float* running_var;
    const float* x;
    const float* gamma;
    const float* beta;
    bool relu = false;  // y = max(norm, 0): the ReLU that reads the norm, fused (group form only)
};
struct BatchNormGradItem {
    float* dx;
    float* dgamma;
    float* dbeta;
    const float* dy;
    const float* x;
    const float* gamma;
    const float* save_mean;
    const float* save_invstd;
    GradMode mode;
    const float* relu_y = nullptr;  // the fused ReLU's output, when the forward had one: dy is
                                    // taken as 0 where relu_y <= 0 (group form only)
};

namespace cpu {
// save_mean and save_invstd (c each) are written for the backward pass. running_mean/var may be
// null (no tracking).
void batch_norm_fwd_train(float* y, float* save_mean, float* save_invstd, float* running_mean,
                          float* running_var, const float* x, const float* gamma, const float* beta,
                          const BatchNormShape& s, float momentum, float eps);
void batch_norm_fwd_eval(float* y, const float* x, const float* gamma, const float* beta,
                         const float* running_mean, const float* running_var,
                         const BatchNormShape& s, float eps);
// Any of dx, dgamma, dbeta may be null (not wanted).
void batch_norm_bwd_train(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                          const float* gamma, const float* save_mean, const float* save_invstd,
                          const BatchNormShape& s, GradMode mode);
void batch_norm_bwd_eval(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* gamma, const float* running_mean, const float* running_var,
                         const BatchNormShape& s, float eps, GradMode mode);
// The group forms: the single calls, item by item.
void batch_norm_group_fwd_train(std::span<const BatchNormTrainItem> items, const BatchNormShape& s,
                                float momentum, float eps);
void batch_norm_group_bwd_train(std::span<const BatchNormGradItem> items, const BatchNormShape& s);
}  // namespace cpu

// The same on a CUDA device (kernels/cuda/batchnorm.cu), same numbers up to float summation order:
// the cpu:: arguments plus the stream. Declared in every build, defined only with CUDA.
namespace cuda {
void batch_norm_fwd_train(float* y, float* save_mean, float* save_invstd, float* running_mean,
                          float* running_var, const float* x, const float* gamma, const float* beta,
                          const BatchNormShape& s, float momentum, float eps, Stream st);
void batch_norm_fwd_eval(float* y, const float* x, const float* gamma, const float* beta,
                         const float* running_mean, const float* running_var,
                         const BatchNormShape& s, float eps, Stream st);
void batch_norm_bwd_train(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                          const float* gamma, const float* save_mean, const float* save_invstd,
                          const BatchNormShape& s, GradMode mode, Stream st);
void batch_norm_bwd_eval(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* gamma, const float* running_mean, const float* running_var,
                         const BatchNormShape& s, float eps, GradMode mode, Stream st);
// The group forms: the statistics of every item in one launch and its applies in another (the
// backward in one), kBatchNormGroupChunk items per launch; each item gets the bits the single
// call gives it. The single training calls are groups of one.
inline constexpr int kBatchNormGroupChunk = 16;
void batch_norm_group_fwd_train(std::span<const BatchNormTrainItem> items, const BatchNormShape& s,
                                float momentum, float eps, Stream st);
void batch_norm_group_bwd_train(std::span<const BatchNormGradItem> items, const BatchNormShape& s,
                                Stream st);

// Every implementation of the per-channel reductions, so tests check each against cpu:: and the
// benchmark times them side by side: "v1" (one block per channel, any shape) and "v2" (one
// 8-block cluster per channel, n*hw >= 2048). Each entry has the launchers' contract and throws
// on a shape it does not support; the launchers run the last entry that supports the shape.
// batch_norm_fwd_eval reduces nothing and has one version.
struct BatchNormVersion {
    const char* name;
    bool (*supports)(const BatchNormShape& s);
    void (*fwd_train)(float* y, float* save_mean, float* save_invstd, float* running_mean,
                      float* running_var, const float* x, const float* gamma, const float* beta,
                      const BatchNormShape& s, float momentum, float eps, Stream st);
    void (*bwd_train)(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                      const float* gamma, const float* save_mean, const float* save_invstd,
                      const BatchNormShape& s, GradMode mode, Stream st);
    void (*bwd_eval)(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                     const float* gamma, const float* running_mean, const float* running_var,
                     const BatchNormShape& s, float eps, GradMode mode, Stream st);
    void (*fwd_train_group)(std::span<const BatchNormTrainItem> items, const BatchNormShape& s,
                            float momentum, float eps, Stream st);
    void (*bwd_train_group)(std::span<const BatchNormGradItem> items, const BatchNormShape& s,
                            Stream st);
};
std::span<const BatchNormVersion> batch_norm_versions();
}  // namespace cuda

}  // namespace cudarts
