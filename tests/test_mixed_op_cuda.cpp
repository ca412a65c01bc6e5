// CUDA DARTS mixed edge against the CPU reference (kernels/mixed_op.h): the fused forward, the
// candidates' gradients and the weight (or alpha) gradients, in both write modes, on odd sizes,
// at the limits of K (1 and 16; a node's 64 for mixed_node) and on the DARTS feature maps of
// bench/shapes.h with K = 8 and `none` first, as in the DARTS primitive list. `none` candidates
// (null ys) must be skipped, unwanted gradients (null dys) left alone, and a pointer passed for a
// `none` candidate left untouched. A small-integer case must match exactly. Runs only with a GPU
// (tests/main.cpp skips the cuda* suites otherwise).
#if CUDARTS_HAS_CUDA

#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "bench/shapes.h"
#include "kernels/check.h"
#include "kernels/mixed_op.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

struct MixedCase {
    std::string name;
    int K;
    int64_t n;
    std::vector<int> none;  // indices of `none` candidates (null ys)
};
std::ostream& operator<<(std::ostream& os, const MixedCase& c) {
    os << "MixedCase{" << c.name << " K=" << c.K << " n=" << c.n << " none=[";
    for (int k : c.none) os << " " << k;
    return os << " ]}";
}

// Cases shared with the benchmark: the DARTS edges carry K = 8 candidates with `none` first.
std::vector<MixedCase> mixed_shapes() {
    std::vector<MixedCase> out = {
        {"odd N=3 C=5 7x7", 8, 3 * 5 * 7 * 7, {0}},
        {"one candidate 17x34x9", 1, 17 * 34 * 9, {}},
        {"the most candidates", 16, 4097, {3, 15}},
        {"the most candidates over clusters", 16, 3 * 8192 + 1, {0, 7}},
    };
    const int n = big_batch();
    for (const shapes::DartsPlane& p : shapes::kDartsPlanes)
        out.push_back({p.name(n), 8, p.elems(n), {0}});
    return out;
}

// Whether got still holds start (NaN counting as equal to NaN): an output nobody may write.
bool untouched(const std::vector<float>& got, const std::vector<float>& start) {
    for (size_t i = 0; i < got.size(); ++i)
        if (!(got[i] == start[i] || (std::isnan(got[i]) && std::isnan(start[i])))) return false;
    return true;
}

// K candidate outputs on both sides: host data and pointers (null for `none`), device copies and
// the host array of their device pointers that the CUDA launchers take.
struct Candidates {
    std::vector<std::vector<float>> host;
    std::vector<DeviceVec> dev;
    std::vector<const float*> cpu_ptrs, dev_ptrs;
    Candidates(const MixedCase& c, uint64_t seed, bool integers = false) {
        for (int k = 0; k < c.K; ++k) {
            bool is_none = false;
            for (int j : c.none) is_none = is_none || j == k;
            host.push_back(is_none ? std::vector<float>{} : uniform(c.n, seed + uint64_t(k)));
            if (integers)
                for (float& v : host.back()) v = std::round(4.f * v);
        }
        for (const auto& h : host) {
            cpu_ptrs.push_back(h.empty() ? nullptr : h.data());
            if (h.empty()) {
                dev_ptrs.push_back(nullptr);
            } else {
                dev.emplace_back(h);  // moving a DeviceVec keeps its device address
                dev_ptrs.push_back(dev.back().data());
            }
        }
    }
};

// Gradient buffers for the candidates: wanted for every k except 1 (when K > 1), and one passed
// for every `none` candidate too, which neither backend may write.
struct CandidateGrads {
    std::vector<std::vector<float>> start, cpu;
    std::vector<DeviceVec> dev;
    std::vector<float*> cpu_ptrs, dev_ptrs;
    CandidateGrads(const MixedCase& c, GradMode mode) {
        for (int k = 0; k < c.K; ++k) {
            const bool wanted = !(k == 1 && c.K > 1);
            std::vector<float> s;
            if (wanted)
                s = mode == kOverwrite ? std::vector<float>(static_cast<size_t>(c.n), NAN)
                                       : uniform(c.n, 60 + uint64_t(k));
            start.push_back(s);
            cpu.push_back(s);
            dev.emplace_back(s);  // an empty one for an unwanted k keeps dev[k] aligned with k
        }
        for (int k = 0; k < c.K; ++k) {
            const bool wanted = !(k == 1 && c.K > 1);
            cpu_ptrs.push_back(wanted ? cpu[size_t(k)].data() : nullptr);
            dev_ptrs.push_back(wanted ? dev[size_t(k)].data() : nullptr);
        }
    }
    // Wanted gradients of present candidates match the CPU; every other buffer is unchanged.
    void check(const Candidates& ys, double tol) const {
        for (size_t k = 0; k < start.size(); ++k) {
            CAPTURE(k);
            if (dev_ptrs[k] == nullptr) continue;
            const std::vector<float> got = fetch(dev[k]);
            if (ys.cpu_ptrs[k] == nullptr)
                CHECK_MESSAGE(untouched(got, start[k]), "a `none` candidate's gradient changed");
            else
                check_close(got, cpu[k], tol, tol, "dy_k");
        }
    }
};

using MixedBwd = void (*)(float* const*, float*, const float*, const float* const*, const float*,
                          int, int64_t, GradMode);
using MixedBwdEntry = cuda::MixedBwdVersion::Bwd* cuda::MixedBwdVersion::*;

// A mixed edge's backward (mixed_sum_bwd or mixed_softmax_sum_bwd, which share their arguments;
// `entry` picks it from each version) on every case in both modes and every version that supports
// the case: the candidates' gradients within the first tolerance tol(c) gives, the weights' (or
// alphas') gradient, named dw_name, within the second. Seeds are seed, seed + 1, seed + 2 and
// seed + 3, as each case had.
template <class Tol>
void check_mixed_bwd(MixedBwd cpu_bwd, MixedBwdEntry entry, const char* dw_name, uint64_t seed,
                     Tol tol) {
    for (const MixedCase& c : mixed_shapes()) {
        for (GradMode mode : {kOverwrite, kAccumulate}) {
            CAPTURE(c);
            CAPTURE(int(mode));
            const auto [t_dys, t_dw] = tol(c);
            const Candidates ys(c, seed);
            const std::vector<float> w = uniform(c.K, seed + 1), dout = uniform(c.n, seed + 2);
            DeviceVec w_dev(w), dout_dev(dout);
            for_each_version(cuda::mixed_bwd_versions(), c.n, [&](const cuda::MixedBwdVersion& v) {
                CandidateGrads dys(c, mode);
                std::vector<float> dw = mode == kOverwrite ? std::vector<float>(size_t(c.K), NAN)
                                                           : uniform(c.K, seed + 3);
                DeviceVec dw_dev(dw);
                cpu_bwd(dys.cpu_ptrs.data(), dw.data(), dout.data(), ys.cpu_ptrs.data(), w.data(),
                        c.K, c.n, mode);
                (v.*entry)(dys.dev_ptrs.data(), dw_dev.data(), dout_dev.data(), ys.dev_ptrs.data(),
                           w_dev.data(), c.K, c.n, mode, test_stream());
                dys.check(ys, t_dys);
                check_close(fetch(dw_dev), dw, t_dw, t_dw, dw_name);
            });
        }
    }
}

TEST_SUITE("cuda_mixed_op") {
    TEST_CASE("mixed_sum and mixed_softmax_sum fwd cuda: match cpu, none candidates skipped") {
        for (const MixedCase& c : mixed_shapes()) {
            CAPTURE(c);
            const Candidates ys(c, 40);
            const std::vector<float> w = uniform(c.K, 41);
            DeviceVec w_dev(w);
            std::vector<float> want(size_t(c.n));

            cpu::mixed_sum_fwd(want.data(), ys.cpu_ptrs.data(), w.data(), c.K, c.n);
            DeviceVec out_dev = DeviceVec::poisoned(c.n);
            cuda::mixed_sum_fwd(out_dev.data(), ys.dev_ptrs.data(), w_dev.data(), c.K, c.n,
                                test_stream());
            check_close(fetch(out_dev), want, tol_for_sum(c.K), tol_for_sum(c.K), "mixed_sum out");

            // w = softmax(alpha) is itself a K-term float computation inside the kernel.
            cpu::mixed_softmax_sum_fwd(want.data(), ys.cpu_ptrs.data(), w.data(), c.K, c.n);
            DeviceVec out2_dev = DeviceVec::poisoned(c.n);
            cuda::mixed_softmax_sum_fwd(out2_dev.data(), ys.dev_ptrs.data(), w_dev.data(), c.K, c.n,
                                        test_stream());
            check_close(fetch(out2_dev), want, tol_for_sum(c.K), tol_for_sum(c.K),
                        "mixed_softmax_sum out");
        }
    }

    TEST_CASE("mixed_sum bwd cuda: dy_k and dw match cpu in both modes and every version") {
        // dy_k = w_k dout, plus the old value when accumulating; dw_k sums n products (a `none`
        // candidate's is exactly 0).
        check_mixed_bwd(cpu::mixed_sum_bwd, &cuda::MixedBwdVersion::mixed_sum_bwd, "dw", 42,
                        [](const MixedCase& c) {
                            return std::pair{tol_for_sum(2), tol_for_sum(c.n + 1)};
                        });
    }

    TEST_CASE("mixed_softmax_sum bwd cuda: dy_k and dalpha match cpu in both modes, all versions") {
        // dy_k = w_k dout with w a K-term softmax computed in float on the device; dalpha combines
        // K dot products of n terms each.
        check_mixed_bwd(
            cpu::mixed_softmax_sum_bwd, &cuda::MixedBwdVersion::mixed_softmax_sum_bwd, "dalpha", 46,
            [](const MixedCase& c) {
                return std::pair{tol_for_sum(c.K + 1), tol_for_sum(int64_t(c.K) * c.n + 1)};
            });
    }

    TEST_CASE("mixed_sum cuda: small integers and power-of-two weights give exact results") {
        // Every product and partial sum is a small multiple of 1/4, exact in float in any order.
        const MixedCase c{"integers", 4, 5 * 7, {1}};
        const Candidates ys(c, 50, /*integers=*/true);
        const std::vector<float> w = {0.5f, 0.25f, 2.f, -1.f};
        std::vector<float> dout = uniform(c.n, 51);
        for (float& v : dout) v = std::round(4.f * v);
        DeviceVec w_dev(w), dout_dev(dout);

        std::vector<float> out(size_t(c.n));
        cpu::mixed_sum_fwd(out.data(), ys.cpu_ptrs.data(), w.data(), c.K, c.n);
        DeviceVec out_dev = DeviceVec::poisoned(c.n);
        cuda::mixed_sum_fwd(out_dev.data(), ys.dev_ptrs.data(), w_dev.data(), c.K, c.n,
                            test_stream());
        check_close(fetch(out_dev), out, 0, 0, "out");

        CandidateGrads dys(c, kOverwrite);
        std::vector<float> dw(size_t(c.K), NAN);
        DeviceVec dw_dev = DeviceVec::poisoned(c.K);
        cpu::mixed_sum_bwd(dys.cpu_ptrs.data(), dw.data(), dout.data(), ys.cpu_ptrs.data(),
                           w.data(), c.K, c.n, kOverwrite);
        cuda::mixed_sum_bwd(dys.dev_ptrs.data(), dw_dev.data(), dout_dev.data(), ys.dev_ptrs.data(),
                            w_dev.data(), c.K, c.n, kOverwrite, test_stream());
        dys.check(ys, 0);
        check_close(fetch(dw_dev), dw, 0, 0, "dw");
    }

    TEST_CASE("mixed ops cuda: the backward launchers run v2 from 8192 values, v1 below") {
        const auto versions = cuda::mixed_bwd_versions();
        REQUIRE(versions.size() == 2);
        CHECK(std::string(versions[0].name) == "v1");
        CHECK(std::string(versions[1].name) == "v2");
        CHECK(versions[0].supports(8191));
        CHECK_FALSE(versions[1].supports(8191));
        CHECK(versions[1].supports(8192));
        // Every version is deterministic, so each launcher's dw (or dalpha) is the bits of the
        // version it picks.
        for (const int64_t n : {8191, 8192, 37 * 8192 + 5}) {
            CAPTURE(n);
            const MixedCase c{"launcher", 8, n, {0}};
            const Candidates ys(c, 52);
            DeviceVec w_dev(uniform(c.K, 53)), dout_dev(uniform(c.n, 54));
            const auto run = [&](cuda::MixedBwdVersion::Bwd* bwd) {
                DeviceVec dw_dev = DeviceVec::poisoned(c.K);
                bwd(nullptr, dw_dev.data(), dout_dev.data(), ys.dev_ptrs.data(), w_dev.data(), c.K,
                    c.n, kOverwrite, test_stream());
                return fetch(dw_dev);
            };
            const cuda::MixedBwdVersion& pick = versions[n >= 8192 ? 1 : 0];
            CHECK(run(cuda::mixed_sum_bwd) == run(pick.mixed_sum_bwd));
            CHECK(run(cuda::mixed_softmax_sum_bwd) == run(pick.mixed_softmax_sum_bwd));
            if (n < 8192) CHECK_THROWS_AS(run(versions[1].mixed_sum_bwd), Error);
            if (n < 8192) CHECK_THROWS_AS(run(versions[1].mixed_softmax_sum_bwd), Error);
        }
    }

    TEST_CASE("mixed_node cuda: the per-edge sums added in order; its backward at 64 candidates") {
        // A node of 5 edges of 8 (node 3 of a DARTS cell), `none` first in each edge, and the most
        // candidates one table holds (8 edges), on either side of the backward's cluster version.
        for (const int edges : {5, 8}) {
            for (const int64_t n : {int64_t(1000), int64_t(3 * 8192 + 5)}) {
                const MixedCase c{"node", 8 * edges, n, {0, 8, 16, 24, 32, 40, 48, 56}};
                CAPTURE(c);
                const Candidates ys(c, 70);
                const std::vector<float> w = uniform(c.K, 71);
                DeviceVec w_dev(w);
                std::vector<float> want(static_cast<size_t>(n));
                cpu::mixed_node_fwd(want.data(), ys.cpu_ptrs.data(), w.data(), c.K, 8, n);
                DeviceVec out_dev = DeviceVec::poisoned(n);
                cuda::mixed_node_fwd(out_dev.data(), ys.dev_ptrs.data(), w_dev.data(), c.K, 8, n,
                                     test_stream());
                const std::vector<float> out = fetch(out_dev);
                check_close(out, want, tol_for_sum(c.K), tol_for_sum(c.K), "mixed_node out");
                // The bits of mixed_sum_fwd per edge, then float adds in edge order.
                std::vector<float> composed(static_cast<size_t>(n));
                for (int e = 0; e < edges; ++e) {
                    DeviceVec edge_dev = DeviceVec::poisoned(n);
                    cuda::mixed_sum_fwd(edge_dev.data(), ys.dev_ptrs.data() + 8 * e,
                                        w_dev.data() + 8 * e, 8, n, test_stream());
                    const std::vector<float> m = fetch(edge_dev);
                    for (size_t i = 0; i < m.size(); ++i)
                        composed[i] = e == 0 ? m[i] : composed[i] + m[i];
                }
                check_bits(out, composed);
                // The node's backward is mixed_sum_bwd over all its candidates.
                const std::vector<float> dout = uniform(n, 72);
                DeviceVec dout_dev(dout);
                for (GradMode mode : {kOverwrite, kAccumulate}) {
                    CAPTURE(int(mode));
                    for_each_version(
                        cuda::mixed_bwd_versions(), n, [&](const cuda::MixedBwdVersion& v) {
                            CandidateGrads dys(c, mode);
                            std::vector<float> dw = mode == kOverwrite
                                                        ? std::vector<float>(size_t(c.K), NAN)
                                                        : uniform(c.K, 73);
                            DeviceVec dw_dev(dw);
                            cpu::mixed_sum_bwd(dys.cpu_ptrs.data(), dw.data(), dout.data(),
                                               ys.cpu_ptrs.data(), w.data(), c.K, n, mode);
                            v.mixed_sum_bwd(dys.dev_ptrs.data(), dw_dev.data(), dout_dev.data(),
                                            ys.dev_ptrs.data(), w_dev.data(), c.K, n, mode,
                                            test_stream());
                            dys.check(ys, tol_for_sum(2));
                            check_close(fetch(dw_dev), dw, tol_for_sum(n + 1), tol_for_sum(n + 1),
                                        "dw");
                        });
                }
            }
        }
    }

    TEST_CASE("mixed ops cuda: n = 0 still writes dw and dalpha, K past the tables throws") {
        const std::vector<float> w = {0.2f, 0.3f, 0.5f};
        DeviceVec w_dev(w), one(std::vector<float>{1.f});
        const float* ys[3] = {one.data(), nullptr, one.data()};
        float* dys[3] = {nullptr, nullptr, nullptr};
        DeviceVec dw_dev = DeviceVec::poisoned(3), dalpha_dev = DeviceVec::poisoned(3);
        cuda::mixed_sum_bwd(dys, dw_dev.data(), one.data(), ys, w_dev.data(), 3, 0, kOverwrite,
                            test_stream());
        check_close(fetch(dw_dev), std::vector<float>(3, 0.f), 0, 0, "dw");
        cuda::mixed_softmax_sum_bwd(dys, dalpha_dev.data(), one.data(), ys, w_dev.data(), 3, 0,
                                    kOverwrite, test_stream());
        check_close(fetch(dalpha_dev), std::vector<float>(3, 0.f), 0, 0, "dalpha");
        cuda::mixed_sum_fwd(nullptr, ys, w_dev.data(), 3, 0, test_stream());

        // 64 candidates at most (a node's table), 16 for the softmax form (one edge).
        std::vector<const float*> many(65, one.data());
        CHECK_THROWS_AS(
            cuda::mixed_sum_fwd(one.data(), many.data(), w_dev.data(), 65, 1, test_stream()),
            Error);
        CHECK_THROWS_AS(cuda::mixed_softmax_sum_fwd(one.data(), many.data(), w_dev.data(), 17, 1,
                                                    test_stream()),
                        Error);
        CHECK_THROWS_AS(cuda::mixed_node_fwd(one.data(), ys, w_dev.data(), 3, 2, 1, test_stream()),
                        Error);
        CHECK_THROWS_AS(
            cuda::mixed_softmax_sum_fwd(one.data(), ys, w_dev.data(), 0, 1, test_stream()), Error);
    }

}  // TEST_SUITE

}  // namespace
}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
