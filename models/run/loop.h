// The epoch-loop core that the search (models/run/search.h) and the training loop
// (models/run/train.h) share: the cosine schedule, the step count, the running training loss and
// accuracy of an epoch, the evaluation over a list of batches, the checkpoint parts both write
// (format, epoch, the weight optimizer's momentum buffer), and the field tables that write and
// read an options struct as JSON (each key named once).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "engine/safetensors.h"
#include "models/nn/checkpoint.h"
#include "models/nn/optim.h"

namespace cudarts {

// The cosine schedule of darts.md 0: lr_e = lr_min + (lr_0 - lr_min) (1 + cos(pi e / T)) / 2.
double cosine_lr(double lr0, double lr_min, int epoch, int epochs);

// softmax of each row of a (rows x cols, row-major), in double: the α a person reads.
std::vector<float> softmax_rows(const std::vector<float>& a, int64_t cols);

// Batches of `batch_size` (the last one smaller) in an epoch over `images` images.
int steps_for(int64_t images, int batch_size);

// The bracket of every loop's run_epoch: begin_epoch refuses an epoch after the last (`done`; an
// Error naming `who`, a caller's bug) and starts the clock from which epoch_seconds measures the
// epoch's `seconds`.
std::chrono::steady_clock::time_point begin_epoch(bool done, const char* who, int epochs);
double epoch_seconds(std::chrono::steady_clock::time_point start);

struct StepInfo {  // passed to the progress callback after every step
    int epoch, step, steps;
    double loss;  // this step's training loss
    double acc;   // the epoch's running figure: top-1 training accuracy, or perplexity (RNN)
};

// Where a run is, for the one line that reports its divergence: `epoch` and `step` are 0-based
// here and printed 1-based ("at epoch 1 step 4 (lr 1e+09)"); step -1 is the end-of-epoch
// evaluation ("at epoch 1 evaluation (lr 0.025)").
struct StepPlace {
    int epoch, step;
    double lr;
    std::string str() const;
};

// Divergence checks (DivergedError, exit code 3): "<what> is NaN at <place>" unless `value` is
// finite; for a tensor, the first non-finite element is named by its row and column; for a
// parameter store, by its parameter's name and its row and column, from one download of the
// store's flat buffer (one host synchronisation for all its parameters).
void require_finite(double value, const std::string& what, const StepPlace& at);
void require_finite(const Tensor& t, const std::string& name, const StepPlace& at);
void require_finite(const ParamStore& store, const StepPlace& at);

// Sums over an epoch's batches: the batch-size-weighted loss and the correct top-1 predictions.
class EpochAccumulator {
public:
    // Adds one batch (its mean loss, its logits against `labels`); returns the batch's loss.
    double add(const Var& loss, const Var& logits, const Tensor& labels);
    double loss() const { return loss_sum_ / double(std::max<int64_t>(1, seen_)); }
    double acc() const { return double(correct_) / double(std::max<int64_t>(1, seen_)); }

private:
    double loss_sum_ = 0;
    int64_t seen_ = 0, correct_ = 0;
};

// Mean cross-entropy and top-1 accuracy over the batches `requests` of `set`, loaded with
// `augment` (seeded by `augment_seed`) on `dev`, without a tape; `logits` is the network's
// eval-mode forward. (0, 0) for no batches.
std::pair<double, double> evaluate_batches(const ImageDataset& set,
                                           std::vector<BatchRequest> requests,
                                           const Augment& augment, uint64_t augment_seed,
                                           Device dev,
                                           const std::function<Var(const Var&)>& logits);

// The checkpoint parts both loops write and read. A checkpoint names its `format` in the metadata
// and the epochs completed in "epoch"; the weight optimizer's momentum buffer, once it exists, is
// the tensor "optimizer.momentum_buffer".
void add_momentum(CheckpointWriter& w, const Sgd& sgd);
void restore_momentum(const SafetensorsFile& f, Sgd& sgd, const ParamStore& weights, Device dev);
// The metadata every checkpoint carries: `extra` (the caller's), its "format", the epochs done
// ("epoch"), the options (JSON) and the genotype text.
std::map<std::string, std::string> checkpoint_metadata(std::map<std::string, std::string> extra,
                                                       const char* format, int epoch,
                                                       const nlohmann::json& options,
                                                       const std::string& genotype);
// The architect's Adam state: tensors "architect.adam.exp_avg" and ".exp_avg_sq" and the metadata
// "adam_step"; the restore checks each (InputError naming the file).
void add_adam(CheckpointWriter& w, std::map<std::string, std::string>& metadata, const Adam& adam);
void restore_adam(const SafetensorsFile& f, Adam& adam, const ParamStore& alphas, Device dev);
// On loading a checkpoint at `path` into a run: InputError "PATH: 'KEY' is A, this run has B
// (expected a checkpoint of the same model)" at the first of `keys` whose values in the saved
// options and the run's (both as JSON) differ.
void require_same_model(const std::string& path, const nlohmann::json& saved,
                        const nlohmann::json& run, std::initializer_list<const char*> keys);
// Reads `path` and checks its "format"; InputError naming the file and both formats otherwise.
SafetensorsFile read_checkpoint(const std::string& path, const std::string& format);
// read_checkpoint for a run with options `run`: the file's saved options are parsed (their
// messages name "PATH: metadata 'options'") and must describe the same model at `model_keys`
// (require_same_model).
template <class Options>
SafetensorsFile read_run_checkpoint(const std::string& path, const std::string& format,
                                    const Options& run,
                                    std::initializer_list<const char*> model_keys) {
    SafetensorsFile f = read_checkpoint(path, format);
    const Options saved =
        Options::from_json(checkpoint_json(f, "options"), metadata_name(path, "options"));
    require_same_model(path, saved.to_json(), run.to_json(), model_keys);
    return f;
}
// The "epoch" of a checkpoint; InputError naming `path` unless it is an integer in 0..epochs.
int checkpoint_epoch(const SafetensorsFile& f, const std::string& path, int epochs);

// A field whose JSON form differs from its member (second_order as "order": 1 or 2). from_json
// gets the name of the value for its messages ("ckpt.safetensors: metadata 'options': genotype").
template <class T, class J>
struct MappedField {
    T& value;
    J (*to_json)(const T&);
    T (*from_json)(const J&, const std::string& what);
};

// The value of `key` in the options object that messages call `what` (e.g.
// "ckpt.safetensors: metadata 'options'"), as a member of type T. A value of another JSON type,
// or out of T's range, is an InputError "<what>: '<key>' is <value>, expected <kind>": options
// come from files, and nlohmann's own type_error would surface as an internal error.
[[noreturn]] void wrong_json_type(const std::string& what, const char* key, const nlohmann::json& v,
                                  const std::string& expected);
template <class T>
T json_member(const nlohmann::json& v, const std::string& what, const char* key) {
    if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_boolean()) wrong_json_type(what, key, v, "true or false");
        return v.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
        using Limits = std::numeric_limits<T>;
        const char* kind = std::is_unsigned_v<T> ? "a non-negative integer" : "an integer";
        if (!v.is_number_integer()) wrong_json_type(what, key, v, kind);
        const std::string range =
            std::string(kind) + " of at most " + std::to_string(Limits::max());
        if (v.is_number_unsigned()) {
            const uint64_t u = v.get<uint64_t>();
            if (u > uint64_t(Limits::max())) wrong_json_type(what, key, v, range);
            return T(u);
        }
        const int64_t i = v.get<int64_t>();
        if (i < int64_t(Limits::min()))
            wrong_json_type(what, key, v,
                            std::is_unsigned_v<T>
                                ? kind
                                : "an integer of at least " + std::to_string(Limits::min()));
        if (i > 0 && uint64_t(i) > uint64_t(Limits::max())) wrong_json_type(what, key, v, range);
        return T(i);
    } else if constexpr (std::is_floating_point_v<T>) {
        const bool fits = v.is_number() && std::isfinite(v.get<double>()) &&
                          std::abs(v.get<double>()) <= double(std::numeric_limits<T>::max());
        if (!fits)
            wrong_json_type(what, key, v,
                            std::is_same_v<T, float> ? "a number in float range" : "a number");
        return T(v.get<double>());
    } else if constexpr (std::is_same_v<T, std::string>) {
        if (!v.is_string()) wrong_json_type(what, key, v, "a string");
        return v.get<std::string>();
    } else {
        static_assert(std::is_same_v<T, std::vector<std::string>>, "no JSON reading for this type");
        const bool strings =
            v.is_array() &&
            std::all_of(v.begin(), v.end(), [](const nlohmann::json& e) { return e.is_string(); });
        if (!strings) wrong_json_type(what, key, v, "a list of strings");
        return v.get<T>();
    }
}

// Visitors for a field table `fields(options, visitor)` that calls visitor(key, member) per key:
// JsonWriter fills an object, JsonReader sets the members whose key is present, each checked
// with json_member; `what` names the object in its messages.
struct JsonWriter {
    nlohmann::json& j;
    template <class T>
    void operator()(const char* key, const T& v) const {
        j[key] = v;
    }
    template <class T, class J>
    void operator()(const char* key, const MappedField<T, J>& f) const {
        j[key] = f.to_json(f.value);
    }
};

struct JsonReader {
    const nlohmann::json& j;
    const std::string& what;
    template <class T>
    void operator()(const char* key, T& v) const {
        if (j.contains(key)) v = json_member<T>(j.at(key), what, key);
    }
    template <class T, class J>
    void operator()(const char* key, const MappedField<T, J>& f) const {
        if (j.contains(key))
            f.value = f.from_json(json_member<J>(j.at(key), what, key), what + ": " + key);
    }
};

// An options struct's JSON form in both directions from its one field table, a callable
// `fields(options, visitor)` (a generic lambda over the table's template).
template <class Options, class Fields>
nlohmann::json fields_to_json(Options copy, const Fields& fields) {
    nlohmann::json j = nlohmann::json::object();
    fields(copy, JsonWriter{j});
    return j;
}

template <class Options, class Fields>
Options fields_from_json(const nlohmann::json& j, const std::string& what, const Fields& fields) {
    Options o;
    fields(o, JsonReader{j, what});
    return o;
}

}  // namespace cudarts
