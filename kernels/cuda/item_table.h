// Groups of independent same-shaped problems in one launch (batch_norm_group, conv2d_group): the
// launcher copies up to kChunk items (each a few pointers) into a table passed by value in the
// kernel's arguments, and blockIdx.y picks a block's item. The kernels take the table as a
// __grid_constant__ parameter, so indexing it by blockIdx.y reads the argument in place instead of
// copying the table to local memory; a single problem is a table of one. No device memory is
// allocated or uploaded for the pointers. Include only from .cu files.
#pragma once

#include <span>

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

}  // namespace cudarts::cuda
