// Embedding lookup and its scatter-add backward on the GPU, fp32 (semantics in
// kernels/embedding.h, reference cpu/embedding.cpp).
// Forward: a gather, one thread per y element; 8 B per element (table read, y written), so
// bandwidth-bound. An id outside [0, vocab) cannot throw from the device; its row of y is NaN.
// Backward: dtable[ids[i], :] += dy[i, :]. A thread per (i, d) with float atomicAdd would be
// fast but adds repeated ids in a run-to-run varying order. Both versions here instead give
// each table row to exactly one block, which adds that row's dy rows in position order: no
// atomics, no workspace, and the same float additions as the CPU loop, so the result is bitwise
// equal to cpu::embedding_bwd. Overwrite zeroes the whole table gradient first (a memset), as
// the CPU does; then only looked-up rows are touched. What each block must find is the ordered
// list of positions holding its id: each block tests 256 ids per step, and a warp ballot plus a
// prefix over the 8 warps compacts the hits in order. dy traffic is minimal (each dy row read
// once); the price is id comparisons:
//   v1  one block per table row scans all n ids: n * vocab comparisons
//   v2  one block per position i: it first scans ids[0, i) and exits if ids[i] occurred
//       before, else it owns row ids[i] and scans ids[i, n): about n^2 / 2 comparisons
// The launcher picks v2 when n <= vocab (a language-model batch: n = 35 * 64 = 2240 tokens
// against vocab 10000, about 2.5 M comparisons) and v1 otherwise. Each comparison is a coalesced
// 4 B load that L1 and L2 serve after the first block, so we expect microseconds at DARTS sizes
// (not yet measured); both grow quadratically for huge n and vocab together, where a sort-based
// scatter (with a workspace) would win.
#include <span>

#include "kernels/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/embedding.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;
constexpr int kWarps = kBlock / 32;

void check_args(int64_t n, int vocab, int dim, const char* fn) {
    CUDARTS_CHECK(n >= 0, fn << ": n=" << n << " must be >= 0");
    CUDARTS_CHECK(vocab > 0, fn << ": vocab=" << vocab << " must be positive");
    CUDARTS_CHECK(dim > 0, fn << ": dim=" << dim << " must be positive");
}

// One thread per y element (i, d), d fastest.
__global__ void embedding_fwd_kernel_v1(float* __restrict__ y, const int32_t* __restrict__ ids,
                                        const float* __restrict__ table, int64_t n, int vocab,
                                        int dim) {
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= n * dim) return;
    const int32_t id = ids[idx / dim];
    y[idx] = (id >= 0 && id < vocab) ? table[int64_t(id) * dim + idx % dim]
                                     : __int_as_float(0x7fc00000);  // quiet NaN
}

// Called by the whole block: stores in `hits`, in increasing order, the offsets t in
// [0, kBlock) with base + t < n and ids[base + t] == row, and returns how many (the same value in
// every thread). `warp_hits` is kWarps ints of shared scratch.
__device__ int find_row(const int32_t* __restrict__ ids, int64_t base, int64_t n, int32_t row,
                        int* hits, int* warp_hits) {
    const int lane = int(threadIdx.x % 32), warp = int(threadIdx.x / 32);
    const int64_t i = base + threadIdx.x;
    const bool hit = i < n && ids[i] == row;
    const unsigned ballot = __ballot_sync(0xffffffffu, hit);
    if (lane == 0) warp_hits[warp] = __popc(ballot);
    __syncthreads();
    int before = 0, total = 0;
    for (int k = 0; k < kWarps; ++k) {
        if (k < warp) before += warp_hits[k];
        total += warp_hits[k];
    }
    if (hit) hits[before + __popc(ballot & ((1u << lane) - 1u))] = int(threadIdx.x);
    __syncthreads();  // hits complete; warp_hits free for the next call once all have read it
    return total;
}

// out[d] += dy[base + hits[h], d] for every hit h in order, the block's threads striding d.
__device__ void add_rows(float* __restrict__ out, const float* __restrict__ dy, int64_t base,
                         const int* hits, int count, int dim) {
    for (int d = threadIdx.x; d < dim; d += kBlock) {
        float acc = out[d];
        for (int h = 0; h < count; ++h) acc += dy[(base + hits[h]) * dim + d];
        out[d] = acc;
    }
}

// One block per table row (blockIdx.x); see the file note.
__global__ void __launch_bounds__(kBlock)
    embedding_bwd_kernel_v1(float* __restrict__ dtable, const float* __restrict__ dy,
                            const int32_t* __restrict__ ids, int64_t n, int dim) {
    __shared__ int hits[kBlock];
    __shared__ int warp_hits[kWarps];
    const int32_t row = int32_t(blockIdx.x);
    float* out = dtable + int64_t(row) * dim;
    for (int64_t base = 0; base < n; base += kBlock) {
        const int count = find_row(ids, base, n, row, hits, warp_hits);
        if (count > 0) add_rows(out, dy, base, hits, count, dim);
    }
}

// One block per position (blockIdx.x); only the block of an id's first position writes its row.
__global__ void __launch_bounds__(kBlock)
    embedding_bwd_kernel_v2(float* __restrict__ dtable, const float* __restrict__ dy,
                            const int32_t* __restrict__ ids, int64_t n, int vocab, int dim) {
    __shared__ int hits[kBlock];
    __shared__ int warp_hits[kWarps];
    const int64_t first = blockIdx.x;
    const int32_t row = ids[first];
    if (row < 0 || row >= vocab) return;  // the same id for the whole block, so all leave
    bool seen = false;                    // block-uniform: the result of __syncthreads_or
    for (int64_t base = 0; base < first && !seen; base += kBlock) {
        const int64_t i = base + threadIdx.x;
        seen = __syncthreads_or(i < first && ids[i] == row) != 0;
    }
    if (seen) return;
    float* out = dtable + int64_t(row) * dim;
    for (int64_t base = first; base < n; base += kBlock) {
        const int count = find_row(ids, base, n, row, hits, warp_hits);
        if (count > 0) add_rows(out, dy, base, hits, count, dim);
    }
}

// Overwrite means "the gradient of this call alone": every row starts from zero.
void zero_if_overwrite(float* dtable, int vocab, int dim, GradMode mode, Stream st) {
    if (mode == GradMode::kOverwrite)
        CUDARTS_CUDA_CHECK(
            cudaMemsetAsync(dtable, 0, size_t(vocab) * size_t(dim) * sizeof(float), st));
}

void embedding_bwd_v1(float* dtable, const float* dy, const int32_t* ids, int64_t n, int vocab,
                      int dim, GradMode mode, Stream st) {
    check_args(n, vocab, dim, "embedding_bwd v1");
    zero_if_overwrite(dtable, vocab, dim, mode, st);
    if (n == 0) return;
    embedding_bwd_kernel_v1<<<vocab, kBlock, 0, st>>>(dtable, dy, ids, n, dim);
    CUDARTS_CHECK_LAUNCH();
}

void embedding_bwd_v2(float* dtable, const float* dy, const int32_t* ids, int64_t n, int vocab,
                      int dim, GradMode mode, Stream st) {
    check_args(n, vocab, dim, "embedding_bwd v2");
    zero_if_overwrite(dtable, vocab, dim, mode, st);
    if (n == 0) return;
    embedding_bwd_kernel_v2<<<blocks_for(n, 1), kBlock, 0, st>>>(dtable, dy, ids, n, vocab, dim);
    CUDARTS_CHECK_LAUNCH();
}

const EmbeddingBwdVersion kBwdVersions[] = {
    {"v1", embedding_bwd_v1},
    {"v2", embedding_bwd_v2},
};

}  // namespace

void embedding_fwd(float* y, const int32_t* ids, const float* table, int64_t n, int vocab, int dim,
                   Stream st) {
    check_args(n, vocab, dim, "embedding_fwd");
    const int64_t outputs = n * dim;
    if (outputs == 0) return;
    embedding_fwd_kernel_v1<<<blocks_for(outputs, kBlock), kBlock, 0, st>>>(y, ids, table, n, vocab,
                                                                            dim);
    CUDARTS_CHECK_LAUNCH();
}

void embedding_bwd(float* dtable, const float* dy, const int32_t* ids, int64_t n, int vocab,
                   int dim, GradMode mode, Stream st) {
    if (n <= vocab)
        embedding_bwd_v2(dtable, dy, ids, n, vocab, dim, mode, st);
    else
        embedding_bwd_v1(dtable, dy, ids, n, vocab, dim, mode, st);
}

std::span<const EmbeddingBwdVersion> embedding_bwd_versions() { return kBwdVersions; }

}  // namespace cudarts::cuda
