// The recurrent DARTS search; see models/rnn/search.h and reference/darts.md 7.3-7.5.
#include "models/rnn/search.h"

#include <algorithm>
#include <cmath>

#include "data/transforms.h"
#include "engine/json.h"
#include "kernels/check.h"
#include "models/rnn/run_settings.h"

namespace cudarts {

namespace {

constexpr const char* kFormat = "cudarts-rnn-search-checkpoint-1";

// Independent sub-seeds (data/transforms.h mix64) of the two random streams of an epoch.
enum SeedStream : uint64_t { kSeqLens = 11, kMasks = 12 };

// The options' field table (models/run/loop.h fields_to_json), each key once.
struct RnnSearchFields {
    template <class Options, class Visitor>
    void operator()(Options& o, const Visitor& f) const {
        rnn_run_fields(o, f);
        f("alpha_lr", o.alpha_lr);
        f("alpha_weight_decay", o.alpha_weight_decay);
        f("order",
          MappedField<bool, int>{o.second_order, [](const bool& second) { return second ? 2 : 1; },
                                 [](const int& order, const std::string&) { return order == 2; }});
    }
};

RnnSearchOptions prepared(RnnSearchOptions opt, const TextCorpus& corpus) {
    opt.model.ntoken = corpus.vocab_size();
    opt.model.genotype.reset();
    opt.validate();
    return opt;
}

}  // namespace

void RnnSearchOptions::validate() const {
    require_rnn_run(*this);
    require(alpha_lr >= 0, "alpha_lr", ">= 0", alpha_lr);
    require(alpha_weight_decay >= 0, "alpha_weight_decay", ">= 0", alpha_weight_decay);
}

nlohmann::json RnnSearchOptions::to_json() const {
    return fields_to_json(*this, RnnSearchFields{});
}

RnnSearchOptions RnnSearchOptions::from_json(const nlohmann::json& j, const std::string& what) {
    return fields_from_json<RnnSearchOptions>(j, what, RnnSearchFields{});
}

nlohmann::json RnnEpochMetrics::to_json() const {
    nlohmann::json j = losses_json();
    j["softmax_alphas"] = softmax_alphas;
    j["genotype"] = to_darts_string(genotype);
    return j;
}

double evaluate_text(RnnModel& model, const Tensor& source, int bptt) {
    NoGradGuard no_grad;
    const int64_t rows = source.size(0);
    Tensor hidden = model.init_hidden(source.size(1));
    Generator unused(0);
    double total = 0;
    for (int64_t i = 0; i < rows - 1; i += bptt) {
        const TextSegment seg = get_batch(source, i, bptt);
        const RnnModel::Output out = model.forward(seg.input, hidden, {.training = false}, unused);
        total += double(nll_loss(out.log_probs, seg.target).value().item()) * double(seg.len);
        hidden = out.hidden;
    }
    return total / double(rows);
}

double walk_rnn_epoch(const Tensor& rows, const std::vector<int64_t>& lens, double lr, int bptt,
                      int epoch, const std::function<double(const RnnStep&)>& step,
                      const std::function<void(const StepInfo&)>& on_step) {
    const int steps = int(lens.size());
    double loss_sum = 0;
    int64_t i = 0;
    for (int s = 0; s < steps; ++s) {
        const int64_t seq_len = lens[size_t(s)];
        const double step_lr = lr * double(seq_len) / double(bptt);
        const double raw =
            step({s, i, get_batch(rows, i, seq_len), step_lr, StepPlace{epoch, s, step_lr}});
        loss_sum += raw;
        if (on_step) on_step({epoch, s, steps, raw, std::exp(loss_sum / double(s + 1))});
        i += seq_len;
    }
    return loss_sum / double(std::max(1, steps));
}

double rnn_weight_gradient(RnnModel& model, const RnnStep& step, Tensor& hidden, Generator& masks,
                           int batch_size, float tar_beta, float clip, bool poison) {
    RnnModel::Output out = model.forward(step.train.input, hidden, {}, masks);
    hidden = out.hidden;
    double raw = nll_loss(out.log_probs, step.train.target).value().item();
    if (poison) raw = std::nan("");
    require_finite(raw, "loss", step.at);
    backward(rnn_training_loss(out, step.train.target, batch_size, tar_beta),
             model.weights().vars());
    require_finite(clip_grad_norm(model.weights(), clip), "the gradient norm", step.at);
    return raw;
}

void add_rnn_weights(CheckpointWriter& w, const RnnModel& model, const Tensor& weights) {
    const ParamStore& s = model.weights();
    w.add_store(s, weights);
    const Shape& encoder = s.get("encoder.weight").shape();
    int64_t at = 0;  // where encoder.weight starts in the flat buffer
    for (int i = 0; s.names()[size_t(i)] != "encoder.weight"; ++i) at += s[i].numel();
    w.add_shaped("decoder.weight", weights.view(at, encoder));
    w.add_store(model.buffers());
}

void restore_rnn_weights(const SafetensorsFile& f, RnnModel& model) {
    const ParamStore& s = model.weights();
    for (int i = 0; i < s.size(); ++i) {
        const std::string& name = s.names()[size_t(i)];
        const bool tied_alias =
            name == "encoder.weight" && !f.tensors.count(name) && f.tensors.count("decoder.weight");
        restore_tensor(f, tied_alias ? "decoder.weight" : name, s[i].value());
    }
    restore_store(f, model.buffers());
}

RnnSearch::RnnSearch(RnnSearchOptions opt, const TextCorpus& corpus, Device dev)
    : opt_(prepared(std::move(opt), corpus)),
      dev_(dev),
      train_(training_rows(corpus, opt_.batch_size, dev)),
      search_(batchify(corpus.valid, opt_.batch_size, corpus.valid_file).to(dev)),
      valid_(batchify(corpus.valid, opt_.eval_batch_size, corpus.valid_file).to(dev)),
      model_(opt_.model, dev, opt_.seed),
      sgd_(model_.weights(), {.lr = opt_.lr, .momentum = 0.f, .weight_decay = opt_.wdecay}),
      architect_(model_, {.second_order = opt_.second_order,
                          .adam = {.lr = opt_.alpha_lr,
                                   .beta1 = 0.9f,
                                   .beta2 = 0.999f,
                                   .eps = 1e-8f,
                                   .weight_decay = opt_.alpha_weight_decay},
                          .w_weight_decay = opt_.wdecay,
                          .clip = opt_.clip}) {}

std::vector<int64_t> RnnSearch::seq_lens(int epoch) const {
    Generator gen(mix64(opt_.seed, kSeqLens), uint64_t(epoch) << 32);
    return draw_epoch_seq_lens(gen, train_.size(0), opt_.bptt, SeqLenRule::kSearch);
}

int RnnSearch::steps_per_epoch() const { return int(seq_lens(epoch_).size()); }

RnnEpochMetrics RnnSearch::run_epoch(const std::function<void(const StepInfo&)>& on_step) {
    const auto t0 = begin_epoch(done(), "RnnSearch::run_epoch", opt_.epochs);
    RnnEpochMetrics m;
    m.epoch = epoch_;
    m.lr = opt_.lr;
    Generator masks(mix64(opt_.seed, kMasks), uint64_t(epoch_) << 40);
    Tensor hidden = model_.init_hidden(opt_.batch_size);
    Tensor search_hidden = model_.init_hidden(opt_.batch_size);
    auto step = [&](const RnnStep& st) {
        sgd_.set_lr(float(st.lr));
        const TextSegment search = get_batch(search_, st.row % (search_.size(0) - 1), opt_.bptt);
        try {
            search_hidden =
                architect_.step(st.train, hidden, search, search_hidden, float(st.lr), masks);
        } catch (const DivergedError& e) {
            throw DivergedError(std::string(e.what()) + " at " + st.at.str());
        }
        require_finite(architect_.last_search_loss(), "the architect's search loss", st.at);
        require_finite(model_.alphas()[0].value(), "alphas", st.at);
        const double raw = rnn_weight_gradient(model_, st, hidden, masks, opt_.batch_size,
                                               opt_.tar_beta, opt_.clip);
        sgd_.step();
        return raw;
    };
    m.train_loss =
        walk_rnn_epoch(train_, seq_lens(epoch_), opt_.lr, opt_.bptt, epoch_, step, on_step);
    sgd_.set_lr(opt_.lr);
    m.valid_loss = validate();
    require_finite(m.valid_loss, "the validation loss", {epoch_, -1, m.lr});
    ++epoch_;
    m.softmax_alphas = softmax_alphas();
    m.genotype = genotype();
    m.seconds = epoch_seconds(t0);
    return m;
}

double RnnSearch::validate() { return evaluate_text(model_, valid_, opt_.bptt); }

std::vector<float> RnnSearch::softmax_alphas() const {
    const Var& a = model_.alphas()[0];
    return softmax_rows(a.value().to_vector(), a.size(1));
}

void RnnSearch::save(const std::string& path,
                     const std::map<std::string, std::string>& extra) const {
    CheckpointWriter w;
    add_rnn_weights(w, model_, model_.weights().flat_values());
    w.add_store(model_.alphas());
    std::map<std::string, std::string> metadata =
        checkpoint_metadata(extra, kFormat, epoch_, opt_.to_json(), to_darts_string(genotype()));
    add_adam(w, metadata, architect_.optimizer());
    w.write(path, metadata);
}

std::map<std::string, std::string> RnnSearch::load(const std::string& path) {
    const SafetensorsFile f =
        read_run_checkpoint(path, kFormat, opt_, {"ntoken", "emsize", "nhid", "steps"});
    restore_rnn_weights(f, model_);
    restore_store(f, model_.alphas());
    restore_adam(f, architect_.optimizer(), model_.alphas(), dev_);
    epoch_ = checkpoint_epoch(f, path, opt_.epochs);
    return f.metadata;
}

}  // namespace cudarts
