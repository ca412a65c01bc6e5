// The search-step benchmark behind `cudarts bench step` (issue 15, reference/performance.md 7):
// the DARTS search (models/run/search.h) at CIFAR-10 shapes by default (C=16, 8 cells, 4 nodes,
// 3x32x32 images, 10 classes, batch 64) on synthetic images (data/dataset.h make_synthetic), one
// training and one validation batch uploaded once before the clock starts, so that no step pays
// for data loading. It runs `warmup` untimed steps, then `steps` timed ones; a step is
// Search::step: the architect's α step (first or second order) plus the weight step.
//
// Each step is timed on the host clock and synchronized at both ends (on CUDA by reading α back,
// which waits for all queued work on the legacy default stream every launcher uses), so host
// overhead counts, as a search pays it. Around every step the runtime counters
// (engine/counters.h) are reset and read before the closing synchronisation, so a step's counts
// are its own: kernel launches, cuBLAS calls, cudaMallocs, host synchronisations, host-to-device
// copies and the peak of device bytes in use (persistent weights, optimizer state and batches
// included), and the launches by kernel family (the kernels/cuda file that launched them). On the
// CPU every count is 0. The report gives the first step's counts (where the
// caching allocator fills up) and, per timed step, the median time with min and max and the
// largest of each count (in a steady state every timed step has the same counts).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/counters.h"
#include "engine/device.h"
#include "models/darts/search_network.h"

namespace cudarts::bench {

struct StepBenchOptions {
    Device device = Device::cpu();
    bool second_order = false;
    int batch = 64;   // >= 2: the search's batch norm needs two samples
    int steps = 20;   // timed steps, >= 1
    int warmup = 10;  // untimed steps first, >= 0
    // The search network; its in_channels and classes are those below. Defaults: CIFAR-10's.
    SearchNetConfig net;
    int image_channels = 3, image_size = 32, classes = 10;
    uint64_t seed = 2;  // network initialisation and synthetic images

    // InputError naming the flag (--batch, --steps, --warmup, --image-size); the network's own
    // settings are checked by the search (SettingError).
    void validate() const;
};

struct StepSample {
    double seconds = 0;
    double loss = 0;         // the weight step's training loss
    RuntimeCounters counts;  // this step's events; bytes_in_use and peak_bytes at its end
    std::vector<FamilyLaunches> families;  // this step's launches by kernel family
};

struct StepBenchReport {
    std::string device;  // describe(options.device)
    StepBenchOptions options;
    std::vector<StepSample> warmup_steps, timed_steps;
    double median_s = 0, min_s = 0, max_s = 0;  // over the timed steps
    RuntimeCounters per_step;                   // the largest of each count over the timed steps
};

// Builds the search and runs it. `on_step` (optional) is told after every step: its 0-based index
// over warmup and timed steps, the total, and whether it was timed (for progress lines).
StepBenchReport run_step_bench(const StepBenchOptions& opt,
                               const std::function<void(int, int, bool)>& on_step = {});

// The table printed on stdout, and the JSON written by --json.
std::string format_step_table(const StepBenchReport& r);
nlohmann::json step_to_json(const StepBenchReport& r);

}  // namespace cudarts::bench
