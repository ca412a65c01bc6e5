#include "models/enas/shared.h"

#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "data/transforms.h"
#include "engine/json.h"
#include "kernels/check.h"

namespace cudarts::enas {
namespace {

// 64-bit FNV-1a of the key: a block's initial values depend only on the run's seed and its key.
uint64_t key_hash(const std::string& key) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char ch : key) h = (h ^ ch) * 1099511628211ull;
    return h;
}

// Concatenation along dim 0 of tensors (c_i, ...): each viewed as (1, c_i, rest) for
// concat_channels, the result viewed back as (sum c_i, ...).
Var concat_rows(const std::vector<Var>& xs) {
    if (xs.size() == 1) return xs[0];
    std::vector<Var> views;
    int64_t rows = 0;
    for (const Var& x : xs) {
        Shape s = x.value().shape();
        rows += s[0];
        s.insert(s.begin(), 1);
        if (s.size() == 2) s.push_back(1);  // (1, c) -> (1, c, 1)
        views.push_back(reshape(x, s));
    }
    Shape out = xs[0].value().shape();
    out[0] = rows;
    return reshape(concat_channels(views), out);
}

// Concatenation along dim 1 (the input channels of a weight).
Var concat_cols(const std::vector<Var>& xs) { return xs.size() == 1 ? xs[0] : concat_channels(xs); }

// Block keys such as "l3.op27.in2.w96", built by appending (GCC 12 warns falsely on
// "l" + std::to_string(...) at -O3).
std::string key_of(std::initializer_list<std::string> parts) {
    std::string s;
    for (const std::string& p : parts) s.append(p);
    return s;
}

std::string prefix(int layer, int op) {
    return key_of({"l", std::to_string(layer), ".op", std::to_string(op)});
}

}  // namespace

SharedWeights::SharedWeights(Device dev, uint64_t seed, AdamOptions adam)
    : dev_(dev), seed_(seed), adam_(adam) {}

SharedWeights::Block& SharedWeights::block(const std::string& key,
                                           const std::vector<TensorInit>& tensors) {
    auto it = blocks_.find(key);
    if (it != blocks_.end()) return it->second;
    Block b;
    b.store = std::make_unique<ParamStore>();
    for (const TensorInit& t : tensors) b.store->add("shared." + key + "." + t.name, t.shape);
    b.store->finalize(dev_);
    Generator gen(mix64(seed_, key_hash(key)));
    for (size_t i = 0; i < tensors.size(); ++i) {
        if (tensors[i].bound > 0)
            b.store->init_uniform(int(i), tensors[i].bound, gen);
        else
            b.store->init_constant(int(i), tensors[i].value);
    }
    b.adam = std::make_unique<Adam>(*b.store, adam_);
    return blocks_.emplace(key, std::move(b)).first->second;
}

const Var& SharedWeights::var(const std::string& key, const std::string& name) const {
    return blocks_.at(key).store->get("shared." + key + "." + name);
}

SharedWeights::View SharedWeights::view(const ChildPlan& plan, const std::vector<int>& ops) {
    CUDARTS_CHECK(
        ops.size() == plan.layers.size(),
        "SharedWeights::view: " << ops.size() << " ops for " << plan.layers.size() << " layers");
    View v;
    auto use = [&](const std::string& key, const std::vector<TensorInit>& tensors) {
        Block& b = block(key, tensors);
        v.blocks.push_back(key);
        for (const Var& p : b.store->vars()) v.params.push_back(p);
    };
    for (size_t i = 0; i < plan.layers.size(); ++i) {
        const LayerPlan& p = plan.layers[i];
        const OpSpec& op = p.op;
        LayerWeights lw;
        if (op.type == OpType::reduction) {
            v.layers.push_back(lw);
            continue;
        }
        const std::string at = prefix(int(i) + 1, ops[i]);
        const int k = op.filter_size, kk = k * k, m = op.depth_multiplier;
        std::vector<Var> w, pw, bias, gamma, beta;
        for (size_t j = 0; j < p.inputs.size(); ++j) {
            const int c = p.input_channels[j];
            const std::string key =
                key_of({at, ".in", std::to_string(p.inputs[j]), ".w", std::to_string(c)});
            if (op.type == OpType::convolution) {
                use(key, {{"weight", {p.out_c, c, k, k}, glorot_bound(c * kk, p.out_c * kk), 0}});
                w.push_back(var(key, "weight"));
            } else if (op.type == OpType::separable_convolution) {
                use(key, {{"depthwise", {c * m, 1, k, k}, glorot_bound(c * kk, m * kk), 0},
                          {"pointwise", {p.out_c, c * m, 1, 1}, glorot_bound(c * m, p.out_c), 0}});
                w.push_back(var(key, "depthwise"));
                pw.push_back(var(key, "pointwise"));
            } else {  // depthwise: everything per input channel lives in the input's block
                use(key, {{"depthwise", {c * m, 1, k, k}, glorot_bound(c * kk, m * kk), 0},
                          {"bias", {c * m}, 0, 0.f},
                          {"bn.weight", {c * m}, 0, 1.f},
                          {"bn.bias", {c * m}, 0, 0.f}});
                w.push_back(var(key, "depthwise"));
                bias.push_back(var(key, "bias"));
                gamma.push_back(var(key, "bn.weight"));
                beta.push_back(var(key, "bn.bias"));
            }
        }
        if (op.type == OpType::depthwise_convolution) {
            lw.weight = concat_rows(w);
            lw.bias = concat_rows(bias);
            lw.gamma = concat_rows(gamma);
            lw.beta = concat_rows(beta);
        } else {
            const std::string key = at + ".out";
            use(key, {{"bias", {p.out_c}, 0, 0.f},
                      {"bn.weight", {p.out_c}, 0, 1.f},
                      {"bn.bias", {p.out_c}, 0, 0.f}});
            lw.bias = var(key, "bias");
            lw.gamma = var(key, "bn.weight");
            lw.beta = var(key, "bn.bias");
            if (op.type == OpType::convolution) {
                lw.weight = concat_cols(w);
            } else {
                lw.weight = concat_rows(w);
                lw.pointwise = concat_cols(pw);
            }
        }
        v.layers.push_back(std::move(lw));
    }
    const int last = plan.out_channels(int(plan.layers.size()));
    const std::string key = key_of({"classifier.w", std::to_string(last)});
    use(key, {{"weight", {plan.classes, last}, glorot_bound(last, plan.classes), 0},
              {"bias", {plan.classes}, 0, 0.f}});
    v.classifier_weight = var(key, "weight");
    v.classifier_bias = var(key, "bias");
    return v;
}

void SharedWeights::step(const View& v) {
    for (const std::string& key : v.blocks) blocks_.at(key).adam->step();
}

int64_t SharedWeights::parameters() const {
    int64_t n = 0;
    for (const auto& [key, b] : blocks_) n += b.store->total();
    return n;
}

void SharedWeights::save(CheckpointWriter& w, std::map<std::string, std::string>& metadata) const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [key, b] : blocks_) {
        w.add_store(*b.store);
        w.add("shared." + key + ".adam.exp_avg", b.adam->exp_avg());
        w.add("shared." + key + ".adam.exp_avg_sq", b.adam->exp_avg_sq());
        nlohmann::json tensors = nlohmann::json::array();
        const std::string head = "shared." + key + ".";
        for (int i = 0; i < b.store->size(); ++i)
            tensors.push_back(
                {b.store->names()[size_t(i)].substr(head.size()), (*b.store)[i].value().shape()});
        list.push_back({{"key", key}, {"tensors", tensors}, {"adam_step", b.adam->steps()}});
    }
    metadata["shared_blocks"] = list.dump();
}

void SharedWeights::load(const SafetensorsFile& f, const std::string& path) {
    const std::string what = metadata_name(path, "shared_blocks");
    const nlohmann::json list = parse_json(checkpoint_meta(f, "shared_blocks"), what);
    if (!list.is_array()) throw InputError(what + ": expected a JSON list of blocks");
    blocks_.clear();
    for (const nlohmann::json& entry : list) {
        if (!entry.is_object() || !entry.contains("key") || !entry["key"].is_string() ||
            !entry.contains("tensors") || !entry["tensors"].is_array() ||
            !entry.contains("adam_step") || !entry["adam_step"].is_number_integer())
            throw InputError(what + ": expected {key, tensors, adam_step} per block, got " +
                             quote_json(entry));
        const std::string key = entry["key"].get<std::string>();
        std::vector<TensorInit> tensors;
        for (const nlohmann::json& t : entry["tensors"]) {
            if (!t.is_array() || t.size() != 2 || !t[0].is_string() || !t[1].is_array())
                throw InputError(what + ": block '" + quote_input(key) +
                                 "': expected [name, shape] per tensor");
            Shape shape;
            for (const nlohmann::json& d : t[1]) {
                if (!d.is_number_integer() || d.get<int64_t>() < 1 || d.get<int64_t>() > (1 << 24))
                    throw InputError(what + ": block '" + quote_input(key) + "': bad shape " +
                                     quote_json(t[1]));
                shape.push_back(d.get<int64_t>());
            }
            tensors.push_back({t[0].get<std::string>(), shape, 0, 0.f});
        }
        Block& b = block(key, tensors);
        restore_store(f, *b.store);
        Tensor m = Tensor::empty({b.store->total()}, dev_),
               v = Tensor::empty({b.store->total()}, dev_);
        restore_tensor(f, "shared." + key + ".adam.exp_avg", m);
        restore_tensor(f, "shared." + key + ".adam.exp_avg_sq", v);
        const int64_t steps = entry["adam_step"].get<int64_t>();
        if (steps < 0) throw InputError(what + ": block '" + quote_input(key) + "': adam_step < 0");
        b.adam->set_state(m, v, steps);
    }
}

}  // namespace cudarts::enas
