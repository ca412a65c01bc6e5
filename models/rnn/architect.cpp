// The recurrent DARTS architect; see models/rnn/architect.h and reference/darts.md 7.3.
#include "models/rnn/architect.h"

#include <cmath>

#include "kernels/check.h"
#include "models/nn/second_order.h"

namespace cudarts {

Var rnn_segment_loss(RnnModel& model, const TextSegment& seg, const Tensor& hidden,
                     ForwardMode mode, Generator& gen, Tensor* next_hidden) {
    RnnModel::Output out = model.forward(seg.input, hidden, mode, gen);
    if (next_hidden) *next_hidden = out.hidden;
    return nll_loss(out.log_probs, seg.target);
}

RnnArchitect::RnnArchitect(RnnModel& model, RnnArchitectOptions opt)
    : model_(model), opt_(opt), adam_(model.alphas(), opt.adam) {
    CUDARTS_CHECK(model.config().search(), "the architect needs a search model");
    CUDARTS_CHECK(model.weights().names().front() == "encoder.weight",
                  "the embedding must lead the flat weight buffer");
    weight_vars_ = model_.weights().vars();
    alpha_vars_ = model_.alphas().vars();
}

Tensor RnnArchitect::compute_gradient(const TextSegment& train, const Tensor& train_hidden,
                                      const TextSegment& search, const Tensor& search_hidden,
                                      float eta, Generator& gen) {
    if (opt_.second_order)
        return second_order_gradient(train, train_hidden, search, search_hidden, eta, gen);
    Tensor next;
    const Var loss = rnn_segment_loss(model_, search, search_hidden, {}, gen, &next);
    search_loss_ = loss.value().item();
    backward(loss, alpha_vars_);
    return next;
}

Tensor RnnArchitect::step(const TextSegment& train, const Tensor& train_hidden,
                          const TextSegment& search, const Tensor& search_hidden, float eta,
                          Generator& gen) {
    Tensor next = compute_gradient(train, train_hidden, search, search_hidden, eta, gen);
    adam_.step();
    return next;
}

Tensor RnnArchitect::second_order_gradient(const TextSegment& train, const Tensor& train_hidden,
                                           const TextSegment& search, const Tensor& search_hidden,
                                           float eta, Generator& gen) {
    const Tensor& w = model_.weights().flat_values();
    const Tensor& gw = model_.weights().flat_grads();
    const Tensor& galpha = model_.alphas().flat_grads();
    work_.prepare(w, galpha);

    // 1. Virtual step: g clipped to `clip` (κ kept uncapped), w' = w - η (g + λ w), the
    //    embedding left at w.
    backward(rnn_segment_loss(model_, train, train_hidden, {}, gen), weight_vars_);
    kappa_ = opt_.clip / (clip_to_norm(gw, opt_.clip) + 1e-6);
    work_.w_saved.copy_(w);
    axpy(gw, opt_.w_weight_decay, w);
    axpy(w, -eta, gw);
    // The encoder is the first tensor of the flat buffer: its saved copy is the same prefix.
    const Tensor embedding = model_.weights()[0].value();
    embedding.copy_(work_.w_saved.view(0, embedding.shape()));

    // 2. dα and dw' at w' in one backward, from the search hidden state; no running statistics.
    Tensor next;
    const Var loss = rnn_segment_loss(model_, search, search_hidden,
                                      {.training = true, .track_stats = false}, gen, &next);
    search_loss_ = loss.value().item();
    work_.keep_gradients(loss, model_.weights(), model_.alphas());
    clip_to_norm(work_.dw, opt_.clip);

    // 3-4. The central difference around w from the train hidden state, with coefficient η κ.
    r_ = finish_second_order(
        w, galpha, work_, double(eta) * kappa_,
        [&] { backward(rnn_segment_loss(model_, train, train_hidden, {}, gen), alpha_vars_); },
        "the architect's search gradient");
    return next;
}

}  // namespace cudarts
