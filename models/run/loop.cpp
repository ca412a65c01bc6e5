// The epoch-loop core; see models/run/loop.h.
#include "models/run/loop.h"

#include <cmath>
#include <cstdio>
#include <numbers>

#include "autograd/ops.h"
#include "engine/json.h"
#include "kernels/check.h"

namespace cudarts {

std::vector<float> softmax_rows(const std::vector<float>& a, int64_t cols) {
    std::vector<float> p(a.size());
    for (size_t r = 0; r < a.size() / size_t(cols); ++r) {
        const float* row = a.data() + r * size_t(cols);
        float m = row[0];
        for (int64_t j = 1; j < cols; ++j) m = std::max(m, row[j]);
        double z = 0;
        for (int64_t j = 0; j < cols; ++j) z += std::exp(double(row[j] - m));
        for (int64_t j = 0; j < cols; ++j)
            p[r * size_t(cols) + size_t(j)] = float(std::exp(double(row[j] - m)) / z);
    }
    return p;
}

double cosine_lr(double lr0, double lr_min, int epoch, int epochs) {
    return lr_min + (lr0 - lr_min) * (1.0 + std::cos(std::numbers::pi * epoch / epochs)) / 2.0;
}

std::chrono::steady_clock::time_point begin_epoch(bool done, const char* who, int epochs) {
    CUDARTS_CHECK(!done, who << ": all " << epochs << " epochs are done");
    return std::chrono::steady_clock::now();
}

double epoch_seconds(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int steps_for(int64_t images, int batch_size) {
    return int((images + batch_size - 1) / batch_size);
}

std::string StepPlace::str() const {
    char buf[96];
    if (step < 0)
        std::snprintf(buf, sizeof buf, "epoch %d evaluation (lr %g)", epoch + 1, lr);
    else
        std::snprintf(buf, sizeof buf, "epoch %d step %d (lr %g)", epoch + 1, step + 1, lr);
    return buf;
}

namespace {
const char* non_finite_name(double v) { return std::isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf"; }
}  // namespace

void require_finite(double value, const std::string& what, const StepPlace& at) {
    if (!std::isfinite(value))
        throw DivergedError(what + " is " + non_finite_name(value) + " at " + at.str());
}

namespace {
// The first non-finite of the `shape`-shaped values v[0..), named `name` with its row and column
// (2-D) or its element.
void require_finite_values(const float* v, const Shape& shape, const std::string& name,
                           const StepPlace& at) {
    const int64_t n = shape_numel(shape);
    for (int64_t k = 0; k < n; ++k) {
        if (std::isfinite(v[k])) continue;
        const std::string where = shape.size() == 2 ? " row " + std::to_string(k / shape[1]) +
                                                          " column " + std::to_string(k % shape[1])
                                                    : " element " + std::to_string(k);
        throw DivergedError(name + where + " is " + non_finite_name(v[k]) + " at " + at.str());
    }
}
}  // namespace

void require_finite(const Tensor& t, const std::string& name, const StepPlace& at) {
    const std::vector<float> v = t.to_vector();
    require_finite_values(v.data(), t.shape(), name, at);
}

void require_finite(const ParamStore& store, const StepPlace& at) {
    const std::vector<float> v = store.flat_values().to_vector();
    int64_t offset = 0;
    for (int i = 0; i < store.size(); ++i) {
        const Shape& shape = store[i].value().shape();
        require_finite_values(v.data() + offset, shape, store.names()[size_t(i)], at);
        offset += shape_numel(shape);
    }
}

double EpochAccumulator::add(const Var& loss, const Var& logits, const Tensor& labels) {
    const int64_t n = labels.size(0);
    const double l = loss.value().item();
    loss_sum_ += l * double(n);
    correct_ += count_correct(logits, labels);
    seen_ += n;
    return l;
}

std::pair<double, double> evaluate_batches(const ImageDataset& set,
                                           std::vector<BatchRequest> requests,
                                           const Augment& augment, uint64_t augment_seed,
                                           Device dev,
                                           const std::function<Var(const Var&)>& logits) {
    NoGradGuard no_grad;
    const size_t batches = requests.size();
    BatchLoader loader(set, augment, augment_seed, dev);
    loader.start(std::move(requests));
    EpochAccumulator sums;
    for (size_t b = 0; b < batches; ++b) {
        const Batch batch = loader.next();
        const Var out = logits(Var(batch.images));
        sums.add(cross_entropy(out, batch.labels), out, batch.labels);
    }
    return {sums.loss(), sums.acc()};
}

void add_momentum(CheckpointWriter& w, const Sgd& sgd) {
    if (sgd.momentum_buffer().defined()) w.add("optimizer.momentum_buffer", sgd.momentum_buffer());
}

void restore_momentum(const SafetensorsFile& f, Sgd& sgd, const ParamStore& weights, Device dev) {
    if (!f.tensors.count("optimizer.momentum_buffer")) {
        sgd.set_momentum_buffer(Tensor());
        return;
    }
    Tensor buf = Tensor::empty({weights.total()}, dev);
    restore_tensor(f, "optimizer.momentum_buffer", buf);
    sgd.set_momentum_buffer(buf);
}

std::map<std::string, std::string> checkpoint_metadata(std::map<std::string, std::string> extra,
                                                       const char* format, int epoch,
                                                       const nlohmann::json& options,
                                                       const std::string& genotype) {
    extra["format"] = format;
    extra["epoch"] = std::to_string(epoch);
    extra["options"] = options.dump();
    extra["genotype"] = genotype;
    return extra;
}

void add_adam(CheckpointWriter& w, std::map<std::string, std::string>& metadata, const Adam& adam) {
    w.add("architect.adam.exp_avg", adam.exp_avg());
    w.add("architect.adam.exp_avg_sq", adam.exp_avg_sq());
    metadata["adam_step"] = std::to_string(adam.steps());
}

void restore_adam(const SafetensorsFile& f, Adam& adam, const ParamStore& alphas, Device dev) {
    Tensor m = Tensor::empty({alphas.total()}, dev), v = Tensor::empty(m.shape(), dev);
    restore_tensor(f, "architect.adam.exp_avg", m);
    restore_tensor(f, "architect.adam.exp_avg_sq", v);
    int64_t step = 0;
    try {
        step = std::stoll(checkpoint_meta(f, "adam_step"));
    } catch (const std::logic_error&) {
        throw InputError(f.path + ": metadata 'adam_step' is not an integer");
    }
    adam.set_state(m, v, step);
}

void require_same_model(const std::string& path, const nlohmann::json& saved,
                        const nlohmann::json& run, std::initializer_list<const char*> keys) {
    for (const char* key : keys)
        if (saved.at(key) != run.at(key))
            throw InputError(path + ": '" + key + "' is " + quote_json(saved.at(key)) +
                             ", this run has " + quote_json(run.at(key)) +
                             " (expected a checkpoint of the same model)");
}

SafetensorsFile read_checkpoint(const std::string& path, const std::string& format) {
    SafetensorsFile f = read_safetensors(path);
    if (checkpoint_meta(f, "format") != format)
        throw InputError(path + ": format '" + checkpoint_meta(f, "format") + "', expected '" +
                         format + "'");
    return f;
}

void wrong_json_type(const std::string& what, const char* key, const nlohmann::json& v,
                     const std::string& expected) {
    throw InputError(what + ": '" + key + "' is " + quote_json(v) + ", expected " + expected);
}

int checkpoint_epoch(const SafetensorsFile& f, const std::string& path, int epochs) {
    int epoch = 0;
    try {
        epoch = std::stoi(checkpoint_meta(f, "epoch"));
    } catch (const std::logic_error&) {
        throw InputError(path + ": metadata 'epoch' is not an integer");
    }
    if (epoch < 0 || epoch > epochs)
        throw InputError(path + ": epoch " + std::to_string(epoch) + " outside 0.." +
                         std::to_string(epochs));
    return epoch;
}

}  // namespace cudarts
