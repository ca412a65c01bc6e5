#include "tests/util.h"

#include <unistd.h>

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <random>
#include <sstream>

#include "kernels/check.h"
#include "models/nn/params.h"

namespace cudarts::test {

std::vector<float> uniform(int64_t n, uint64_t seed, float lo, float hi) {
    std::mt19937 gen(uint32_t(seed * 2654435761u + 1));
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = dist(gen);
    return v;
}

std::vector<float> away_from_zero(int64_t n, uint64_t seed, float margin) {
    std::vector<float> v = uniform(n, seed, margin, 1.f);
    std::mt19937 gen(uint32_t(seed + 77));
    for (auto& x : v)
        if (gen() & 1u) x = -x;
    return v;
}

std::vector<int32_t> labels(int64_t n, int classes, uint64_t seed) {
    std::mt19937 gen(uint32_t(seed * 7919u + 3));
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (auto& x : v) x = int32_t(gen() % uint32_t(classes));
    return v;
}

ImageDataset noise_images(int n, int channels, int size, int classes, uint64_t seed) {
    ImageDataset d;
    d.name = "noise";
    d.channels = channels;
    d.height = d.width = size;
    d.classes = classes;
    std::mt19937 gen{uint32_t(seed)};
    d.pixels.resize(size_t(n) * size_t(channels) * size_t(size) * size_t(size));
    for (uint8_t& p : d.pixels) p = uint8_t(gen() % 256u);
    d.labels = labels(n, classes, seed);
    d.mean.assign(size_t(channels), 0.5f);
    d.stddev.assign(size_t(channels), 0.25f);
    return d;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
    return s;
}

double dot(const std::vector<double>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

double tol_for_sum(int64_t k) {
    return 8.0 * FLT_EPSILON * std::sqrt(double(std::max<int64_t>(k, 1)));
}

template <class W>
static bool close_impl(const std::vector<float>& got, const std::vector<W>& want, double rtol,
                       double atol, const std::string& what) {
    REQUIRE_MESSAGE(got.size() == want.size(),
                    what << ": size " << got.size() << " vs " << want.size());
    std::ostringstream os;
    int bad = 0;
    double worst = 0;
    size_t worst_i = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double g = got[i], w = double(want[i]);
        const double err = std::fabs(g - w);
        const bool ok = err <= atol + rtol * std::fabs(w);  // NaN fails here too
        if (!ok) {
            if (bad < 5) os << "  [" << i << "] got " << g << " want " << w << "\n";
            ++bad;
        }
        if (!(err <= worst)) {
            worst = err;
            worst_i = i;
        }
    }
    if (bad > 0)
        FAIL_CHECK(what << ": " << bad << " of " << got.size() << " mismatches (rtol " << rtol
                        << ", atol " << atol << "), largest error " << worst << " at [" << worst_i
                        << "]\n"
                        << os.str());
    return bad == 0;
}

bool check_close(const std::vector<float>& got, const std::vector<float>& want, double rtol,
                 double atol, const std::string& what) {
    return close_impl(got, want, rtol, atol, what);
}
bool check_close(const std::vector<float>& got, const std::vector<double>& want, double rtol,
                 double atol, const std::string& what) {
    return close_impl(got, want, rtol, atol, what);
}

std::vector<double> numeric_grad(const std::function<double(const std::vector<float>&)>& f,
                                 std::vector<float> x, double eps) {
    std::vector<double> g(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        const float orig = x[i];
        x[i] = float(orig + eps);
        const double fp = f(x);
        x[i] = float(orig - eps);
        const double fm = f(x);
        x[i] = orig;
        // divide by the step actually taken in float, not the nominal eps
        g[i] = (fp - fm) / (double(float(orig + eps)) - double(float(orig - eps)));
    }
    return g;
}

bool check_grad(const std::vector<float>& analytic, const std::vector<double>& numeric,
                const std::string& what, double rtol, double atol) {
    double scale = 0;
    for (double v : numeric) scale = std::max(scale, std::fabs(v));
    return check_close(analytic, numeric, rtol, atol * std::max(1.0, scale), what);
}

ModeRuns run_both_modes(const ModeWrite& write, const std::vector<float>& over_start,
                        uint64_t seed) {
    ModeRuns r{.over = over_start, .start = uniform(int64_t(over_start.size()), seed), .acc = {}};
    write(r.over.data(), GradMode::kOverwrite);
    r.acc = r.start;
    write(r.acc.data(), GradMode::kAccumulate);
    return r;
}

std::vector<float> nans(int64_t n) {
    return std::vector<float>(size_t(n), std::numeric_limits<float>::quiet_NaN());
}

std::vector<float> bwd_both_modes(int64_t size, const ModeWrite& bwd, const std::string& what,
                                  double rtol, double atol, uint64_t seed) {
    ModeRuns r = run_both_modes(bwd, nans(size), seed);
    for (size_t i = 0; i < r.start.size(); ++i) r.start[i] += r.over[i];
    check_close(r.acc, r.start, rtol, atol, what + " accumulate");
    return r.over;
}

void check_grad_modes(const ModeWrite& bwd, const std::vector<double>& numeric,
                      const std::string& what, uint64_t seed) {
    ModeRuns r = run_both_modes(bwd, nans(int64_t(numeric.size())), seed);
    check_grad(r.over, numeric, what + " (overwrite)");
    for (size_t i = 0; i < r.acc.size(); ++i) r.acc[i] -= r.start[i];
    check_grad(r.acc, numeric, what + " (accumulate)");
}

int big_batch() {
    const char* env = std::getenv("CUDARTS_TEST_BIG_BATCH");
    if (env == nullptr) return 64;
    const std::string text = env;
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 1)
        throw InputError("CUDARTS_TEST_BIG_BATCH: expected a positive integer, got '" + text + "'");
    return value;
}

TempDir::TempDir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() /
           ("cudarts_test_" + tag + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
}

std::vector<std::string> TempDir::entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

void check_names(const std::string& msg, const std::string& path, const std::string& fragment,
                 bool path_first) {
    CAPTURE(msg);
    if (path_first)
        CHECK(msg.rfind(path + ": ", 0) == 0);
    else
        CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find(fragment) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
}

void check_same_values(const ParamStore& got, const ParamStore& want, const std::string& what) {
    CHECK_MESSAGE(got.flat_values().to_vector() == want.flat_values().to_vector(), what);
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const InputError& e) {
        const std::string msg = e.what();
        CHECK_MESSAGE(msg.find('\n') == std::string::npos, msg);
        return msg;
    }
    FAIL_CHECK("no InputError");
    return "";
}

}  // namespace cudarts::test
