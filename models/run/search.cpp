// The DARTS search loop and its checkpoint; see models/run/search.h.
#include "models/run/search.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <numbers>
#include <unordered_set>

#include "engine/safetensors.h"
#include "kernels/check.h"
#include "models/nn/checkpoint.h"

namespace cudarts {

namespace {

constexpr const char* kFormat = "cudarts-search-checkpoint-1";

// Independent sub-seeds (data/transforms.h mix64) for the data order, the α batches and the
// augmentation.
enum SeedStream : uint64_t { kOrder = 1, kAlphaBatch = 2, kAugment = 3, kValidKeys = 1ull << 62 };

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

}  // namespace

double cosine_lr(double lr0, double lr_min, int epoch, int epochs) {
    return lr_min + (lr0 - lr_min) * (1.0 + std::cos(std::numbers::pi * epoch / epochs)) / 2.0;
}

void SearchOptions::validate() const {
    auto need = [](bool ok, const std::string& msg) {
        if (!ok) throw InputError(msg);
    };
    need(epochs >= 1, "--epochs: expected at least 1, got " + std::to_string(epochs));
    need(batch_size >= 2, "--batch-size: expected at least 2, got " + std::to_string(batch_size));
    need(train_portion > 0 && train_portion < 1,
         "--train-portion: expected a fraction in (0, 1), got " + std::to_string(train_portion));
    need(w_lr > 0 && w_lr_min >= 0 && w_momentum >= 0 && w_weight_decay >= 0 && w_grad_clip > 0,
         "weight optimizer: expected w_lr > 0, w_lr_min >= 0, w_momentum >= 0, "
         "w_weight_decay >= 0, w_grad_clip > 0");
    need(alpha_lr >= 0 && alpha_weight_decay >= 0,
         "alpha optimizer: expected alpha_lr >= 0 and "
         "alpha_weight_decay >= 0");
}

nlohmann::json SearchOptions::to_json() const {
    return {{"in_channels", net.in_channels},
            {"classes", net.classes},
            {"init_channels", net.init_channels},
            {"layers", net.layers},
            {"nodes", net.nodes},
            {"stem_multiplier", net.stem_multiplier},
            {"primitives", net.primitives},
            {"epochs", epochs},
            {"batch_size", batch_size},
            {"train_portion", train_portion},
            {"w_lr", w_lr},
            {"w_lr_min", w_lr_min},
            {"w_momentum", w_momentum},
            {"w_weight_decay", w_weight_decay},
            {"w_grad_clip", w_grad_clip},
            {"alpha_lr", alpha_lr},
            {"alpha_weight_decay", alpha_weight_decay},
            {"alpha_beta1", alpha_beta1},
            {"alpha_beta2", alpha_beta2},
            {"order", second_order ? 2 : 1},
            {"seed", seed},
            {"crop_pad", augment.crop_pad},
            {"flip", augment.flip},
            {"cutout", augment.cutout},
            {"derive_rule", rule == DeriveRule::kSoftmax ? "softmax" : "katib"}};
}

SearchOptions SearchOptions::from_json(const nlohmann::json& j) {
    SearchOptions o;
    auto get = [&](const char* key, auto& field) {
        if (j.contains(key)) field = j.at(key).get<std::remove_reference_t<decltype(field)>>();
    };
    get("in_channels", o.net.in_channels);
    get("classes", o.net.classes);
    get("init_channels", o.net.init_channels);
    get("layers", o.net.layers);
    get("nodes", o.net.nodes);
    get("stem_multiplier", o.net.stem_multiplier);
    get("primitives", o.net.primitives);
    get("epochs", o.epochs);
    get("batch_size", o.batch_size);
    get("train_portion", o.train_portion);
    get("w_lr", o.w_lr);
    get("w_lr_min", o.w_lr_min);
    get("w_momentum", o.w_momentum);
    get("w_weight_decay", o.w_weight_decay);
    get("w_grad_clip", o.w_grad_clip);
    get("alpha_lr", o.alpha_lr);
    get("alpha_weight_decay", o.alpha_weight_decay);
    get("alpha_beta1", o.alpha_beta1);
    get("alpha_beta2", o.alpha_beta2);
    get("seed", o.seed);
    get("crop_pad", o.augment.crop_pad);
    get("flip", o.augment.flip);
    get("cutout", o.augment.cutout);
    if (j.contains("order")) o.second_order = j.at("order").get<int>() == 2;
    if (j.contains("derive_rule"))
        o.rule = j.at("derive_rule") == "katib" ? DeriveRule::kKatibLogits : DeriveRule::kSoftmax;
    return o;
}

nlohmann::json EpochMetrics::to_json() const {
    return {{"epoch", epoch},
            {"lr", lr},
            {"train_loss", train_loss},
            {"train_acc", train_acc},
            {"valid_loss", valid_loss},
            {"valid_acc", valid_acc},
            {"seconds", seconds},
            {"softmax_alphas_normal", softmax_normal},
            {"softmax_alphas_reduce", softmax_reduce},
            {"genotype", to_darts_string(genotype)}};
}

namespace {
SearchOptions prepared(SearchOptions opt, const ImageDataset& data) {
    opt.net.in_channels = data.channels;
    opt.net.classes = data.classes;
    opt.validate();
    return opt;
}
ArchitectOptions architect_options(const SearchOptions& o) {
    return {.second_order = o.second_order,
            .adam = {.lr = o.alpha_lr,
                     .beta1 = o.alpha_beta1,
                     .beta2 = o.alpha_beta2,
                     .eps = 1e-8f,
                     .weight_decay = o.alpha_weight_decay},
            .w_momentum = o.w_momentum,
            .w_weight_decay = o.w_weight_decay};
}
}  // namespace

Search::Search(SearchOptions opt, const ImageDataset& data, Device dev)
    : opt_(prepared(std::move(opt), data)),
      data_(data),
      dev_(dev),
      split_(int64_t(std::floor(opt_.train_portion * double(data.size())))),
      net_(opt_.net, dev, opt_.seed),
      sgd_(net_.weights(),
           {.lr = opt_.w_lr, .momentum = opt_.w_momentum, .weight_decay = opt_.w_weight_decay}),
      architect_(net_, architect_options(opt_)) {
    opt_.net = net_.config();  // with the default primitive list filled in
    if (split_ < 1 || data.size() - split_ < 1)
        throw InputError("--train-portion: " + std::to_string(opt_.train_portion) + " of " +
                         std::to_string(data.size()) +
                         " images leaves one half empty (expected both halves non-empty)");
}

int Search::steps_per_epoch() const {
    return int((split_ + opt_.batch_size - 1) / opt_.batch_size);
}

BatchRequest Search::valid_request(int64_t global_step) const {
    // An independent uniform random subset of the α half (darts.md 3, step 2), always full size
    // unless the half is smaller than a batch.
    const int64_t n = data_.size() - split_;
    const int64_t b = std::min<int64_t>(opt_.batch_size, n);
    Generator gen(mix64(opt_.seed, kAlphaBatch), uint64_t(global_step) << 32);
    BatchRequest r;
    r.key = 2 * uint64_t(global_step) + 1;
    std::unordered_set<int64_t> taken;
    while (int64_t(r.idx.size()) < b) {
        const int64_t i = int64_t(gen.below(uint64_t(n)));
        if (taken.insert(i).second) r.idx.push_back(split_ + i);
    }
    return r;
}

EpochMetrics Search::run_epoch(const std::function<void(const StepInfo&)>& on_step) {
    CUDARTS_CHECK(!done(), "Search::run_epoch: all " << opt_.epochs << " epochs are done");
    const auto t0 = std::chrono::steady_clock::now();
    EpochMetrics m;
    m.epoch = epoch_;
    m.lr = cosine_lr(opt_.w_lr, opt_.w_lr_min, epoch_, opt_.epochs);
    sgd_.set_lr(float(m.lr));

    const int steps = steps_per_epoch();
    const std::vector<int64_t> order =
        permutation(split_, mix64(opt_.seed, kOrder), uint64_t(epoch_));
    std::vector<BatchRequest> requests;
    for (int s = 0; s < steps; ++s) {
        const int64_t global = int64_t(epoch_) * steps + s;
        BatchRequest train;
        train.key = 2 * uint64_t(global);
        const int64_t end = std::min<int64_t>(split_, int64_t(s + 1) * opt_.batch_size);
        train.idx.assign(order.begin() + int64_t(s) * opt_.batch_size, order.begin() + end);
        requests.push_back(std::move(train));
        requests.push_back(valid_request(global));
    }
    BatchLoader loader(data_, opt_.augment, mix64(opt_.seed, kAugment), dev_);
    loader.start(std::move(requests));

    double loss_sum = 0;
    int64_t seen = 0, correct = 0;
    for (int s = 0; s < steps; ++s) {
        const Batch train = loader.next();
        const Batch val = loader.next();
        architect_.step(train, val, float(m.lr), sgd_.momentum_buffer());

        const Var logits = net_.forward(Var(train.images));
        const Var loss = cross_entropy(logits, train.labels);
        backward(loss, net_.weights().vars());
        clip_grad_norm(net_.weights(), opt_.w_grad_clip);
        sgd_.step();

        const int64_t n = train.images.size(0);
        const double l = loss.value().item();
        loss_sum += l * double(n);
        correct += count_correct(logits, train.labels);
        seen += n;
        if (on_step) on_step({epoch_, s, steps, l, double(correct) / double(seen)});
    }
    m.train_loss = loss_sum / double(seen);
    m.train_acc = double(correct) / double(seen);
    std::tie(m.valid_loss, m.valid_acc) = validate();
    ++epoch_;
    m.softmax_normal = softmax_alphas(false);
    m.softmax_reduce = softmax_alphas(true);
    m.genotype = genotype();
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return m;
}

std::pair<double, double> Search::validate() {
    NoGradGuard no_grad;
    std::vector<BatchRequest> requests;
    for (int64_t b = split_; b < data_.size(); b += opt_.batch_size) {
        BatchRequest r;
        r.key = kValidKeys + uint64_t(epoch_) * (1ull << 32) + uint64_t(b);
        for (int64_t i = b; i < std::min<int64_t>(data_.size(), b + opt_.batch_size); ++i)
            r.idx.push_back(i);
        requests.push_back(std::move(r));
    }
    const size_t batches = requests.size();
    BatchLoader loader(data_, opt_.augment, mix64(opt_.seed, kAugment), dev_);
    loader.start(std::move(requests));
    double loss_sum = 0;
    int64_t correct = 0;
    for (size_t b = 0; b < batches; ++b) {
        const Batch batch = loader.next();
        const Var logits = net_.forward(Var(batch.images), {.training = false});
        loss_sum +=
            cross_entropy(logits, batch.labels).value().item() * double(batch.images.size(0));
        correct += count_correct(logits, batch.labels);
    }
    const double n = double(valid_images());
    return {loss_sum / n, double(correct) / n};
}

std::vector<float> Search::softmax_alphas(bool reduce) const {
    const Var& a = reduce ? net_.alphas_reduce() : net_.alphas_normal();
    return softmax_rows(a.value().to_vector(), a.size(1));
}

Genotype Search::genotype() const {
    const std::vector<float> normal = net_.alphas_normal().value().to_vector();
    const std::vector<float> reduce = net_.alphas_reduce().value().to_vector();
    return derive_genotype(normal.data(), net_.config().has_reduction() ? reduce.data() : nullptr,
                           net_.config().primitives, net_.config().nodes, opt_.rule);
}

void Search::save(const std::string& path, const std::map<std::string, std::string>& extra) const {
    CheckpointWriter w;
    w.add_store(net_.weights());
    w.add_store(net_.buffers());
    w.add_store(net_.alphas());
    if (sgd_.momentum_buffer().defined())
        w.add("optimizer.momentum_buffer", sgd_.momentum_buffer());
    w.add("architect.adam.exp_avg", architect_.optimizer().exp_avg());
    w.add("architect.adam.exp_avg_sq", architect_.optimizer().exp_avg_sq());
    std::map<std::string, std::string> metadata = extra;
    metadata["format"] = kFormat;
    metadata["epoch"] = std::to_string(epoch_);
    metadata["adam_step"] = std::to_string(architect_.optimizer().steps());
    metadata["options"] = opt_.to_json().dump();
    metadata["genotype"] = to_darts_string(genotype());
    w.write(path, metadata);
}

std::map<std::string, std::string> Search::load(const std::string& path) {
    const SafetensorsFile f = read_safetensors(path);
    if (checkpoint_meta(f, "format") != kFormat)
        throw InputError(path + ": format '" + checkpoint_meta(f, "format") + "', expected '" +
                         kFormat + "'");
    const nlohmann::json saved =
        nlohmann::json::parse(checkpoint_meta(f, "options"), nullptr, false);
    if (saved.is_discarded() || !saved.is_object())
        throw InputError(path + ": metadata 'options' is not a JSON object");
    for (const char* key : {"init_channels", "layers", "nodes", "stem_multiplier", "primitives",
                            "in_channels", "classes"}) {
        if (!saved.contains(key) || saved.at(key) != opt_.to_json().at(key))
            throw InputError(path + ": '" + key + "' is " +
                             (saved.contains(key) ? saved.at(key).dump() : "missing") +
                             ", this run has " + opt_.to_json().at(key).dump() +
                             " (expected a checkpoint of the same network)");
    }
    for (const ParamStore* s : {&net_.weights(), &net_.buffers(), &net_.alphas()})
        restore_store(f, *s);
    if (f.tensors.count("optimizer.momentum_buffer")) {
        Tensor buf = Tensor::empty({net_.weights().total()}, dev_);
        restore_tensor(f, "optimizer.momentum_buffer", buf);
        sgd_.set_momentum_buffer(buf);
    } else {
        sgd_.set_momentum_buffer(Tensor());
    }
    Tensor m = Tensor::empty({net_.alphas().total()}, dev_), v = Tensor::empty(m.shape(), dev_);
    restore_tensor(f, "architect.adam.exp_avg", m);
    restore_tensor(f, "architect.adam.exp_avg_sq", v);
    try {
        architect_.optimizer().set_state(m, v, std::stoll(checkpoint_meta(f, "adam_step")));
        epoch_ = std::stoi(checkpoint_meta(f, "epoch"));
    } catch (const std::logic_error&) {
        throw InputError(path + ": metadata 'epoch' or 'adam_step' is not an integer");
    }
    if (epoch_ < 0 || epoch_ > opt_.epochs)
        throw InputError(path + ": epoch " + std::to_string(epoch_) + " outside 0.." +
                         std::to_string(opt_.epochs));
    return f.metadata;
}

}  // namespace cudarts
