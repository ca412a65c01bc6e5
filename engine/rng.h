// Generator: the one random stream of a run. Its whole state is (seed, offset): every fill draws
// the Philox stream (seed, offset) element by element (kernels/rng.h) and then advances offset by
// one, so the same seed gives the same numbers on the CPU and the GPU, and a checkpoint that saves
// the two integers resumes the stream exactly.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace cudarts {

class Generator {
public:
    explicit Generator(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}

    void uniform_(Tensor& t, float lo = 0.f, float hi = 1.f);
    void normal_(Tensor& t, float mean = 0.f, float stddev = 1.f);
    void dropout_mask_(Tensor& t, float p);  // 0 or 1/(1-p), keep probability 1-p

    // Host-side draws (data order, augmentation decisions): each consumes one stream offset.
    uint64_t next_u64();
    // Uniform integer in [0, n) (n > 0), without modulo bias for n << 2^64.
    uint64_t below(uint64_t n);

    uint64_t seed() const { return seed_; }
    uint64_t offset() const { return offset_; }
    void set_state(uint64_t seed, uint64_t offset) {
        seed_ = seed;
        offset_ = offset;
    }

private:
    uint64_t seed_, offset_;
};

}  // namespace cudarts
