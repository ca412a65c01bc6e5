// CUDA zero padding and per-channel bias add (kernels/pad.h) against the CPU reference. pad2d and
// the bias forward and dx are copies and one float addition, so they must equal the CPU exactly in
// both GradModes; db is a float tree sum compared with the CPU's double sum within STYLE's
// tol_for_sum(n*hw) (one term more when accumulating), and two runs of it must give the same bits
// (no atomics). Shapes: odd ones (N=3, C=5, 7x7, 1x1, 17x34, asymmetric pads), an (n, c) matrix,
// and big ones at big_batch(): the stride-2 'same' pad of a C=16 32x32 map and a bias over C=64
// 8x8 and C=300 17x34 (many blocks, and many loads per thread in db). Outputs start as NaN,
// accumulation starts from non-zero values, and the guard zone of tests/cuda_util.h catches
// overruns. Last, both ops through the tape on CUDA against the same graph on the CPU.
// Runs only with a GPU (tests/main.cpp skips the cuda* suites otherwise).
#if CUDARTS_HAS_CUDA

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "kernels/check.h"
#include "kernels/pad.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

std::vector<Pad2dShape> pad_shapes() {
    return {
        {.n = 3, .c = 5, .h = 7, .w = 7, .top = 0, .bottom = 1, .left = 0, .right = 1},
        {.n = 2, .c = 3, .h = 17, .w = 34, .top = 2, .bottom = 0, .left = 1, .right = 3},
        {.n = 3, .c = 2, .h = 1, .w = 1, .top = 1, .bottom = 2, .left = 3, .right = 4},
        {.n = 1, .c = 2, .h = 5, .w = 4},  // no padding: a plain copy
        {.n = big_batch(), .c = 16, .h = 32, .w = 32, .top = 0, .bottom = 1, .left = 0, .right = 1},
    };
}

std::vector<ChannelBiasShape> bias_shapes() {
    return {
        {.n = 3, .c = 5, .hw = 49},
        {.n = 5, .c = 7, .hw = 1},  // a biased linear layer's (n, c) output
        {.n = 3, .c = 300, .hw = 17 * 34},
        {.n = big_batch(), .c = 64, .hw = 8 * 8},
    };
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::bit_cast<uint32_t>(a[i]) != std::bit_cast<uint32_t>(b[i])) return false;
    return true;
}

TEST_SUITE("cuda_pad") {
    TEST_CASE("pad2d fwd: cuda equals cpu exactly on odd, asymmetric and big shapes") {
        for (const Pad2dShape& s : pad_shapes()) {
            CAPTURE(s);
            check_fwd_match(cpu::pad2d_fwd, cuda::pad2d_fwd, s, s.in_elems(), s.out_elems(), 201, 0,
                            "pad2d y");
        }
    }

    TEST_CASE("pad2d bwd: cuda equals cpu exactly in both GradModes") {
        for (const Pad2dShape& s : pad_shapes()) {
            CAPTURE(s);
            check_bwd_match(cpu::pad2d_bwd, cuda::pad2d_bwd, s, s.in_elems(), s.out_elems(), 202, 0,
                            0, "pad2d dx");
        }
    }

    TEST_CASE("channel_bias fwd and dx: cuda equals cpu exactly, dx in both GradModes") {
        for (const ChannelBiasShape& s : bias_shapes()) {
            CAPTURE(s);
            const std::vector<float> b = uniform(s.c, 203);
            const DeviceVec b_dev(b);
            const auto [got, want] = run_fwd_both(
                uniform(s.elems(), 204), s.elems(),
                [&](float* y, const float* x) { cpu::channel_bias_fwd(y, x, b.data(), s); },
                [&](float* y, const float* x) {
                    cuda::channel_bias_fwd(y, x, b_dev.data(), s, test_stream());
                });
            check_close(got, want, 0, 0, "channel_bias y");

            check_bwd_match(cpu::channel_bias_bwd_data, cuda::channel_bias_bwd_data, s, s.elems(),
                            s.elems(), 205, 0, 0, "channel_bias dx");
        }
    }

    TEST_CASE("channel_bias db: cuda tree sum within tol_for_sum of cpu, the same bits twice") {
        for (const ChannelBiasShape& s : bias_shapes()) {
            CAPTURE(s);
            check_bwd_match(cpu::channel_bias_bwd_bias, cuda::channel_bias_bwd_bias, s, s.c,
                            s.elems(), 206, tol_for_sum(s.per_channel()),
                            tol_for_sum(s.per_channel() + 1), "channel_bias db");
            // Deterministic: a second overwrite run gives the same bits as the first.
            const DeviceVec dy_dev(uniform(s.elems(), 206));
            DeviceVec first = DeviceVec::poisoned(s.c), second = DeviceVec::poisoned(s.c);
            for (DeviceVec* db : {&first, &second})
                cuda::channel_bias_bwd_bias(db->data(), dy_dev.data(), s, kOverwrite,
                                            test_stream());
            CHECK(same_bits(fetch(first), fetch(second)));
        }
    }

    TEST_CASE("pad2d and channel_bias ops: the tape on cuda gives the cpu's values and gradients") {
        // loss = sum(r * (channel_bias(pad2d(x), b) + pad2d(x))): the padded map reaches the loss
        // twice, so its gradient is written once and then accumulated.
        const auto [x0, b0, r0] = uniforms({3 * 4 * 7 * 5, 4, 3 * 4 * 8 * 6}, 207);
        struct Run {
            std::vector<float> y, dx, db;
        };
        const auto run = [&](Device dev) {
            Var x(Tensor::from_vector(x0, {3, 4, 7, 5}).to(dev), true, "x");
            Var b(Tensor::from_vector(b0, {4}).to(dev), true, "b");
            const Var r(Tensor::from_vector(r0, {3, 4, 8, 6}).to(dev));
            const Var p = pad2d(x, 0, 1, 0, 1);
            const Var y = add(channel_bias(p, b), p);
            backward(sum(mul(y, r)));
            return Run{y.value().to_vector(), x.grad().to_vector(), b.grad().to_vector()};
        };
        const Run want = run(Device::cpu()), got = run(Device::cuda());
        check_close(got.y, want.y, 0, 0, "y");
        check_close(got.dx, want.dx, 0, 0, "dx");
        check_close(got.db, want.db, tol_for_sum(3 * 8 * 6), tol_for_sum(3 * 8 * 6), "db");
    }

    TEST_CASE(
        "pad cuda: empty work launches nothing, an empty batch gives db = 0, bad shapes throw") {
        const Pad2dShape no_images{.n = 0, .c = 4, .h = 8, .w = 8, .bottom = 1, .right = 1};
        cuda::pad2d_fwd(nullptr, nullptr, no_images, test_stream());
        cuda::pad2d_bwd(nullptr, nullptr, no_images, kAccumulate, test_stream());
        const ChannelBiasShape no_samples{.n = 0, .c = 3, .hw = 16};
        cuda::channel_bias_fwd(nullptr, nullptr, nullptr, no_samples, test_stream());
        cuda::channel_bias_bwd_data(nullptr, nullptr, no_samples, kOverwrite, test_stream());
        DeviceVec db = DeviceVec::poisoned(3);
        cuda::channel_bias_bwd_bias(db.data(), nullptr, no_samples, kOverwrite, test_stream());
        CHECK(fetch(db) == std::vector<float>{0.f, 0.f, 0.f});

        DeviceVec v = DeviceVec::poisoned(16);
        const Pad2dShape bad{.n = 1, .c = 1, .h = 4, .w = 4, .top = -1};
        CHECK_THROWS_AS(cuda::pad2d_fwd(v.data(), v.data(), bad, test_stream()), InputError);
        CHECK_THROWS_AS(cuda::pad2d_bwd(v.data(), v.data(), bad, kOverwrite, test_stream()),
                        InputError);
        const ChannelBiasShape bad_bias{.n = 1, .c = 4, .hw = -4};
        CHECK_THROWS_AS(
            cuda::channel_bias_bwd_bias(v.data(), v.data(), bad_bias, kOverwrite, test_stream()),
            InputError);
        for (float f : fetch(v)) CHECK(std::isnan(f));
    }

}  // TEST_SUITE

}  // namespace
}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
