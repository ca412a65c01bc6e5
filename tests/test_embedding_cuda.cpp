// CUDA embedding against the CPU reference (kernels/embedding.h). The forward is a copy and the
// backward adds each table row's dy rows in position order exactly as the CPU loop does, so both
// must match bitwise, for both backward versions and the launcher, in both write modes. Cases
// cover n above and below vocab (the launcher's switch), heavy repetition (hundreds of hits in
// one 256-id step), dims wider than a block, the DARTS language model's batches, out-of-range ids
// (NaN rows forward, ignored backward) and n = 0. Runs only with a GPU.
#if CUDARTS_HAS_CUDA

#include <cmath>
#include <cstdint>
#include <ostream>
#include <vector>

#include "kernels/check.h"
#include "kernels/embedding.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

struct EmbeddingCase {
    int64_t n;
    int vocab, dim;
    int distinct;  // ids drawn from [0, distinct): distinct < vocab forces repeats
};
std::ostream& operator<<(std::ostream& os, const EmbeddingCase& c) {
    return os << "EmbeddingCase{n=" << c.n << " vocab=" << c.vocab << " dim=" << c.dim
              << " distinct=" << c.distinct << "}";
}

// Odd sizes on both sides of n == vocab; 3000 ids over 7 rows of a 10000-word table (hundreds
// of hits per 256-id step); dim 513 (more than two strides of a 256-thread block); the DARTS
// PTB language model: search (batch 256 x bptt 35 = 8960 ids, emsize 300) and training
// (batch 64 x 35 = 2240 ids, emsize 850), vocab 10000.
std::vector<EmbeddingCase> embedding_cases() {
    return {
        {7, 5, 3, 5},
        {1, 1, 1, 1},
        {100, 1000, 17, 1000},
        {5000, 7, 33, 7},
        {3000, 10000, 40, 7},
        {300, 1000, 513, 1000},
        {8960, 10000, 300, 10000},
        {2240, 10000, 850, 10000},
    };
}

using BwdVersion = cuda::EmbeddingBwdVersion;

// The registered versions, then the launcher.
std::vector<BwdVersion> bwd_runs() {
    std::vector<BwdVersion> runs(cuda::embedding_bwd_versions().begin(),
                                 cuda::embedding_bwd_versions().end());
    runs.push_back({"launcher", cuda::embedding_bwd});
    return runs;
}

TEST_SUITE("cuda_embedding") {
    TEST_CASE("embedding fwd cuda: bitwise equal to cpu") {
        for (const EmbeddingCase& c : embedding_cases()) {
            CAPTURE(c);
            const std::vector<int32_t> ids = labels(c.n, c.distinct, 1);
            const std::vector<float> table = uniform(int64_t(c.vocab) * c.dim, 2);
            std::vector<float> want(size_t(c.n * c.dim));
            cpu::embedding_fwd(want.data(), ids.data(), table.data(), c.n, c.vocab, c.dim);
            const DeviceInts ids_dev(ids);
            const DeviceVec table_dev(table), y_dev = DeviceVec::poisoned(c.n * c.dim);
            cuda::embedding_fwd(y_dev.data(), ids_dev.data(), table_dev.data(), c.n, c.vocab, c.dim,
                                test_stream());
            check_close(fetch(y_dev), want, 0, 0, "y");
        }
    }

    TEST_CASE("embedding bwd cuda: every version bitwise equal to cpu, overwrite and accumulate") {
        for (const EmbeddingCase& c : embedding_cases()) {
            CAPTURE(c);
            const std::vector<int32_t> ids = labels(c.n, c.distinct, 3);
            const std::vector<float> dy = uniform(c.n * c.dim, 4);
            const std::vector<float> start = uniform(int64_t(c.vocab) * c.dim, 5);
            std::vector<float> want(start.size()), want_acc = start;
            cpu::embedding_bwd(want.data(), dy.data(), ids.data(), c.n, c.vocab, c.dim,
                               GradMode::kOverwrite);
            cpu::embedding_bwd(want_acc.data(), dy.data(), ids.data(), c.n, c.vocab, c.dim,
                               GradMode::kAccumulate);
            const DeviceInts ids_dev(ids);
            const DeviceVec dy_dev(dy);
            for (const BwdVersion& v : bwd_runs()) {
                CAPTURE(v.name);
                const DeviceVec dt_dev = DeviceVec::poisoned(int64_t(start.size())), acc_dev(start);
                v.launch(dt_dev.data(), dy_dev.data(), ids_dev.data(), c.n, c.vocab, c.dim,
                         GradMode::kOverwrite, test_stream());
                check_close(fetch(dt_dev), want, 0, 0, "dtable overwrite");
                v.launch(acc_dev.data(), dy_dev.data(), ids_dev.data(), c.n, c.vocab, c.dim,
                         GradMode::kAccumulate, test_stream());
                check_close(fetch(acc_dev), want_acc, 0, 0, "dtable accumulate");
            }
        }
    }

    TEST_CASE("embedding cuda: out-of-range ids give NaN rows forward and nothing backward") {
        // The device cannot throw as cpu:: does; the reference is the CPU on the valid ids alone.
        const int vocab = 6, dim = 5;
        const std::vector<int32_t> ids = {2, -1, 5, 6, 2, 0, 1000};
        const std::vector<bool> valid = {true, false, true, false, true, true, false};
        const int64_t n = int64_t(ids.size());
        const std::vector<float> table = uniform(vocab * dim, 6), dy = uniform(n * dim, 7);
        const DeviceInts ids_dev(ids);
        const DeviceVec table_dev(table), y_dev = DeviceVec::poisoned(n * dim), dy_dev(dy);

        cuda::embedding_fwd(y_dev.data(), ids_dev.data(), table_dev.data(), n, vocab, dim,
                            test_stream());
        const std::vector<float> y = fetch(y_dev);
        for (int64_t i = 0; i < n; ++i)
            for (int d = 0; d < dim; ++d) {
                const float got = y[size_t(i * dim + d)];
                if (valid[size_t(i)])
                    CHECK(got == table[size_t(ids[size_t(i)] * dim + d)]);
                else
                    CHECK(std::isnan(got));
            }

        std::vector<int32_t> good_ids;
        std::vector<float> good_dy;
        for (int64_t i = 0; i < n; ++i)
            if (valid[size_t(i)]) {
                good_ids.push_back(ids[size_t(i)]);
                good_dy.insert(good_dy.end(), dy.begin() + i * dim, dy.begin() + (i + 1) * dim);
            }
        std::vector<float> want(size_t(vocab * dim));
        cpu::embedding_bwd(want.data(), good_dy.data(), good_ids.data(), int64_t(good_ids.size()),
                           vocab, dim, GradMode::kOverwrite);
        for (const BwdVersion& v : bwd_runs()) {
            CAPTURE(v.name);
            const DeviceVec dt_dev = DeviceVec::poisoned(vocab * dim);
            v.launch(dt_dev.data(), dy_dev.data(), ids_dev.data(), n, vocab, dim,
                     GradMode::kOverwrite, test_stream());
            check_close(fetch(dt_dev), want, 0, 0, "dtable");
        }
    }

    TEST_CASE("embedding cuda: n = 0 writes no y, zeroes dtable under overwrite; bad sizes throw") {
        const std::vector<float> sevens(12, 7.f);
        for (const BwdVersion& v : bwd_runs()) {
            CAPTURE(v.name);
            const DeviceVec dt_dev(sevens), acc_dev(sevens);
            v.launch(dt_dev.data(), nullptr, nullptr, 0, 4, 3, GradMode::kOverwrite, test_stream());
            v.launch(acc_dev.data(), nullptr, nullptr, 0, 4, 3, GradMode::kAccumulate,
                     test_stream());
            CHECK(fetch(dt_dev) == std::vector<float>(12, 0.f));
            CHECK(fetch(acc_dev) == sevens);
            CHECK_THROWS_AS(v.launch(dt_dev.data(), nullptr, nullptr, 0, 0, 3, GradMode::kOverwrite,
                                     test_stream()),
                            Error);
        }
        cuda::embedding_fwd(nullptr, nullptr, nullptr, 0, 4, 3, test_stream());
        CHECK_THROWS_AS(cuda::embedding_fwd(nullptr, nullptr, nullptr, -1, 4, 3, test_stream()),
                        Error);
        CHECK_THROWS_AS(cuda::embedding_fwd(nullptr, nullptr, nullptr, 2, 4, 0, test_stream()),
                        Error);
    }

}  // TEST_SUITE

}  // namespace
}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
