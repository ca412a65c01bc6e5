// Reference embedding lookup, fp32 (semantics in kernels/embedding.h, torch.nn.Embedding without
// padding_idx or max_norm). Forward copies table rows; backward scatters dy rows back into the
// table gradient, so an id seen twice receives the sum of both rows of dy.
// Every id is checked before anything is written: a bad id leaves y and dtable untouched.
#include "kernels/embedding.h"

#include <algorithm>

#include "kernels/check.h"

namespace cudarts::cpu {

namespace {

void check_args(const int32_t* ids, int64_t n, int vocab, int dim, const char* fn) {
    CUDARTS_CHECK(n >= 0, fn << ": n=" << n << " must be >= 0");
    CUDARTS_CHECK(vocab > 0, fn << ": vocab=" << vocab << " must be positive");
    CUDARTS_CHECK(dim > 0, fn << ": dim=" << dim << " must be positive");
    for (int64_t i = 0; i < n; ++i)
        CUDARTS_CHECK(ids[i] >= 0 && ids[i] < vocab, fn << ": id " << ids[i] << " at position " << i
                                                        << " is outside [0, " << vocab << ")");
}

}  // namespace

void embedding_fwd(float* y, const int32_t* ids, const float* table, int64_t n, int vocab,
                   int dim) {
    check_args(ids, n, vocab, dim, "embedding_fwd");
    for (int64_t i = 0; i < n; ++i) {
        const float* row = table + int64_t(ids[i]) * dim;
        std::copy(row, row + dim, y + i * dim);
    }
}

void embedding_bwd(float* dtable, const float* dy, const int32_t* ids, int64_t n, int vocab,
                   int dim, GradMode mode) {
    check_args(ids, n, vocab, dim, "embedding_bwd");
    // Overwrite means "the gradient of this call alone": rows no id points at are zero.
    if (mode == GradMode::kOverwrite) std::fill(dtable, dtable + int64_t(vocab) * dim, 0.f);
    for (int64_t i = 0; i < n; ++i) {
        float* row = dtable + int64_t(ids[i]) * dim;
        for (int d = 0; d < dim; ++d) row[d] += dy[i * dim + d];
    }
}

}  // namespace cudarts::cpu
