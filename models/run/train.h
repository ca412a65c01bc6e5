// Training a discovered architecture from scratch (reference/darts.md 6.4 and 6.5; `train.py`,
// `train_imagenet.py`), resumable, and testing it.
//
// Per epoch e: lr_e from the schedule (cosine from lr to lr_min over `epochs`, or step: lr *
// gamma^e), drop-path probability drop_path_prob * e / epochs; a fresh permutation of the whole
// training set, each batch augmented (crop with padding 4, flip, cutout after normalising);
// loss = CE(logits) + aux_weight * CE(logits_aux) with optional label smoothing; clip; SGD with
// momentum and weight decay. After the epoch: loss and top-1 on the test split in eval mode,
// without augmentation. As in the search, every random choice is a function of the seed and the
// (epoch, step), so a checkpoint taken at an epoch boundary resumes the run bitwise on the CPU.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "models/darts/eval_network.h"
#include "models/run/loop.h"

namespace cudarts {

struct TrainRecipe {
    EvalNetConfig net;  // in_channels and classes are taken from the data set
    int epochs = 600;
    int batch_size = 96;
    float lr = 0.025f, lr_min = 0.f, momentum = 0.9f, weight_decay = 3e-4f, grad_clip = 5.f;
    bool step_schedule = false;  // lr * gamma^e (ImageNet) instead of cosine
    float lr_gamma = 0.97f;
    float drop_path_prob = 0.2f;
    float aux_weight = 0.4f;
    float label_smoothing = 0.f;
    Augment augment{.crop_pad = 4, .flip = true, .cutout = 16};
    uint64_t seed = 0;

    double lr_at(int epoch) const;
    void validate() const;           // SettingError naming the offending setting
    nlohmann::json to_json() const;  // genotype included, in the DARTS form
    // The recipe in `j` over the defaults; a value of the wrong type is an InputError naming
    // `what` (the object, e.g. "ckpt.safetensors: metadata 'options'").
    static TrainRecipe from_json(const nlohmann::json& j, const std::string& what);
};

struct TrainEpoch {
    int epoch = 0;
    double lr = 0, drop_path_prob = 0;
    double train_loss = 0, train_acc = 0, test_loss = 0, test_acc = 0;
    double seconds = 0;
    nlohmann::json to_json() const;
};

// Mean cross-entropy and top-1 accuracy of `net` over `set` in eval mode, no augmentation.
std::pair<double, double> evaluate(EvalNetwork& net, const ImageDataset& set, int batch_size);

// Copies every weight and BN buffer of `net` from a safetensors file with the reference's names
// (a cudarts checkpoint, or a PyTorch state_dict saved with safetensors). Entries `net` does not
// have (num_batches_tracked, alphas, optimizer state) are ignored. A missing entry, or a shape or
// dtype that does not match, or a NaN or infinity in a weight or buffer, is an InputError naming
// the file and the entry.
void load_weights(EvalNetwork& net, const std::string& path);

class Trainer {
public:
    Trainer(TrainRecipe recipe, const ImageDataset& train, const ImageDataset& test, Device dev);

    int epoch() const { return epoch_; }
    bool done() const { return epoch_ >= recipe_.epochs; }
    int steps_per_epoch() const;
    TrainEpoch run_epoch(const std::function<void(const StepInfo&)>& on_step = {});

    // Checkpoint: weights and buffers under the reference's names, the momentum buffer, epoch and
    // recipe; written atomically.
    void save(const std::string& path, const std::map<std::string, std::string>& extra = {}) const;
    std::map<std::string, std::string> load(const std::string& path);

    EvalNetwork& network() { return net_; }
    const TrainRecipe& recipe() const { return recipe_; }

private:
    TrainRecipe recipe_;
    const ImageDataset& train_;
    const ImageDataset& test_;
    Device dev_;
    EvalNetwork net_;
    Sgd sgd_;
    int epoch_ = 0;
};

}  // namespace cudarts
