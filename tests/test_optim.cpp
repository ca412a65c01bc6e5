// Optimizer steps against values computed by hand from the PyTorch update rules (SGD with
// momentum and weight decay, Adam 0.3.1 with coupled L2), and sum_squares.
#include <cmath>
#include <vector>

#include "kernels/check.h"
#include "kernels/optim.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::test;

TEST_SUITE("optim") {
    TEST_CASE("sgd_step: two momentum steps with weight decay match hand-computed values") {
        const SgdOptions o{.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f};
        std::vector<float> w = {1.f, -2.f};
        std::vector<float> buf = {7.f, 7.f};  // stale contents: the first step must ignore them

        // d = g + 0.01 w = [0.51, 0.23]; buf = d; w -= 0.1 buf.
        const std::vector<float> g1 = {0.5f, 0.25f};
        cpu::sgd_step(w.data(), buf.data(), g1.data(), 2, o, /*first_step=*/true);
        check_close(buf, std::vector<double>{0.51, 0.23}, 1e-6, 0, "buf after step 1");
        check_close(w, std::vector<double>{0.949, -2.023}, 1e-6, 0, "w after step 1");

        // d = [0.1 + 0.00949, -0.3 - 0.02023] = [0.10949, -0.32023];
        // buf = 0.9 [0.51, 0.23] + d = [0.56849, -0.11323]; w -= 0.1 buf.
        const std::vector<float> g2 = {0.1f, -0.3f};
        cpu::sgd_step(w.data(), buf.data(), g2.data(), 2, o, /*first_step=*/false);
        check_close(buf, std::vector<double>{0.56849, -0.11323}, 1e-5, 0, "buf after step 2");
        check_close(w, std::vector<double>{0.892151, -2.011677}, 1e-6, 0, "w after step 2");
    }

    TEST_CASE("sgd_step: momentum 0 needs no buffer and steps along g + wd w") {
        const SgdOptions o{.lr = 0.5f, .weight_decay = 0.1f};
        std::vector<float> w = {2.f, -1.f, 0.5f};
        const std::vector<float> g = {1.f, 0.f, -0.5f};
        cpu::sgd_step(w.data(), nullptr, g.data(), 3, o, /*first_step=*/true);
        // w - 0.5 (g + 0.1 w) = [2 - 0.6, -1 + 0.05, 0.5 + 0.225]
        check_close(w, std::vector<double>{1.4, -0.95, 0.725}, 1e-6, 0, "w");
        const SgdOptions with_momentum{.lr = 0.5f, .momentum = 0.9f};
        CHECK_THROWS_AS(cpu::sgd_step(w.data(), nullptr, g.data(), 3, with_momentum, true), Error);
    }

    TEST_CASE("adam_step: the first two steps match hand-computed values") {
        const AdamOptions o{.lr = 0.01f};  // beta1 0.9, beta2 0.999, eps 1e-8
        std::vector<float> theta = {1.f, -0.5f}, m = {0.f, 0.f}, v = {0.f, 0.f};

        // t = 1: m = 0.1 g, v = 0.001 g^2, step = 0.01 sqrt(0.001) / 0.1, so theta moves by
        // 0.01 |g| / (|g| + eps / sqrt(0.001)): 0.01 against the sign of g, less ~1e-9.
        const std::vector<float> g1 = {0.5f, 0.2f};
        cpu::adam_step(theta.data(), m.data(), v.data(), g1.data(), 2, o, 1);
        check_close(m, std::vector<double>{0.05, 0.02}, 1e-6, 0, "m after step 1");
        // beta2 is the float 0.999000013, so 1 - beta2 sits 1.3e-5 (relative) below 0.001.
        check_close(v, std::vector<double>{2.5e-4, 4e-5}, 5e-5, 0, "v after step 1");
        check_close(theta, std::vector<double>{0.99, -0.51}, 1e-6, 0, "theta after step 1");

        // t = 2: m = 0.9 m + 0.1 g = [0.02, 0.058]; v = 0.999 v + 0.001 g^2 =
        // [3.1225e-4, 1.9996e-4]; step = 0.01 sqrt(1 - 0.999^2) / (1 - 0.9^2) = 2.3531673e-3; theta
        // -= step m / sqrt(v): [0.99 - 2.66336e-3, -0.51 - 9.65180e-3].
        const std::vector<float> g2 = {-0.25f, 0.4f};
        cpu::adam_step(theta.data(), m.data(), v.data(), g2.data(), 2, o, 2);
        check_close(m, std::vector<double>{0.02, 0.058}, 1e-5, 0, "m after step 2");
        check_close(v, std::vector<double>{3.1225e-4, 1.9996e-4}, 5e-5, 0, "v after step 2");
        check_close(theta, std::vector<double>{0.987336637, -0.519651798}, 1e-6, 0,
                    "theta after step 2");
    }

    TEST_CASE("adam_step: weight decay is added to the gradient before the moments") {
        const AdamOptions o{.lr = 0.01f, .weight_decay = 0.1f};
        std::vector<float> theta = {2.f}, m = {0.f}, v = {0.f};
        const std::vector<float> g = {-0.1f};
        // g + 0.1 theta = +0.1: the decay flips the direction of the step.
        cpu::adam_step(theta.data(), m.data(), v.data(), g.data(), 1, o, 1);
        CHECK(m[0] == doctest::Approx(0.01).epsilon(1e-5));
        CHECK(theta[0] == doctest::Approx(1.99).epsilon(1e-6));
        CHECK_THROWS_AS(cpu::adam_step(theta.data(), m.data(), v.data(), g.data(), 1, o, 0), Error);
    }

    TEST_CASE("sum_squares: hand case and a long sum that float accumulation would get wrong") {
        const std::vector<float> x = {1.f, 2.f, -3.f, 0.5f};
        CHECK(cpu::sum_squares(x.data(), 4) == 14.25);
        // 2^24 + 1 ones: a float running sum stalls at 2^24, double counts every term.
        const std::vector<float> ones((1 << 24) + 1, 1.f);
        CHECK(cpu::sum_squares(ones.data(), int64_t(ones.size())) == double((1 << 24) + 1));
        CHECK(cpu::sum_squares(x.data(), 0) == 0.0);
    }

}  // TEST_SUITE
