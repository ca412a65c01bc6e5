// TinyConvNet: initialisation follows PyTorch 0.3.1 (conv U(+-1/sqrt(fan_in)) with depthwise fan
// not divided by groups, linear U(+-1/sqrt(in)), BN gamma 1 and beta 0), see reference/darts.md.
#include "tests/tiny_convnet.h"

#include <cmath>

namespace cudarts {

namespace {
constexpr int kStem = 8, kWide = 16;
}

TinyConvNet::TinyConvNet(int in_channels, int classes, Device dev, uint64_t seed) {
    ParamStore& p = params_;
    const int stem_w = p.add("stem.0.weight", {kStem, in_channels, 3, 3});
    const int stem_g = p.add("stem.1.weight", {kStem});
    p.add("stem.1.bias", {kStem});
    const int dw = p.add("sep.1.weight", {kStem, 1, 3, 3});
    const int pw = p.add("sep.2.weight", {kWide, kStem, 1, 1});
    const int fc_w = p.add("classifier.weight", {classes, kWide});
    const int fc_b = p.add("classifier.bias", {classes});
    p.finalize(dev);
    Generator gen(seed);
    p.init_uniform(stem_w, 1.f / std::sqrt(float(in_channels * 9)), gen);
    p.init_constant(stem_g, 1.f);
    p.init_uniform(dw, 1.f / std::sqrt(float(kStem * 9)), gen);
    p.init_uniform(pw, 1.f / std::sqrt(float(kStem)), gen);
    p.init_uniform(fc_w, 1.f / std::sqrt(float(kWide)), gen);
    p.init_uniform(fc_b, 1.f / std::sqrt(float(kWide)), gen);
    Tensor a = Tensor::empty({2}, dev);
    gen.normal_(a, 0.f, 1e-3f);
    alpha_ = Var(a, true, "alpha");
    stem_rm_ = Tensor::zeros({kStem}, dev);
    stem_rv_ = Tensor::full({kStem}, 1.f, dev);
    sep_rm_ = Tensor::zeros({kWide}, dev);
    sep_rv_ = Tensor::full({kWide}, 1.f, dev);
}

Var TinyConvNet::forward(const Var& x, bool training) {
    const ParamStore& p = params_;
    Var h = conv2d(x, p.get("stem.0.weight"), 1, 1);
    h = relu(
        batch_norm(h, p.get("stem.1.weight"), p.get("stem.1.bias"), stem_rm_, stem_rv_, training));
    h = conv2d(h, p.get("sep.1.weight"), 1, 2, 2, kStem);
    h = conv2d(h, p.get("sep.2.weight"));
    h = relu(batch_norm(h, Var(), Var(), sep_rm_, sep_rv_, training));
    Var pooled = mixed_softmax_sum({max_pool2d(h, 3, 2, 1), avg_pool2d(h, 3, 2, 1)}, alpha_);
    return linear(global_avg_pool(pooled), p.get("classifier.weight"), p.get("classifier.bias"));
}

}  // namespace cudarts
