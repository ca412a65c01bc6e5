// Training a recurrent cell from scratch with NT-ASGD (reference/darts.md 7.4; rnn/train.py),
// resumable, and the reference's test protocol.
//
// Per epoch, the hidden state starting at zero: at row i (from 0, while i < rows - 2) draw
// seq_len (a base of bptt with probability 0.95, else bptt / 2; then max(5, int(N(base, 5))),
// at most bptt + max_seq_len_delta), take one step on the train segment (NLL + TAR, clip) at the
// learning rate lr * seq_len / bptt, and advance i by seq_len. The step is SGD (weight decay
// coupled, no momentum) until the switch, then averaged SGD: the same update at the rate stored
// by the previous step (the scaling lags one batch), and a running average of the iterates from
// the second averaged step on.
//
// After the epoch: the validation loss (evaluate_text; the averaged weights once switched). When
// it improves on the best so far, the evaluation weights and the optimizer state become the
// run's best state (the reference's model.pt and optimizer.pt). Before the switch each loss is
// logged, and the run switches when more than `nonmono` are logged and this one exceeds the
// minimum of all but the last `nonmono`. A non-finite training loss rolls the run back to its
// best state and retries the epoch with fresh random draws, as the reference does; after
// `max_rollbacks` retries of one epoch the run stops (DivergedError).
//
// Every random choice is a function of the seed, the epoch and the retry, so the state saved at
// an epoch boundary (weights, the averaging state, the best state, the logged losses) resumes a
// run bitwise on the CPU.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/text_corpus.h"
#include "models/rnn/model.h"
#include "models/rnn/run_settings.h"
#include "models/run/loop.h"

namespace cudarts {

struct RnnTrainOptions {
    RnnModelConfig model;  // ntoken is taken from the corpus; the genotype is required
    int epochs = 8000;
    int batch_size = 64;
    int eval_batch_size = 10;
    int bptt = 35;
    int max_seq_len_delta = 20;
    float lr = 20.f, clip = 0.25f, wdecay = 8e-7f;
    float tar_beta = 1e-3f;
    int nonmono = 5;
    int max_rollbacks = 3;  // retries of one epoch after a non-finite loss
    uint64_t seed = 1267;

    // The reference's evaluation model: emsize = nhid = 850, dropoute 0.1, DARTS_V2.
    static RnnTrainOptions paper();
    void validate() const;  // SettingError naming the offending setting
    nlohmann::json to_json() const;
    static RnnTrainOptions from_json(const nlohmann::json& j, const std::string& what);
};

struct RnnTrainEpoch : RnnEpoch {
    bool averaged = false;           // validated with the averaged weights
    bool improved = false;           // became the best state
    bool switched = false;           // switched to averaged SGD after this epoch
    int rollbacks = 0;               // retries this epoch took
    nlohmann::json to_json() const;  // losses_json() and these
};

// torch.optim.ASGD with t0 = 0 and lambd = 0 over the weights of `sgd` (weight decay coupled):
// step k uses the rate eta stored by step k - 1 (the first step its own `lr`) and then stores
// `lr`; the average is the mean of the iterates after steps 2..k (step 1 and 2 copy them, step
// k > 2 adds (w - average) / (k - 1)).
struct AveragingState {
    bool on = false;
    int64_t steps = 0;
    double eta = 0;
    Tensor average;  // flat, like the weights; undefined before the first averaged step
};
void averaged_sgd_step(Sgd& sgd, const ParamStore& weights, AveragingState& st, double lr);

// The non-monotone trigger: true when more than `nonmono` losses are logged and `loss` exceeds the
// minimum of all but the last `nonmono` of them.
bool nt_asgd_switches(const std::vector<double>& logged, double loss, int nonmono);

class RnnTrainer {
public:
    RnnTrainer(RnnTrainOptions opt, const TextCorpus& corpus, Device dev);

    int epoch() const { return epoch_; }
    bool done() const { return epoch_ >= opt_.epochs; }
    int steps_per_epoch() const;  // of the next epoch's first try
    bool averaging() const { return avg_.on; }
    double best_loss() const { return best_loss_; }
    const std::vector<double>& logged_losses() const { return logged_; }

    // The switch the trigger makes, now (before an epoch).
    void start_averaging() {
        avg_ = AveragingState{};
        avg_.on = true;
    }
    RnnTrainEpoch run_epoch(const std::function<void(const StepInfo&)>& on_step = {});
    // The validation loss of the evaluation weights (the averaged ones once switched).
    double validate();
    // The best state's weights loaded into model(), for testing (the run cannot continue after).
    void use_best_weights();

    // Checkpoint: the best state's evaluation weights under the reference's names (what the
    // reference's model.pt holds, so PyTorch and `cudarts test` read the run's model), and the
    // training state beside them: the current weights, the averaging state of both, the logged
    // losses, counters and options.
    void save(const std::string& path, const std::map<std::string, std::string>& extra = {}) const;
    std::map<std::string, std::string> load(const std::string& path);

    RnnModel& model() { return model_; }
    const RnnTrainOptions& options() const { return opt_; }

    // The step-by-step test hook: a training loss of NaN at this (epoch, step), once.
    void inject_nan_at(int epoch, int step) { nan_at_ = {epoch, step}; }

private:
    struct Best {
        Tensor weights;  // flat evaluation weights
        AveragingState averaging;
        int epoch = -1;
    };

    std::vector<int64_t> seq_lens(int epoch, int retry) const;
    // The weights validation and the best state use: the average once it exists, else the live
    // flat buffer.
    const Tensor& evaluation_weights() const;
    double train_once(int retry, const std::function<void(const StepInfo&)>& on_step);
    void roll_back();

    RnnTrainOptions opt_;
    Device dev_;
    Tensor train_, valid_;  // batchified on dev_
    RnnModel model_;
    Sgd sgd_;
    AveragingState avg_;
    Best best_;
    double best_loss_ = 1e8;  // the reference's stored_loss
    std::vector<double> logged_;
    int epoch_ = 0;
    std::pair<int, int> nan_at_{-1, -1};
};

// The reference's test.py protocol: batch 1, segments of bptt with the hidden state carried, the
// loss weighted by segment length and divided by the rows (evaluate_text over test batchified at
// 1); returns the mean NLL.
double test_text(RnnModel& model, const std::vector<int32_t>& tokens, const std::string& what,
                 int bptt = 35);

}  // namespace cudarts
