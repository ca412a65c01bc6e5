// Training a recurrent cell with NT-ASGD; see models/rnn/train.h and reference/darts.md 7.4.
#include "models/rnn/train.h"

#include <algorithm>
#include <cmath>

#include "data/transforms.h"
#include "engine/json.h"
#include "kernels/check.h"
#include "models/nn/optim.h"
#include "models/rnn/run_settings.h"
#include "models/rnn/search.h"

namespace cudarts {

namespace {

constexpr const char* kFormat = "cudarts-rnn-train-checkpoint-1";

// Independent sub-seeds (data/transforms.h mix64) of the random streams of one try of an epoch.
enum SeedStream : uint64_t { kSeqLens = 11, kMasks = 12 };

uint64_t stream_seed(uint64_t seed, SeedStream s, int retry) {
    return mix64(mix64(seed, s), uint64_t(retry));
}

// The options' field table (models/run/loop.h fields_to_json), each key once.
struct RnnTrainFields {
    template <class Options, class Visitor>
    void operator()(Options& o, const Visitor& f) const {
        rnn_run_fields(o, f);
        f("genotype", MappedField<std::optional<RecurrentGenotype>, std::string>{
                          o.model.genotype,
                          [](const std::optional<RecurrentGenotype>& g) {
                              return g ? to_darts_string(*g) : std::string();
                          },
                          [](const std::string& s, const std::string& what) {
                              return std::optional(parse_recurrent_genotype(s, what));
                          }});
        f("max_seq_len_delta", o.max_seq_len_delta);
        f("nonmono", o.nonmono);
        f("max_rollbacks", o.max_rollbacks);
    }
};

// A copy of `a` that owns its average: the live one is updated in place by every averaged step.
AveragingState snapshot(AveragingState a) {
    if (a.average.defined()) a.average = a.average.clone();
    return a;
}

RnnTrainOptions prepared(RnnTrainOptions opt, const TextCorpus& corpus) {
    opt.model.ntoken = corpus.vocab_size();
    opt.validate();
    return opt;
}

}  // namespace

RnnTrainOptions RnnTrainOptions::paper() {
    RnnTrainOptions o;
    o.model.emsize = o.model.nhid = 850;
    o.model.dropoute = 0.1f;
    o.model.genotype = *builtin_recurrent_genotype("DARTS_V2");
    return o;
}

void RnnTrainOptions::validate() const {
    if (!model.genotype) throw SettingError("genotype", "a recurrent genotype is required");
    require_rnn_run(*this);
    require(max_seq_len_delta >= 0 && max_seq_len_delta <= 1000, "max_seq_len_delta", "0..1000",
            max_seq_len_delta);
    require(nonmono >= 0, "nonmono", ">= 0", nonmono);
    require(max_rollbacks >= 0, "max_rollbacks", ">= 0", max_rollbacks);
}

nlohmann::json RnnTrainOptions::to_json() const { return fields_to_json(*this, RnnTrainFields{}); }

RnnTrainOptions RnnTrainOptions::from_json(const nlohmann::json& j, const std::string& what) {
    return fields_from_json<RnnTrainOptions>(j, what, RnnTrainFields{});
}

nlohmann::json RnnTrainEpoch::to_json() const {
    nlohmann::json j = losses_json();
    j["averaged"] = averaged;
    j["improved"] = improved;
    j["switched"] = switched;
    j["rollbacks"] = rollbacks;
    return j;
}

RnnTrainer::RnnTrainer(RnnTrainOptions opt, const TextCorpus& corpus, Device dev)
    : opt_(prepared(std::move(opt), corpus)),
      dev_(dev),
      train_(training_rows(corpus, opt_.batch_size, dev)),
      valid_(batchify(corpus.valid, opt_.eval_batch_size, corpus.valid_file).to(dev)),
      model_(opt_.model, dev, opt_.seed),
      sgd_(model_.weights(), {.lr = opt_.lr, .momentum = 0.f, .weight_decay = opt_.wdecay}) {}

std::vector<int64_t> RnnTrainer::seq_lens(int epoch, int retry) const {
    Generator gen(stream_seed(opt_.seed, kSeqLens, retry), uint64_t(epoch) << 32);
    return draw_epoch_seq_lens(gen, train_.size(0), opt_.bptt, SeqLenRule::kTrain,
                               opt_.max_seq_len_delta);
}

int RnnTrainer::steps_per_epoch() const { return int(seq_lens(epoch_, 0).size()); }

void averaged_sgd_step(Sgd& sgd, const ParamStore& weights, AveragingState& st, double lr) {
    ++st.steps;
    sgd.set_lr(float(st.steps == 1 ? lr : st.eta));
    sgd.step();
    const Tensor& w = weights.flat_values();
    if (st.steps <= 2) {
        st.average = w.clone();
    } else {
        const Tensor d = w.clone();
        axpy(d, -1.f, st.average);
        axpy(st.average, float(1.0 / double(st.steps - 1)), d);
    }
    st.eta = lr;
}

bool nt_asgd_switches(const std::vector<double>& logged, double loss, int nonmono) {
    const size_t k = size_t(std::max(0, nonmono));
    return logged.size() > k && loss > *std::min_element(logged.begin(), logged.end() - long(k));
}

double RnnTrainer::train_once(int retry, const std::function<void(const StepInfo&)>& on_step) {
    Generator masks(stream_seed(opt_.seed, kMasks, retry), uint64_t(epoch_) << 40);
    Tensor hidden = model_.init_hidden(opt_.batch_size);
    auto step = [&](const RnnStep& st) {
        const bool poison = nan_at_ == std::pair{epoch_, st.index};
        if (poison) nan_at_ = {-1, -1};  // once
        const double raw = rnn_weight_gradient(model_, st, hidden, masks, opt_.batch_size,
                                               opt_.tar_beta, opt_.clip, poison);
        if (avg_.on) {
            averaged_sgd_step(sgd_, model_.weights(), avg_, st.lr);
        } else {
            sgd_.set_lr(float(st.lr));
            sgd_.step();
        }
        return raw;
    };
    const double loss =
        walk_rnn_epoch(train_, seq_lens(epoch_, retry), opt_.lr, opt_.bptt, epoch_, step, on_step);
    sgd_.set_lr(opt_.lr);
    return loss;
}

void RnnTrainer::roll_back() {
    // The reference reloads model.pt (the evaluation weights saved at the best epoch, averaged
    // ones once switched) and optimizer.pt (the averaging state of that moment).
    CUDARTS_CHECK(best_.weights.defined(), "RnnTrainer: no best state to roll back to");
    model_.weights().flat_values().copy_(best_.weights);
    avg_ = snapshot(best_.averaging);
}

RnnTrainEpoch RnnTrainer::run_epoch(const std::function<void(const StepInfo&)>& on_step) {
    const auto t0 = begin_epoch(done(), "RnnTrainer::run_epoch", opt_.epochs);
    RnnTrainEpoch m;
    m.epoch = epoch_;
    m.lr = opt_.lr;
    for (int retry = 0;; ++retry) {
        try {
            m.train_loss = train_once(retry, on_step);
            break;
        } catch (const DivergedError& e) {
            if (!best_.weights.defined() || retry >= opt_.max_rollbacks)
                throw DivergedError(std::string(e.what()) +
                                    (best_.weights.defined()
                                         ? " after " + std::to_string(retry) + " rollbacks"
                                         : " (no validated state to roll back to)"));
            sgd_.set_lr(opt_.lr);
            roll_back();
            m.rollbacks = retry + 1;
        }
    }
    m.averaged = avg_.on;
    m.valid_loss = validate();
    require_finite(m.valid_loss, "the validation loss", {epoch_, -1, m.lr});
    if (m.valid_loss < best_loss_) {
        best_loss_ = m.valid_loss;
        best_.weights = evaluation_weights().clone();
        best_.averaging = snapshot(avg_);
        best_.epoch = epoch_;
        m.improved = true;
    }
    if (!avg_.on) {
        if (nt_asgd_switches(logged_, m.valid_loss, opt_.nonmono)) {
            start_averaging();
            m.switched = true;
        }
        logged_.push_back(m.valid_loss);
    }
    ++epoch_;
    m.seconds = epoch_seconds(t0);
    return m;
}

const Tensor& RnnTrainer::evaluation_weights() const {
    return avg_.on && avg_.average.defined() ? avg_.average : model_.weights().flat_values();
}

double RnnTrainer::validate() {
    const Tensor& w = model_.weights().flat_values();
    const Tensor& eval = evaluation_weights();
    if (&eval == &w) return evaluate_text(model_, valid_, opt_.bptt);
    const Tensor current = w.clone();
    w.copy_(eval);
    const double loss = evaluate_text(model_, valid_, opt_.bptt);
    w.copy_(current);
    return loss;
}

void RnnTrainer::use_best_weights() {
    if (best_.weights.defined()) model_.weights().flat_values().copy_(best_.weights);
}

void RnnTrainer::save(const std::string& path,
                      const std::map<std::string, std::string>& extra) const {
    CUDARTS_CHECK(best_.weights.defined(), "RnnTrainer::save before the first validation");
    // The reference's names hold the best evaluation weights.
    CheckpointWriter out;
    add_rnn_weights(out, model_, best_.weights);
    out.add("train.weights", model_.weights().flat_values());
    std::map<std::string, std::string> meta = checkpoint_metadata(
        extra, kFormat, epoch_, opt_.to_json(), to_darts_string(*opt_.model.genotype));
    nlohmann::json state = {
        {"best_loss", best_loss_}, {"best_epoch", best_.epoch}, {"logged_losses", logged_}};
    for (const auto& [key, a] : {std::pair{"train_asgd", &avg_}, {"best_asgd", &best_.averaging}}) {
        if (a->average.defined()) out.add(std::string(key) + ".ax", a->average);
        state[key] = {{"on", a->on}, {"steps", a->steps}, {"eta", a->eta}};
    }
    meta["state"] = state.dump();
    out.write(path, meta);
}

std::map<std::string, std::string> RnnTrainer::load(const std::string& path) {
    const SafetensorsFile f =
        read_run_checkpoint(path, kFormat, opt_, {"ntoken", "emsize", "nhid", "genotype"});
    const nlohmann::json state = checkpoint_json(f, "state");
    const std::string what = metadata_name(path, "state");
    auto member = [&](const nlohmann::json& o, const char* key) -> const nlohmann::json& {
        if (!o.is_object() || !o.contains(key))
            throw InputError(what + ": no '" + key + "' (expected a cudarts checkpoint)");
        return o[key];
    };
    auto averaging = [&](const char* key) {
        const nlohmann::json& j = member(state, key);
        AveragingState r;
        r.on = json_member<bool>(member(j, "on"), what, "on");
        r.steps = json_member<int64_t>(member(j, "steps"), what, "steps");
        r.eta = json_member<double>(member(j, "eta"), what, "eta");
        const std::string name = std::string(key) + ".ax";
        if (f.tensors.count(name)) {
            r.average = Tensor::empty({model_.weights().total()}, dev_);
            restore_tensor(f, name, r.average);
        }
        return r;
    };
    const Tensor& w = model_.weights().flat_values();
    restore_rnn_weights(f, model_);
    best_.weights = w.clone();
    restore_tensor(f, "train.weights", w);
    avg_ = averaging("train_asgd");
    best_.averaging = averaging("best_asgd");
    best_loss_ = json_member<double>(member(state, "best_loss"), what, "best_loss");
    best_.epoch = json_member<int>(member(state, "best_epoch"), what, "best_epoch");
    const nlohmann::json& logged = member(state, "logged_losses");
    if (!logged.is_array()) wrong_json_type(what, "logged_losses", logged, "a list of numbers");
    logged_.clear();
    for (const nlohmann::json& v : logged)
        logged_.push_back(json_member<double>(v, what, "logged_losses"));
    epoch_ = checkpoint_epoch(f, path, opt_.epochs);
    return f.metadata;
}

double test_text(RnnModel& model, const std::vector<int32_t>& tokens, const std::string& what,
                 int bptt) {
    return evaluate_text(model, batchify(tokens, 1, what).to(model.device()), bptt);
}

}  // namespace cudarts
