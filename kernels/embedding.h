// Embedding lookup: y[i, :] = table[ids[i], :] for n ids, table (vocab, dim), fp32.
// Backward scatters: dtable[ids[i], :] += dy[i, :]. With GradMode::kOverwrite the whole table
// gradient is first zeroed (rows never looked up get zero); repeated ids add up.
// ids outside [0, vocab) throw Error naming the id and its position.
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace cudarts::cpu {

void embedding_fwd(float* y, const int32_t* ids, const float* table, int64_t n, int vocab,
                   int dim);
void embedding_bwd(float* dtable, const float* dy, const int32_t* ids, int64_t n, int vocab,
                   int dim, GradMode mode);

}  // namespace cudarts::cpu
