// What the recurrent search's and training's options share (models/rnn/search.h, train.h): the
// model, the epochs, the batching of the text and the weights' SGD. Each options struct has these
// members under these names, with its own defaults (the reference's train_search.py and train.py).
// Also the part of an epoch's report that both loops fill.
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>

#include "models/nn/setting.h"
#include "models/rnn/model.h"

namespace cudarts {

// What both recurrent loops report of an epoch (RnnEpochMetrics and RnnTrainEpoch add their own).
struct RnnEpoch {
    int epoch = 0;  // 0-based
    double lr = 0;
    double train_loss = 0, valid_loss = 0;  // mean NLL (perplexity = exp)
    double seconds = 0;
    // These as JSON, with train_ppl and valid_ppl.
    nlohmann::json losses_json() const {
        return {{"epoch", epoch},           {"lr", lr},
                {"train_loss", train_loss}, {"train_ppl", std::exp(train_loss)},
                {"valid_loss", valid_loss}, {"valid_ppl", std::exp(valid_loss)},
                {"seconds", seconds}};
    }
};

// The shared keys of the options' field table (models/run/loop.h fields_to_json).
template <class Options, class Visitor>
void rnn_run_fields(Options& o, const Visitor& f) {
    rnn_model_fields(o.model, f);
    f("epochs", o.epochs);
    f("batch_size", o.batch_size);
    f("eval_batch_size", o.eval_batch_size);
    f("bptt", o.bptt);
    f("lr", o.lr);
    f("clip", o.clip);
    f("wdecay", o.wdecay);
    f("tar_beta", o.tar_beta);
    f("seed", o.seed);
}

// SettingError naming the first shared setting out of range (the model's included).
template <class Options>
void require_rnn_run(const Options& o) {
    require(o.epochs >= 1, "epochs", "at least 1", o.epochs);
    require(o.batch_size >= 1, "batch_size", "at least 1", o.batch_size);
    require(o.eval_batch_size >= 1, "eval_batch_size", "at least 1", o.eval_batch_size);
    require(o.bptt >= 2 && o.bptt <= 1000, "bptt", "2..1000", o.bptt);
    require(o.lr > 0, "lr", "> 0", o.lr);
    require(o.clip > 0, "clip", "> 0", o.clip);
    require(o.wdecay >= 0, "wdecay", ">= 0", o.wdecay);
    require(o.tar_beta >= 0, "tar_beta", ">= 0", o.tar_beta);
    o.model.validate();
}

}  // namespace cudarts
