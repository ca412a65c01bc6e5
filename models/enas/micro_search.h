// ENAS micro search (reference/katib.md 2.9, the micro mode Katib lacks): the micro controller
// (models/enas/micro.h) samples DARTS cells, and every child it samples is the sub-network of one
// DARTS search network (SearchNetwork::forward_discrete) whose weights all children share.
//
// The training set is split in file order like the DARTS search's (models/run/search.h): the first
// floor(train_portion * n) images train the shared weights, the rest are held out and score the
// children. Per epoch e (lr_e cosine from lr to lr_min over `epochs`):
//   (a) child_steps batches of a fresh permutation of the weight half (more permutations follow
//       when one runs out), each with a freshly sampled child: forward_discrete, cross-entropy,
//       backward to every weight, clip to 5, SGD (momentum 0.9, weight decay 3e-4: DARTS's weight
//       settings). The backward writes zeros to the ops the child does not use, so no stale
//       gradient is applied; momentum and weight decay still move those ops, as they do for any
//       zero gradient in the whole-store SGD step.
//   (b) controller_train_steps controller updates. Each samples a child and scores it by its
//       accuracy on one random batch of the held-out half; by default that accuracy is the reward
//       of that child's REINFORCE step. With katib_reward (Katib's flow, 2.8) the step's children
//       are scored first, then every update takes a freshly sampled architecture and, as its
//       reward, the mean accuracy of all children scored so far in the run.
//   (c) eval_children children are sampled and each scored on the whole held-out half; the best
//       (first of ties) is the epoch's result, and best() is that of the last epoch run.
// Children are scored with the batch's BN statistics and without updating the running ones (a
// shared op's running statistics mix every child that trained it), without augmentation and
// without a tape. Every random choice (data order, augmentation, each sampled child, the held-out
// batches) is a pure function of the seed and its (epoch, step) position, so the state saved at
// an epoch boundary resumes a run bitwise on the CPU.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "models/darts/genotype.h"
#include "models/darts/search_network.h"
#include "models/enas/micro.h"
#include "models/run/loop.h"

namespace cudarts::enas {

struct MicroOptions {
    SearchNetConfig net;            // in_channels and classes are taken from the data set
    ControllerSettings controller;  // train_steps = controller updates per epoch
    int epochs = 10;
    int child_steps = 50;
    int batch_size = 64;
    int eval_children = 10;
    bool katib_reward = false;
    uint64_t seed = 0;
    float lr = 0.025f, lr_min = 0.001f;
    double train_portion = 0.5;
    Augment augment{.crop_pad = 4, .flip = true, .cutout = 0};  // the weight half's batches

    // JSON with the search's keys for `net` and Katib's setting names (strings, "None" where
    // disabled) under "controller".
    nlohmann::json to_json() const;
    // The options in `j` over the defaults; InputError naming `what` on a wrong type or setting.
    static MicroOptions from_json(const nlohmann::json& j, const std::string& what);
    void validate() const;  // SettingError naming the offending setting
};

struct MicroEpoch {
    int epoch = 0;  // 0-based
    double lr = 0;
    double child_loss = 0, child_acc = 0;     // over (a)'s batches, accuracy in [0, 1]
    double reward_mean = 0;                   // mean held-out batch accuracy of (b)'s children
    double baseline = 0;                      // the controller's after (b)
    double controller_loss = 0, entropy = 0;  // means over (b)'s updates
    double best_acc = 0;                      // of (c)'s best child
    double seconds = 0;
    Genotype best;
    nlohmann::json to_json() const;
};

class MicroSearch {
public:
    // `train` is held by reference. SettingError for bad options or a split leaving a half empty;
    // InputError when the images do not fit the network.
    MicroSearch(MicroOptions opt, const ImageDataset& train, Device dev);

    bool done() const { return epoch_ >= opt_.epochs; }
    int epoch() const { return epoch_; }                      // epochs completed
    int steps_per_epoch() const { return opt_.child_steps; }  // on_step calls per epoch
    int64_t train_images() const { return split_; }
    int64_t valid_images() const { return data_.size() - split_; }

    // Runs the next epoch; `on_step` (optional) is called after every child training step.
    MicroEpoch run_epoch(const std::function<void(const StepInfo&)>& on_step = {});

    // Checkpoint "cudarts-enas-micro" (safetensors, written atomically): the supernet's weights
    // and BN buffers under the reference's names, the SGD momentum buffer, the controller's
    // weights ("controller.<name>") and Adam moments ("controller.adam.exp_avg", ".exp_avg_sq"),
    // and in the metadata the epoch, options, best genotype and "micro_state" (baseline, Adam
    // step, best accuracy, Katib-mode reward history).
    void save(const std::string& path, const std::map<std::string, std::string>& extra = {}) const;
    // Restores a checkpoint written by save() for the same model; InputError naming the file
    // otherwise. The run keeps its own options.
    void load(const std::string& path);

    const Genotype& best() const { return best_; }  // empty before the first epoch
    double best_acc() const { return best_acc_; }
    const MicroOptions& options() const { return opt_; }
    SearchNetwork& network() { return net_; }
    MicroController& controller() { return controller_; }
    const Sgd& weight_optimizer() const { return sgd_; }
    const std::vector<double>& reward_history() const { return rewards_; }  // katib_reward only

private:
    BatchRequest held_out_batch(uint64_t stream, uint64_t position) const;
    int64_t correct(const Genotype& g, const Batch& b);  // top-1 hits, batch statistics, no tape
    Genotype sample(uint64_t stream, uint64_t position, MicroArch* arch = nullptr) const;

    MicroOptions opt_;
    const ImageDataset& data_;
    Device dev_;
    int64_t split_ = 0;
    SearchNetwork net_;
    Sgd sgd_;
    MicroController controller_;
    int epoch_ = 0;
    Genotype best_;
    double best_acc_ = 0;
    std::vector<double> rewards_;
};

}  // namespace cudarts::enas
