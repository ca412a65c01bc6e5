// The recurrent DARTS language model (reference/darts.md 7.1 and 7.2; rnn/model.py and
// rnn/model_search.py): an embedding, the DARTS cell over the time steps of a segment, and a
// decoder whose weight is the embedding's (tied).
//
// Forward over a segment of T steps and B sequences (input ids (T, B), time-major):
//   1. embedding dropout (dropoute, training only): each vocabulary row zeroed with probability
//      dropoute, the kept rows scaled by 1/(1 - dropoute), for the lookup only;
//   2. locked dropout (dropouti) on the embedded inputs: one B x ninp mask for every step;
//   3. the cell at each step t, from h_{t-1} (the segment's `hidden` at t = 0):
//        [c0 | h0] = [x_t * x_mask, h_{t-1} * h_mask] W0,  s0 = h_{t-1} + sigmoid(c0) *
//        (tanh(h0) - h_{t-1}), and per node a highway update of an earlier state s:
//        [c | h] = (s * h_mask) W_i,  s_new = s + sigmoid(c) * (act(h) - s).
//      Evaluation cell: node i has the genotype's (act, pred). Search cell: node i mixes every
//      earlier state j with softmax(alpha[i(i+1)/2 + j]) over none, tanh, relu, sigmoid, identity
//      (one W_i shared by node i's edges), and one BatchNorm1d(nhid, affine=False) normalises s0
//      and every node. h_t = the mean of the concat states (search: every node, s0 excluded).
//      x_mask (keep 1 - dropoutx) and h_mask (keep 1 - dropouth) are drawn once per forward;
//   4. locked dropout (dropout) on the outputs; 5. decoder (tied weight, bias) and log-softmax.
// Eval mode draws no masks and the batch norm uses its running statistics.
//
// Parameters are U(-0.04, 0.04) (decoder.bias 0; α 1e-3 N(0, 1) after them, from the same
// stream) under the reference's names: encoder.weight, rnns.0._W0, rnns.0._Ws.<i>, decoder.bias,
// and the buffers rnns.0.bn.running_mean/var in search. decoder.weight is encoder.weight: it is
// counted once (4,810,000 weights for the search model at vocabulary 10,000, 22,960,000 for the
// evaluation model at emsize 850).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "engine/rng.h"
#include "models/nn/layers.h"
#include "models/rnn/genotype.h"

namespace cudarts {

struct RnnModelConfig {
    int64_t ntoken = 10000;  // vocabulary, taken from the corpus
    int emsize = 300;        // ninp; the reference requires emsize == nhid
    int nhid = 300;
    int steps = 8;  // search cell nodes (an evaluation cell has its genotype's)
    float dropout = 0.75f, dropouth = 0.25f, dropoutx = 0.75f, dropouti = 0.2f, dropoute = 0.f;
    std::optional<RecurrentGenotype> genotype;  // the evaluation cell; none: the search cell

    bool search() const { return !genotype.has_value(); }
    // SettingError naming the offending setting (ntoken 2..10^7, emsize == nhid in 1..4096,
    // steps 1..kRnnMaxSteps, dropouts in [0, 1)).
    void validate() const;
};

// The model's settings in a field table (models/run/loop.h JsonWriter/JsonReader), shared by the
// search and training options; the genotype is the training options' own field.
template <class Config, class Visitor>
void rnn_model_fields(Config& c, const Visitor& f) {
    f("ntoken", c.ntoken);
    f("emsize", c.emsize);
    f("nhid", c.nhid);
    f("steps", c.steps);
    f("dropout", c.dropout);
    f("dropouth", c.dropouth);
    f("dropoutx", c.dropoutx);
    f("dropouti", c.dropouti);
    f("dropoute", c.dropoute);
}

class RnnModel : public ModelStores {
public:
    RnnModel(RnnModelConfig cfg, Device dev, uint64_t seed);
    ~RnnModel();

    struct Output {
        Var log_probs;   // (T * B, ntoken), time-major
        Var raw_output;  // (T * B, nhid): the cell's outputs before the output dropout
        Tensor hidden;   // (B, nhid): h_T, detached, the next segment's starting state
    };
    // `input` int32 (T, B) on the model's device, `hidden` (B, nhid). Masks come from `gen`.
    Output forward(const Tensor& input, const Tensor& hidden, ForwardMode mode, Generator& gen);
    Tensor init_hidden(int64_t batch) const;  // zeros (B, nhid)

    const RnnModelConfig& config() const { return cfg_; }
    ParamStore& alphas() { return alphas_; }  // "alphas" (rnn_edges_for(steps), 5) in search
    const ParamStore& alphas() const { return alphas_; }
    // The genotype the search cell's α give now (derive_recurrent_genotype); Error in evaluation.
    RecurrentGenotype genotype() const;

private:
    struct Cell;
    RnnModelConfig cfg_;
    ParamStore alphas_;
    int encoder_ = 0, decoder_bias_ = 0;
    std::unique_ptr<Cell> cell_;
};

// The training loss: mean NLL of the targets (T * B, int32) plus TAR, beta times the mean of
// (h_{t+1} - h_t)^2 over the raw outputs of consecutive steps (none for a one-step segment).
Var rnn_training_loss(const RnnModel::Output& out, const Tensor& targets, int64_t batch,
                      float tar_beta = 1e-3f);

}  // namespace cudarts
