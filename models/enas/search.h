// The `enas` search (macro mode): Katib's controller, encoding and settings (reference/katib.md
// 2.6-2.8) over Katib's search space, with the children sharing their weights
// (models/enas/shared.h) as in the ENAS paper instead of each trial training from scratch.
//
// Epoch e:
//   1. child_steps training batches, each with a freshly sampled child: the child's loss on the
//      batch, a backward into the shared blocks it reads, one Adam step on those blocks.
//   2. controller_train_steps updates: each samples a child, scores it by its accuracy on one
//      held-out batch and runs REINFORCE on that child's log-probability with that reward.
//      With katib_reward, the scored children are Katib's trials instead: R is the mean reward of
//      every child scored so far, and each update samples a fresh architecture for that R (2.8:
//      no reward is tied to the architecture that earned it), for comparison.
//   3. eval_children sampled children scored on the whole held-out split; the best is the
//      epoch's (and, after the last epoch, the run's) answer.
// A child that cannot be built on the images (a pool window larger than its map) is not trained
// and scores 0, which teaches the controller to avoid it.
// Every random choice is a function of the seed and the (epoch, step), so a checkpoint taken at
// an epoch boundary resumes the run bitwise on the CPU.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "models/enas/controller.h"
#include "models/enas/shared.h"
#include "models/enas/space.h"
#include "models/run/loop.h"

namespace cudarts::enas {

struct EnasOptions {
    ControllerSettings controller;
    int epochs = 10;
    int child_steps = 50;  // shared-weight training batches per epoch
    int batch_size = 128;
    float child_lr = 1e-3f;  // Adam on the shared weights (the trial's optimizer)
    int eval_children = 10;  // children scored on the whole held-out split after each epoch
    bool katib_reward = false;
    uint64_t seed = 0;

    void validate() const;  // SettingError naming the setting
    nlohmann::json to_json() const;
    static EnasOptions from_json(const nlohmann::json& j, const std::string& what);
};

struct EnasEpoch {
    int epoch = 0;
    double child_loss = 0, child_acc = 0;  // over the shared-weight training batches
    int unbuildable = 0;                   // sampled children that could not be built
    double reward_mean = 0, baseline = 0, controller_loss = 0, entropy = 0, skip_rate = 0,
           grad_norm = 0;  // means over the controller updates
    Architecture best;     // the best of this epoch's scored children
    double best_acc = 0;
    size_t shared_blocks = 0;
    int64_t shared_parameters = 0;
    double seconds = 0;
    nlohmann::json to_json() const;
};

class EnasSearch {
public:
    // `train` trains the shared weights, `valid` scores children; both held by reference.
    EnasSearch(SearchSpace space, EnasOptions opt, const ImageDataset& train,
               const ImageDataset& valid, Device dev);

    bool done() const { return epoch_ >= opt_.epochs; }
    int epoch() const { return epoch_; }
    int steps_per_epoch() const { return opt_.child_steps; }
    EnasEpoch run_epoch(const std::function<void(const StepInfo&)>& on_step = {});

    // Checkpoint (atomic): the controller's weights, Adam state and baseline, the shared blocks
    // with their Adam states, the reward history, the best child, the epoch, options and space.
    void save(const std::string& path, const std::map<std::string, std::string>& extra = {}) const;
    std::map<std::string, std::string> load(const std::string& path);

    const Architecture& best() const { return best_; }
    double best_acc() const { return best_acc_; }
    const SearchSpace& space() const { return space_; }
    const EnasOptions& options() const { return opt_; }
    Controller& controller() { return controller_; }
    const SharedWeights& shared() const { return shared_; }

private:
    // The child's plan, or nullopt when it cannot be built on these images.
    std::optional<ChildPlan> plan(const Architecture& arch) const;
    // Top-1 accuracy of the child on `batches` of the held-out split (0 when it cannot be built).
    double accuracy(const Architecture& arch, std::vector<BatchRequest> batches);

    SearchSpace space_;
    EnasOptions opt_;
    const ImageDataset &train_, &valid_;
    Device dev_;
    Controller controller_;
    SharedWeights shared_;
    std::vector<double> rewards_;  // every scored child's reward (katib_reward's history)
    Architecture best_;
    double best_acc_ = 0;
    int epoch_ = 0;
};

}  // namespace cudarts::enas
