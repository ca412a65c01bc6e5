// Test helpers shared by every suite: seeded inputs, closeness checks that print the first
// mismatches and the largest error, and the central-difference gradient oracle.
#pragma once

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "kernels/common.h"

namespace cudarts {
class ParamStore;  // models/nn/params.h
}

namespace cudarts::test {

// Uniform [lo, hi) from a seeded std::mt19937 (independent of the engine's Philox on purpose).
std::vector<float> uniform(int64_t n, uint64_t seed, float lo = -1.f, float hi = 1.f);
// Seeded uniform [-1, 1) vectors of the given sizes from seeds seed, seed + 1, ...: every input of
// a case in one line, e.g. const auto [x, w, dy] = uniforms({nx, nw, ny}, 31);
template <size_t N>
std::array<std::vector<float>, N> uniforms(const int64_t (&sizes)[N], uint64_t seed) {
    std::array<std::vector<float>, N> out;
    for (size_t i = 0; i < N; ++i) out[i] = uniform(sizes[i], seed + i);
    return out;
}
// Uniform in [-1, -margin] U [margin, 1]: inputs for ReLU, max and abs stay away from the kink.
std::vector<float> away_from_zero(int64_t n, uint64_t seed, float margin = 0.05f);
// Uniform ints in [0, classes).
std::vector<int32_t> labels(int64_t n, int classes, uint64_t seed);

double dot(const std::vector<float>& a, const std::vector<float>& b);
double dot(const std::vector<double>& a, const std::vector<float>& b);

// CUDA-vs-CPU rule of STYLE.md: |got - ref| <= t (1 + |ref|), t = 8 eps sqrt(K) for K terms.
double tol_for_sum(int64_t k);

// Every |got_i - want_i| <= atol + rtol |want_i|; on failure prints the first 5 mismatches and
// the largest error, with `what` naming the quantity. Returns whether all were close.
bool check_close(const std::vector<float>& got, const std::vector<float>& want, double rtol,
                 double atol, const std::string& what = "");
bool check_close(const std::vector<float>& got, const std::vector<double>& want, double rtol,
                 double atol, const std::string& what = "");

// Central differences of a scalar function of x: (f(x + eps e_i) - f(x - eps e_i)) / (2 eps).
// f is evaluated in double from float kernels, so use eps around 1e-2 and compare with
// check_grad's tolerances (truncation error O(eps^2), rounding O(ulp(f) / eps)).
std::vector<double> numeric_grad(const std::function<double(const std::vector<float>&)>& f,
                                 std::vector<float> x, double eps = 1e-2);

// Default gradient-check comparison: rtol 1e-2, atol 1e-3 relative to the largest |numeric|.
bool check_grad(const std::vector<float>& analytic, const std::vector<double>& numeric,
                const std::string& what, double rtol = 1e-2, double atol = 1e-3);

// A kernel writing its output in a GradMode: a backward, a channel insert.
using ModeWrite = std::function<void(float* out, GradMode mode)>;

// One run of a ModeWrite in each GradMode: overwrite onto a copy of over_start (NaN wherever every
// element must be written), accumulate onto `start`, seeded uniform values of the same size.
struct ModeRuns {
    std::vector<float> over, start, acc;
};
ModeRuns run_both_modes(const ModeWrite& write, const std::vector<float>& over_start,
                        uint64_t seed = 99);

// n quiet NaNs: the start of an output every element of which must be written.
std::vector<float> nans(int64_t n);

// Runs a backward of `size` floats in both modes (overwrite into NaN) and checks that accumulate
// added what overwrite wrote, within rtol and atol. Returns the overwritten gradient.
std::vector<float> bwd_both_modes(int64_t size, const ModeWrite& bwd, const std::string& what,
                                  double rtol, double atol, uint64_t seed = 99);

// Runs `bwd` in both modes (overwrite into NaN) and checks the overwritten gradient, and what
// accumulate added, against the numeric gradient with check_grad.
void check_grad_modes(const ModeWrite& bwd, const std::vector<double>& numeric,
                      const std::string& what, uint64_t seed = 901);

// The batch of the big (DARTS-sized) shapes in the CUDA suites: the environment variable
// CUDARTS_TEST_BIG_BATCH, 64 (the paper's batch) when unset. Throws InputError unless it is a
// positive integer; tests/main.cpp reads it once before any case runs, so a bad value fails the
// run.
int big_batch();

// A fresh directory under the system temp dir, "cudarts_test_<tag>_<pid>", removed with
// everything in it when the object goes.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& tag);
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string file(const std::string& name) const { return (path / name).string(); }
    // The names of what the directory holds, sorted.
    std::vector<std::string> entries() const;
};

// n random-pixel images of channels x size x size with random labels in [0, classes), for shapes
// make_synthetic does not make (it needs size >= 7), e.g. images too small for a network.
ImageDataset noise_images(int n, int channels, int size, int classes, uint64_t seed);

// Checks that the error message `msg` is one line that names `path` (at its start, as "path: ",
// with `path_first`) and holds `fragment`.
void check_names(const std::string& msg, const std::string& path, const std::string& fragment,
                 bool path_first = false);

// Checks that two parameter stores (on any devices) hold the same values bit for bit; `what`
// names the store in the failure.
void check_same_values(const ParamStore& got, const ParamStore& want, const std::string& what);

// The message of the InputError `f` throws, checked to be one line; "" with a failed check when
// it throws none.
std::string error_of(const std::function<void()>& f);

}  // namespace cudarts::test
