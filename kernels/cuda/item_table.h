// Groups of same-shaped problems in one launch (batch_norm_group, conv2d_group): the
// launcher copies up to kChunk items (each a few pointers) into a table passed by value in the
// kernel's arguments, and blockIdx.y picks a block's item. The kernels take the table as a
// __grid_constant__ parameter, so indexing it by blockIdx.y reads the argument in place instead of
// copying the table to local memory; a single problem is a table of one. No device memory is
// allocated or uploaded for the pointers. Include only from .cu files.
#pragma once

#include <span>
#include <vector>

#include "kernels/common.h"

namespace cudarts::cuda {

template <class Item, int kChunk>
struct ItemTable {
    Item item[kChunk];
};

// Calls launch(table, count) for each run of up to kChunk items of `items` that pass `keep`, in
// order; count (>= 1) is the gridDim.y the launch should use.
template <int kChunk, class Item, class Keep, class Launch>
void for_each_chunk(std::span<const Item> items, const Keep& keep, const Launch& launch) {
    ItemTable<Item, kChunk> t{};
    unsigned count = 0;
    for (const Item& it : items) {
        if (!keep(it)) continue;
        t.item[count++] = it;
        if (count == kChunk) {
            launch(t, count);
            count = 0;
        }
    }
    if (count > 0) launch(t, count);
}

// for_each_chunk over every item.
template <int kChunk, class Item, class Launch>
void for_each_chunk(std::span<const Item> items, const Launch& launch) {
    for_each_chunk<kChunk>(
        items, [](const Item&) { return true; }, launch);
}

// A group whose items may share an output (the convs that read one input all add to its dx): a
// run is the items of one output, and a block of run r works through item[first[r]] ..
// item[first[r] + count[r] - 1] in order, as the single calls in sequence would, while the runs
// of one launch, distinct outputs, proceed at once. blockIdx.y picks the run.
template <class Item, int kChunk>
struct RunTable {
    Item item[kChunk];
    unsigned char first[kChunk], count[kChunk];
};

// A run's element after its item k adds acc under `mode`: what write_grad on dst after the run's
// first k + 1 single calls would leave, v being the value after item k - 1. dst (the element before
// the run) is read only when item 0 accumulates.
__device__ inline float run_step(float v, int k, const float& dst, float acc, GradMode mode) {
    return mode == GradMode::kOverwrite ? acc : (k == 0 ? dst : v) + acc;
}

// Calls launch(table, runs) for chunks of up to kChunk items of `items`, gathered into runs by
// out(item) in the order of each output's first item (an output's items keep their order); runs
// (>= 1) is the gridDim.y the launch should use. An output whose items do not fit the rest of a
// chunk continues in the next launch, which the stream runs after this one.
template <int kChunk, class Item, class Out, class Launch>
void for_each_run_chunk(std::span<const Item> items, const Out& out, const Launch& launch) {
    static_assert(kChunk <= 255, "RunTable counts in bytes");
    std::vector<const Item*> ordered;  // by output, each output's items in order
    std::vector<bool> placed(items.size(), false);
    for (size_t i = 0; i < items.size(); ++i) {
        if (placed[i]) continue;
        for (size_t j = i; j < items.size(); ++j) {
            if (placed[j] || out(items[j]) != out(items[i])) continue;
            placed[j] = true;
            ordered.push_back(&items[j]);
        }
    }
    RunTable<Item, kChunk> t{};
    unsigned n_items = 0, runs = 0;
    for (const Item* it : ordered) {
        if (n_items == kChunk) {
            launch(t, runs);
            n_items = runs = 0;
        }
        if (runs == 0 || out(t.item[n_items - 1]) != out(*it)) {
            t.first[runs] = static_cast<unsigned char>(n_items);
            t.count[runs++] = 0;
        }
        t.item[n_items++] = *it;
        ++t.count[runs - 1];
    }
    if (runs > 0) launch(t, runs);
}

}  // namespace cudarts::cuda
