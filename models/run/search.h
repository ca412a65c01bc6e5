// The DARTS search loop (reference/darts.md section 3; `train_search.py`), resumable.
//
// The training set is split in file order: the first floor(train_portion * n) images train the
// weights, the rest train α and serve as validation. Per epoch e (lr_e cosine from w_lr to
// w_lr_min over `epochs`, the PyTorch 0.3.1 schedule): for each batch of a fresh permutation of
// the weight half, draw an independent random batch of the α half, take the architect's α step
// (first or second order), then the weight step with the updated α (forward, CE, backward, clip
// to w_grad_clip, SGD with momentum and weight decay). After the epoch: validation in eval mode
// over the whole α half (with the training augmentation, as the reference does) and the genotype.
//
// Every random choice (data order, the α batches, augmentation) is a pure function of the seed
// and the (epoch, step) position, so the state saved at an epoch boundary (weights, BN buffers,
// α, optimizer states, counters) resumes a run bitwise on the CPU.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "models/darts/architect.h"
#include "models/darts/genotype.h"
#include "models/run/loop.h"

namespace cudarts {

struct SearchOptions {
    SearchNetConfig net;  // in_channels and classes are taken from the data set
    int epochs = 50;
    int batch_size = 64;
    double train_portion = 0.5;
    float w_lr = 0.025f, w_lr_min = 0.001f, w_momentum = 0.9f, w_weight_decay = 3e-4f;
    float w_grad_clip = 5.f;
    float alpha_lr = 3e-4f, alpha_weight_decay = 1e-3f;
    float alpha_beta1 = 0.5f, alpha_beta2 = 0.999f;
    bool second_order = false;
    uint64_t seed = 2;
    Augment augment{.crop_pad = 4, .flip = true, .cutout = 0};
    DeriveRule rule = DeriveRule::kSoftmax;

    void validate() const;  // SettingError naming the offending setting
    nlohmann::json to_json() const;
    // The options in `j` (as written by to_json) over the defaults; a value of the wrong type is
    // an InputError naming `what` (the object, e.g. "ckpt.safetensors: metadata 'options'").
    static SearchOptions from_json(const nlohmann::json& j, const std::string& what);
};

struct EpochMetrics {
    int epoch = 0;  // 0-based
    double lr = 0;
    double train_loss = 0, train_acc = 0, valid_loss = 0, valid_acc = 0;  // accuracies in [0, 1]
    double seconds = 0;
    std::vector<float> softmax_normal, softmax_reduce;  // edges x primitives, row-major
    Genotype genotype;
    nlohmann::json to_json() const;
};

class Search {
public:
    Search(SearchOptions opt, const ImageDataset& data, Device dev);

    int epoch() const { return epoch_; }  // epochs completed
    bool done() const { return epoch_ >= opt_.epochs; }
    int steps_per_epoch() const;
    int64_t train_images() const { return split_; }
    int64_t valid_images() const { return data_.size() - split_; }

    // Runs the next epoch; `on_step` (optional) is called after every step.
    EpochMetrics run_epoch(const std::function<void(const StepInfo&)>& on_step = {});
    // One search step, the body of run_epoch's loop: the architect's α step on `val` (first or
    // second order, with weight learning rate at.lr), then the weight step on `train` (forward,
    // cross-entropy, backward, clip to w_grad_clip, SGD at the optimizer's current learning
    // rate). Adds the training batch to `sums` and returns its loss. A non-finite loss, gradient
    // norm or α throws DivergedError naming `at`.
    double step(const Batch& train, const Batch& val, const StepPlace& at, EpochAccumulator& sums);
    // Validation over the α half in eval mode: (mean loss, top-1 accuracy).
    std::pair<double, double> validate();

    Genotype genotype() const;  // from the current α
    std::vector<float> softmax_alphas(bool reduce) const;

    // Checkpoint (safetensors, written atomically): weights and BN buffers under the reference's
    // names, alphas_normal/alphas_reduce, optimizer and architect state, counters and options.
    void save(const std::string& path, const std::map<std::string, std::string>& extra = {}) const;
    // Restores a checkpoint written by save(); throws InputError naming the file when it does
    // not belong to this configuration or holds bad values (models/run/search_checkpoint.h,
    // restore_tensor). Returns its metadata.
    std::map<std::string, std::string> load(const std::string& path);

    SearchNetwork& network() { return net_; }
    Architect& architect() { return architect_; }
    Sgd& weight_optimizer() { return sgd_; }
    const SearchOptions& options() const { return opt_; }

private:
    BatchRequest valid_request(int64_t global_step) const;

    SearchOptions opt_;
    const ImageDataset& data_;
    Device dev_;
    int64_t split_ = 0;
    SearchNetwork net_;
    Sgd sgd_;
    Architect architect_;
    int epoch_ = 0;
};

}  // namespace cudarts
