// Pieces of the tape-level gradient checks shared by the CPU suites (test_autograd.cpp,
// test_pad.cpp): a seeded leaf, a random linear probe of an op's output, and the verdict on a
// grad_check result.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "tests/util.h"

namespace cudarts::test {

// A leaf that wants a gradient, holding seeded uniform values in [-1, 1).
inline Var leaf(const Shape& shape, uint64_t seed, const char* name = "x") {
    return Var(Tensor::from_vector(uniform(shape_numel(shape), seed), shape), true, name);
}

// A random linear functional of y, so every output element matters with a distinct weight.
inline Var probe(const Var& y, uint64_t seed = 99) {
    Var r(Tensor::from_vector(uniform(y.numel(), seed), y.shape()));
    return sum(mul(y, r));
}

// Passes when every checked gradient matched its central difference and something was checked.
inline void expect_ok(const GradCheckResult& r) {
    CHECK_MESSAGE(r.ok, r.report);
    CHECK(r.checked > 0);
}

}  // namespace cudarts::test
