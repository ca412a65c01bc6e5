// CUDA recurrent highway update against the CPU reference (kernels/rnn_cell.h): forward, the gate
// and state gradients in both write modes (each alone and both in one launch), and a search
// edge's logit gradient, for every activation, on odd sizes, one that needs two grid-stride
// passes, and the paper's cell shapes (search: batch 256 x nhid 300; evaluation: 64 x 850). Every
// output starts as NaN and carries a guard zone (tests/cuda_util.h). Per element both backends do
// the same float operations, so the data paths match within a few ulp; the logit gradient sums
// rows x n terms in float against the CPU's double (tol_for_sum). Runs wherever CUDA kernels run:
// on a GPU, and on the CPU in the SIMT emulation build (tests/simt).
#if CUDARTS_HAS_CUDA

#include <array>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "kernels/rnn_cell.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

struct CellCase {
    std::string name;
    int64_t rows, n;
};
std::ostream& operator<<(std::ostream& os, const CellCase& c) {
    return os << "CellCase{" << c.name << " rows=" << c.rows << " n=" << c.n << "}";
}

std::vector<CellCase> cell_cases() {
    return {{"one element", 1, 1},
            {"odd 3 x 5", 3, 5},
            {"17 x 33", 17, 33},
            {"two grid strides", 2101, 500},
            {"search cell 256 x 300", 256, 300},
            {"evaluation cell 64 x 850", 64, 850}};
}

constexpr std::array<RnnAct, 4> kActs = {RnnAct::kTanh, RnnAct::kRelu, RnnAct::kSigmoid,
                                         RnnAct::kIdentity};
constexpr double kTol = 1e-5;  // a few ulp of the per-element float math, relative and absolute

// Both sides' inputs: gates (rows x 2n), states, the incoming gradient and an edge's logits.
struct CellInputs {
    std::vector<float> ch, s, dout, alpha;
    DeviceVec ch_d, s_d, dout_d, alpha_d;
    explicit CellInputs(const CellCase& c, uint64_t seed)
        : ch(uniform(c.rows * 2 * c.n, seed, -3.f, 3.f)),
          s(uniform(c.rows * c.n, seed + 1)),
          dout(uniform(c.rows * c.n, seed + 2)),
          alpha(uniform(kRnnEdgeLogits, seed + 3, -2.f, 2.f)),
          ch_d(ch),
          s_d(s),
          dout_d(dout),
          alpha_d(alpha) {}
};

TEST_SUITE("cuda_rnn_cell") {
    TEST_CASE("rnn cell cuda: highway forward and gradients match cpu for every activation") {
        for (const CellCase& c : cell_cases()) {
            CAPTURE(c);
            const CellInputs in(c, 7);
            const int64_t count = c.rows * c.n;
            for (RnnAct act : kActs) {
                CAPTURE(int(act));
                std::vector<float> want(static_cast<size_t>(count));
                cpu::highway_fwd(want.data(), in.ch.data(), in.s.data(), c.rows, c.n, act);
                DeviceVec out = DeviceVec::poisoned(count);
                cuda::highway_fwd(out.data(), in.ch_d.data(), in.s_d.data(), c.rows, c.n, act,
                                  test_stream());
                check_close(fetch(out), want, kTol, kTol, "highway fwd");

                check_modes_match(
                    nans(2 * count),
                    [&](float* d, GradMode m) {
                        cpu::highway_bwd({.dch = d, .ch_mode = m}, in.dout.data(), in.ch.data(),
                                         in.s.data(), c.rows, c.n, act);
                    },
                    [&](float* d, GradMode m) {
                        cuda::highway_bwd({.dch = d, .ch_mode = m}, in.dout_d.data(),
                                          in.ch_d.data(), in.s_d.data(), c.rows, c.n, act,
                                          test_stream());
                    },
                    kTol, kTol, "highway dch");
                check_modes_match(
                    nans(count),
                    [&](float* d, GradMode m) {
                        cpu::highway_bwd({.ds = d, .s_mode = m}, in.dout.data(), in.ch.data(),
                                         in.s.data(), c.rows, c.n, act);
                    },
                    [&](float* d, GradMode m) {
                        cuda::highway_bwd({.ds = d, .s_mode = m}, in.dout_d.data(), in.ch_d.data(),
                                          in.s_d.data(), c.rows, c.n, act, test_stream());
                    },
                    kTol, kTol, "highway ds");
            }
        }
    }

    TEST_CASE("rnn cell cuda: a search edge's forward, data and logit gradients match cpu") {
        for (const CellCase& c : cell_cases()) {
            CAPTURE(c);
            const CellInputs in(c, 21);
            const int64_t count = c.rows * c.n;
            std::vector<float> want(static_cast<size_t>(count));
            cpu::highway_mix_fwd(want.data(), in.ch.data(), in.s.data(), in.alpha.data(), c.rows,
                                 c.n);
            DeviceVec out = DeviceVec::poisoned(count);
            cuda::highway_mix_fwd(out.data(), in.ch_d.data(), in.s_d.data(), in.alpha_d.data(),
                                  c.rows, c.n, test_stream());
            check_close(fetch(out), want, kTol, kTol, "mix fwd");

            // Gates and state in one launch (the tape's usual call), overwrite, and the logits.
            std::vector<float> dch(static_cast<size_t>(2 * count)), ds(static_cast<size_t>(count)),
                dalpha(kRnnEdgeLogits);
            cpu::highway_mix_bwd({.dch = dch.data(), .ds = ds.data()}, dalpha.data(),
                                 GradMode::kOverwrite, in.dout.data(), in.ch.data(), in.s.data(),
                                 in.alpha.data(), c.rows, c.n);
            DeviceVec dch_d = DeviceVec::poisoned(2 * count), ds_d = DeviceVec::poisoned(count);
            DeviceVec dalpha_d = DeviceVec::poisoned(kRnnEdgeLogits);
            cuda::highway_mix_bwd({.dch = dch_d.data(), .ds = ds_d.data()}, dalpha_d.data(),
                                  GradMode::kOverwrite, in.dout_d.data(), in.ch_d.data(),
                                  in.s_d.data(), in.alpha_d.data(), c.rows, c.n, test_stream());
            check_close(fetch(dch_d), dch, kTol, kTol, "mix dch");
            check_close(fetch(ds_d), ds, kTol, kTol, "mix ds");
            const double sum_tol = tol_for_sum(count);
            check_close(fetch(dalpha_d), dalpha, sum_tol, sum_tol, "mix dalpha");

            // Each output alone in both modes: the others stay null and untouched.
            check_modes_match(
                nans(count),
                [&](float* d, GradMode m) {
                    cpu::highway_mix_bwd({.ds = d, .s_mode = m}, nullptr, m, in.dout.data(),
                                         in.ch.data(), in.s.data(), in.alpha.data(), c.rows, c.n);
                },
                [&](float* d, GradMode m) {
                    cuda::highway_mix_bwd({.ds = d, .s_mode = m}, nullptr, m, in.dout_d.data(),
                                          in.ch_d.data(), in.s_d.data(), in.alpha_d.data(), c.rows,
                                          c.n, test_stream());
                },
                kTol, kTol, "mix ds modes");
            check_modes_match(
                nans(kRnnEdgeLogits),
                [&](float* d, GradMode m) {
                    cpu::highway_mix_bwd({}, d, m, in.dout.data(), in.ch.data(), in.s.data(),
                                         in.alpha.data(), c.rows, c.n);
                },
                [&](float* d, GradMode m) {
                    cuda::highway_mix_bwd({}, d, m, in.dout_d.data(), in.ch_d.data(), in.s_d.data(),
                                          in.alpha_d.data(), c.rows, c.n, test_stream());
                },
                sum_tol, sum_tol, "mix dalpha modes");
        }
    }

    TEST_CASE("rnn cell cuda: no rows launch nothing but still write the logit gradient") {
        DeviceVec dalpha = DeviceVec::poisoned(kRnnEdgeLogits), alpha(uniform(5, 3));
        DeviceVec none = DeviceVec::poisoned(1);
        cuda::highway_mix_bwd({}, dalpha.data(), GradMode::kOverwrite, none.data(), none.data(),
                              none.data(), alpha.data(), 0, 4, test_stream());
        CHECK(fetch(dalpha) == std::vector<float>(kRnnEdgeLogits, 0.f));
        CHECK_THROWS_AS(cuda::highway_fwd(none.data(), none.data(), none.data(), 1, 0,
                                          RnnAct::kTanh, test_stream()),
                        Error);
    }
}  // TEST_SUITE

}  // namespace
}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
