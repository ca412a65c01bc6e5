// Oracles for the reference embedding: exact small-integer lookups and scatters (every value is
// a small integer, so sums are exact), a central-difference gradient of the table, both write
// modes and the out-of-range id error.
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "kernels/embedding.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

// vocab 4, dim 3: row v holds 10 v + (1, 2, 3), so a looked-up row names its own id.
const std::vector<float> kTable = {1, 2, 3, 11, 12, 13, 21, 22, 23, 31, 32, 33};

std::vector<float> lookup(const std::vector<int32_t>& ids, const std::vector<float>& table,
                          int vocab, int dim) {
    std::vector<float> y(ids.size() * size_t(dim));
    cpu::embedding_fwd(y.data(), ids.data(), table.data(), int64_t(ids.size()), vocab, dim);
    return y;
}

}  // namespace

TEST_SUITE("embedding") {
    TEST_CASE("embedding fwd: copies the looked-up rows, repeats included") {
        CHECK(lookup({2, 0, 2, 3}, kTable, 4, 3) ==
              std::vector<float>{21, 22, 23, 1, 2, 3, 21, 22, 23, 31, 32, 33});
        CHECK(lookup({}, kTable, 4, 3).empty());
    }

    TEST_CASE("embedding bwd: repeated ids sum, overwrite zeroes untouched rows") {
        const std::vector<int32_t> ids = {1, 3, 1, 1};
        const std::vector<float> dy = {1, 2, 3, 4, 5, 6, 10, 20, 30, 100, 200, 300};
        std::vector<float> dtable(12, 9.f);  // stale values that overwrite must clear
        cpu::embedding_bwd(dtable.data(), dy.data(), ids.data(), 4, 4, 3, GradMode::kOverwrite);
        CHECK(dtable == std::vector<float>{0, 0, 0, 111, 222, 333, 0, 0, 0, 4, 5, 6});
    }

    TEST_CASE("embedding bwd: accumulate adds onto the existing gradient") {
        const std::vector<int32_t> ids = {2, 2, 0};
        const std::vector<float> dy = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        std::vector<float> dtable = {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4};
        cpu::embedding_bwd(dtable.data(), dy.data(), ids.data(), 3, 4, 3, GradMode::kAccumulate);
        CHECK(dtable == std::vector<float>{8, 9, 10, 2, 2, 2, 8, 10, 12, 4, 4, 4});
    }

    TEST_CASE("embedding bwd: the table gradient matches central differences") {
        const int vocab = 7, dim = 5;
        const std::vector<int32_t> ids = labels(11, vocab, 1);  // 11 draws from 7: repeats and gaps
        const std::vector<float> table = uniform(int64_t(vocab) * dim, 2);
        const std::vector<float> r = uniform(int64_t(ids.size()) * dim, 3);  // loss = sum r y
        const auto loss = [&](const std::vector<float>& t) {
            return dot(r, lookup(ids, t, vocab, dim));
        };

        std::vector<float> dtable(table.size());
        cpu::embedding_bwd(dtable.data(), r.data(), ids.data(), int64_t(ids.size()), vocab, dim,
                           GradMode::kOverwrite);
        check_grad(dtable, numeric_grad(loss, table), "dtable");
    }

    TEST_CASE("embedding: an id outside [0, vocab) throws naming the id and its position") {
        std::vector<float> y(12, 5.f), dtable(12, 5.f);
        const std::vector<float> dy(12, 1.f);
        for (const std::vector<int32_t>& ids :
             {std::vector<int32_t>{0, 1, 2, 4}, std::vector<int32_t>{0, 1, 2, -1}}) {
            CAPTURE(ids[3]);
            const std::string id = "id " + std::to_string(ids[3]) + " at position 3";
            CHECK_THROWS_WITH_AS(cpu::embedding_fwd(y.data(), ids.data(), kTable.data(), 4, 4, 3),
                                 doctest::Contains(id.c_str()), cudarts::Error);
            CHECK_THROWS_WITH_AS(cpu::embedding_bwd(dtable.data(), dy.data(), ids.data(), 4, 4, 3,
                                                    GradMode::kOverwrite),
                                 doctest::Contains(id.c_str()), cudarts::Error);
        }
        // Ids are checked before anything is written.
        CHECK(y == std::vector<float>(12, 5.f));
        CHECK(dtable == std::vector<float>(12, 5.f));
    }

}  // TEST_SUITE("embedding")

}  // namespace cudarts
