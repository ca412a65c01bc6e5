// Embedding lookup: y[i, :] = table[ids[i], :] for n ids, table (vocab, dim), fp32.
// Backward scatters: dtable[ids[i], :] += dy[i, :]. With GradMode::kOverwrite the whole table
// gradient is first zeroed (rows never looked up get zero); repeated ids add up.
// ids outside [0, vocab) throw Error naming the id and its position.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/common.h"

namespace cudarts::cpu {

void embedding_fwd(float* y, const int32_t* ids, const float* table, int64_t n, int vocab, int dim);
void embedding_bwd(float* dtable, const float* dy, const int32_t* ids, int64_t n, int vocab,
                   int dim, GradMode mode);

}  // namespace cudarts::cpu

namespace cudarts::cuda {

// The CUDA twins. ids live on the device and are not checked against vocab before launching
// (that would need a device-to-host copy and a sync): an id outside [0, vocab) makes its row of
// y NaN in the forward and contributes nothing to dtable in the backward. The backward is
// deterministic and bitwise equal to cpu::embedding_bwd (same additions in position order).
void embedding_fwd(float* y, const int32_t* ids, const float* table, int64_t n, int vocab, int dim,
                   Stream st);
void embedding_bwd(float* dtable, const float* dy, const int32_t* ids, int64_t n, int vocab,
                   int dim, GradMode mode, Stream st);

// The backward's versions ("v1": a block per table row, "v2": a block per id's first position;
// kernels/cuda/embedding.cu), for the tests and the benchmark.
struct EmbeddingBwdVersion {
    const char* name;
    void (*launch)(float* dtable, const float* dy, const int32_t* ids, int64_t n, int vocab,
                   int dim, GradMode mode, Stream st);
};
std::span<const EmbeddingBwdVersion> embedding_bwd_versions();

}  // namespace cudarts::cuda
