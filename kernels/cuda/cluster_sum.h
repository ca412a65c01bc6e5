// Fixed-order sums over a thread-block cluster, the v2 reductions of batchnorm.cu, reduce.cu,
// optim.cu and mixed_op.cu share them; include only from .cu files. Needs sm_90 (clusters).
// A sum of m values is split into kClusterSize contiguous ranges, one per block (cluster rank) of
// the cluster. Each block reduces its range (range_stride_partial, thread_index.h, or a
// compensated sum) with a block-wide tree and writes the result into a slot of its own shared
// memory; after cluster.sync, any thread that needs the total adds the ranks' slots in rank order
// through distributed shared memory (map_shared_rank). Every rank that adds them gets the same
// bits, so the result depends only on m and the values, never on scheduling: deterministic, no
// atomics and no workspace in global memory (kernels/ never allocates). A cluster spreads one sum
// over kClusterSize SMs instead of one; independent sums (one per channel, one per candidate) run
// as independent clusters of the same grid.
#pragma once

#include <cooperative_groups.h>  // thread-block clusters and distributed shared memory

#include <cstdint>
#include <cub/block/block_reduce.cuh>  // deterministic block-wide tree reduction

#include "kernels/check.h"
#include "kernels/cuda/thread_index.h"

namespace cudarts::cuda {

namespace cg = cooperative_groups;

// Blocks per cluster: the portable maximum, which every sm_90 device launches without opting in.
inline constexpr int kClusterSize = 8;

// Whether n values give every thread of a cluster of `block`-thread blocks at least one: where a
// v2 (cluster) sum applies.
inline bool fills_cluster(int64_t n, int block) { return n >= int64_t(kClusterSize) * block; }

// Throws unless fills_cluster(n, block), naming the launcher fn: "fn v2: n=..., expected ...".
inline void check_fills_cluster(int64_t n, int block, const char* fn) {
    CUDARTS_CHECK(fills_cluster(n, block),
                  fn << " v2: n=" << n << ", expected at least " << int64_t(kClusterSize) * block);
}

// The values [begin, end) of m that cluster rank `rank` reduces: the rank-th of kClusterSize
// contiguous ranges (they differ in length by at most one).
struct RankRange {
    int64_t begin, end;
};
__device__ inline RankRange rank_range(int64_t m, int rank) {
    return {m * rank / kClusterSize, m * (rank + 1) / kClusterSize};
}

// Thread 0 of the block writes the block's total of v (a cub::BlockReduce tree) into
// partial[slot]. The barrier lets the caller reuse `tmp` at once.
template <class BlockReduce>
__device__ void publish_block_sum(float v, typename BlockReduce::TempStorage& tmp, float* partial,
                                  int slot) {
    const float t = BlockReduce(tmp).Sum(v);  // valid in thread 0 only
    if (threadIdx.x == 0) partial[slot] = t;
    __syncthreads();
}

// The sum over the cluster of every rank's partial[slot], added in rank order. Call after a
// cluster.sync that follows the partials' writes, and keep every block alive (another
// cluster.sync) until no rank reads another's partials any more.
__device__ inline float cluster_total(const cg::cluster_group& cluster, float* partial, int slot) {
    float total = 0.f;
    for (int r = 0; r < kClusterSize; ++r) total += cluster.map_shared_rank(partial, r)[slot];
    return total;
}

// The cluster's sum of term(i) over i < n in a fixed order, returned in thread 0 of rank 0 (0 in
// every other thread): each rank sums its range in its threads' Block-stride order, a block tree
// adds the threads, rank order adds the ranks. Every thread of every block of the cluster must
// call it; it returns only when no rank reads another's shared memory any more.
template <int Block, int Unroll, class Term>
__device__ float cluster_sum(int64_t n, const Term& term) {
    using Reduce = cub::BlockReduce<float, Block>;
    __shared__ typename Reduce::TempStorage tmp;
    __shared__ float partial[1];
    const cg::cluster_group cluster = cg::this_cluster();
    const RankRange r = rank_range(n, int(cluster.block_rank()));
    publish_block_sum<Reduce>(range_stride_partial<Block, Unroll>(r.begin, r.end, term), tmp,
                              partial, 0);
    cluster.sync();  // every rank's partial is written
    float total = 0.f;
    if (cluster.block_rank() == 0 && threadIdx.x == 0) total = cluster_total(cluster, partial, 0);
    cluster.sync();  // rank 0 has read them all: blocks may exit
    return total;
}

}  // namespace cudarts::cuda
