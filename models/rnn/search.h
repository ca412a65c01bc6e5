// The recurrent DARTS search (reference/darts.md 7.3-7.5; rnn/train_search.py), resumable.
//
// Data: the corpus's train stream batchified at batch_size trains the weights; its valid stream
// batchified at batch_size is the architect's search data, and batchified at eval_batch_size the
// validation set. Per epoch, with both hidden states starting at zero: at row i (from 0, while
// i < rows - 2) draw seq_len (bptt with probability 0.95, else int(bptt / 2)), scale the SGD
// lr by seq_len / bptt for this step, take the architect's α step on the search segment at row
// i mod (search rows - 1) (its hidden state carried), then the weight step on the train segment
// (NLL + TAR, clip, SGD without momentum) from the carried train hidden state, and advance i by
// seq_len. After the epoch: validation perplexity in eval mode (segments of bptt, the hidden
// carried, the loss weighted by segment length and divided by the rows) and the genotype.
//
// Every random choice (the seq_len draws, every dropout mask) is a function of the seed and the
// epoch, so the state saved at an epoch boundary (weights, buffers, α, Adam, counters) resumes a
// run bitwise on the CPU.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/text_corpus.h"
#include "models/rnn/architect.h"
#include "models/rnn/run_settings.h"
#include "models/run/loop.h"

namespace cudarts {

struct RnnSearchOptions {
    RnnModelConfig model;  // ntoken is taken from the corpus; no genotype
    int epochs = 50;
    int batch_size = 256;
    int eval_batch_size = 10;
    int bptt = 35;
    float lr = 20.f, clip = 0.25f, wdecay = 5e-7f;
    float alpha_lr = 3e-3f, alpha_weight_decay = 1e-3f;
    float tar_beta = 1e-3f;  // TAR; the architect's losses are plain NLL
    bool second_order = false;
    uint64_t seed = 3;

    void validate() const;  // SettingError naming the offending setting
    nlohmann::json to_json() const;
    static RnnSearchOptions from_json(const nlohmann::json& j, const std::string& what);
};

struct RnnEpochMetrics : RnnEpoch {
    std::vector<float> softmax_alphas;  // edges x 5, row-major
    RecurrentGenotype genotype;
    nlohmann::json to_json() const;  // losses_json() and these
};

// The reference's evaluate(): mean NLL over `source` (rows x batch) in eval mode, segments of
// `bptt` from row 0 with the hidden state carried, each weighted by its length, divided by rows.
double evaluate_text(RnnModel& model, const Tensor& source, int bptt);

class RnnSearch {
public:
    RnnSearch(RnnSearchOptions opt, const TextCorpus& corpus, Device dev);

    int epoch() const { return epoch_; }  // epochs completed
    bool done() const { return epoch_ >= opt_.epochs; }
    int steps_per_epoch() const;  // of the next epoch (its seq_len draws decide)

    RnnEpochMetrics run_epoch(const std::function<void(const StepInfo&)>& on_step = {});
    double validate();  // evaluate_text on the validation set
    RecurrentGenotype genotype() const { return model_.genotype(); }
    std::vector<float> softmax_alphas() const;

    // Checkpoint: weights under the reference's names (decoder.weight as a copy of the tied
    // encoder.weight), batch-norm buffers, alphas, Adam state, counters and options.
    void save(const std::string& path, const std::map<std::string, std::string>& extra = {}) const;
    std::map<std::string, std::string> load(const std::string& path);

    RnnModel& model() { return model_; }
    RnnArchitect& architect() { return architect_; }
    const RnnSearchOptions& options() const { return opt_; }
    int64_t train_tokens() const { return train_.numel(); }

private:
    std::vector<int64_t> seq_lens(int epoch) const;

    RnnSearchOptions opt_;
    Device dev_;
    Tensor train_, search_, valid_;  // batchified on dev_
    RnnModel model_;
    Sgd sgd_;
    RnnArchitect architect_;
    int epoch_ = 0;
};

// One step of a recurrent epoch, as walk_rnn_epoch hands it to the loop that takes it.
struct RnnStep {
    int index;          // 0-based
    int64_t row;        // where the training segment starts
    TextSegment train;  // the step's seq_len tokens from `row`
    double lr;          // the base lr scaled by seq_len / bptt
    StepPlace at;       // for the divergence checks
};

// The walk both recurrent loops take through an epoch of the training rows `rows`: step s trains
// on the lens[s] tokens from row i (i advancing by them) at lr * seq_len / bptt. `step` takes it
// and returns its NLL; `on_step` (optional) then gets that and the running perplexity. Returns
// the mean NLL of the steps.
double walk_rnn_epoch(const Tensor& rows, const std::vector<int64_t>& lens, double lr, int bptt,
                      int epoch, const std::function<double(const RnnStep&)>& step,
                      const std::function<void(const StepInfo&)>& on_step);

// The weight gradient of a step as both loops take it: the forward on its segment from `hidden`
// (replaced by h_T) with dropout masks from `masks`, the NLL (DivergedError at the step unless
// finite; `poison` makes it NaN, the training's test hook), then the backward of NLL + TAR and the
// clip to `clip` (a non-finite norm stops the run too). Returns the NLL.
double rnn_weight_gradient(RnnModel& model, const RnnStep& step, Tensor& hidden, Generator& masks,
                           int batch_size, float tar_beta, float clip, bool poison = false);

// Checkpoint helpers both recurrent loops use: the weights with decoder.weight beside them, and
// their restore (encoder.weight, or decoder.weight when a PyTorch export kept only that name).
// `weights` is a flat buffer in the layout of model.weights(): its own values or a saved copy.
void add_rnn_weights(CheckpointWriter& w, const RnnModel& model, const Tensor& weights);
void restore_rnn_weights(const SafetensorsFile& f, RnnModel& model);

}  // namespace cudarts
