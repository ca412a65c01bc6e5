// Tensor handles and the Generator: shapes, views sharing storage, copies, dtype checks, and the
// Philox stream's determinism across fills and resumption.
#include "engine/rng.h"
#include "engine/tensor.h"
#include "kernels/check.h"
#include "tests/util.h"

using namespace cudarts;

TEST_SUITE("tensor") {
    TEST_CASE("tensor: shape, numel and typed data") {
        Tensor t = Tensor::zeros({3, 5, 7});
        CHECK(t.numel() == 105);
        CHECK(t.size(-1) == 7);
        CHECK(t.nbytes() == 420);
        CHECK(t.dtype() == DType::kF32);
        CHECK(t.device() == Device::cpu());
        CHECK_THROWS_AS(t.i32(), Error);
        CHECK_THROWS_AS(t.size(3), Error);
        Tensor i = Tensor::from_vector(std::vector<int32_t>{1, 2, 3}, {3});
        CHECK(i.to_vector_i32() == std::vector<int32_t>{1, 2, 3});
        CHECK_THROWS_AS(Tensor::from_vector(std::vector<float>{1, 2}, {3}), Error);
    }

    TEST_CASE("tensor: views share storage, clones do not") {
        Tensor t = Tensor::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
        Tensor row = t.view(3, {3});
        row.fill_(9.f);
        CHECK(t.to_vector() == std::vector<float>{0, 1, 2, 9, 9, 9});
        Tensor c = t.clone();
        c.zero_();
        CHECK(t.to_vector()[0] == 0.f);
        CHECK(t.to_vector()[5] == 9.f);
        CHECK(t.reshape({3, 2}).shares_storage(t));
        CHECK_FALSE(c.shares_storage(t));
        CHECK_THROWS_AS(t.view(4, {3}), Error);
        CHECK_THROWS_AS(t.reshape({4}), Error);
        Tensor r = row.view(1, {2});  // a view of a view keeps the combined offset
        CHECK(r.to_vector() == std::vector<float>{9, 9});
        r.copy_(Tensor::from_vector(std::vector<float>{7, 8}, {2}));
        CHECK(t.to_vector() == std::vector<float>{0, 1, 2, 9, 7, 8});
    }

    TEST_CASE("generator: same seed and offset give the same numbers, offsets advance") {
        Generator a(42), b(42);
        Tensor x = Tensor::empty({1000}), y = Tensor::empty({1000});
        a.uniform_(x);
        b.uniform_(y);
        CHECK(x.to_vector() == y.to_vector());
        CHECK(a.offset() == 1);
        a.uniform_(x);
        CHECK(x.to_vector() != y.to_vector());
        // Resuming from a saved state reproduces the stream.
        Generator c(42);
        c.set_state(42, 1);
        c.uniform_(y);
        CHECK(x.to_vector() == y.to_vector());
        // Host draws are in range and also resumable.
        Generator d(7), e(7);
        for (int i = 0; i < 100; ++i) {
            const uint64_t v = d.below(10);
            CHECK(v < 10);
            CHECK(v == e.below(10));
        }
    }
}
