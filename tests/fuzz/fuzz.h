// Shared by the libFuzzer targets in tests/fuzz/ (README.md there). A parser's answer to bad input
// is an InputError of one line; any other exception, a message with a newline or one that dumps
// unbounded input, a sanitizer report, a hang or a huge allocation is a finding, and libFuzzer
// saves the input that caused it.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/check.h"

namespace cudarts::fuzz {

// Messages quote names and short excerpts; none needs more than this.
constexpr size_t kMaxMessage = 1000;

// Runs f; InputError is the expected answer and is checked to be one bounded line. Anything else
// propagates to libFuzzer, which reports the uncaught exception as a crash with its input.
template <class F>
void expect_input_error(F&& f) {
    try {
        f();
    } catch (const InputError& e) {
        const size_t n = std::strlen(e.what());
        if (n > kMaxMessage || std::strchr(e.what(), '\n') != nullptr) {
            std::fprintf(stderr, "fuzz: InputError of %zu bytes or several lines: %.300s\n", n,
                         e.what());
            std::abort();
        }
    }
}

// Aborts with `what` when `ok` is false: a property the parser must keep (a round trip).
inline void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz: %s\n", what);
    std::abort();
}

// A directory of this process's own, made once, on tmpfs when there is one: file-based parsers
// get their input written here.
inline const std::string& scratch_dir() {
    static const std::string dir = [] {
        const char* base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        std::string tmpl = std::string(base) + "/cudarts_fuzz_XXXXXX";
        if (mkdtemp(tmpl.data()) == nullptr) std::abort();
        return tmpl;
    }();
    return dir;
}

// Writes `n` bytes to scratch_dir()/name and returns the path.
inline std::string write_scratch(const std::string& name, const uint8_t* data, size_t n) {
    const std::string path = scratch_dir() + "/" + name;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || (n > 0 && std::fwrite(data, 1, n, f) != n) || std::fclose(f) != 0)
        std::abort();
    return path;
}

// Two files from one input: the first two bytes (little-endian) give the first file's length,
// clipped to what follows; the second file is the rest.
struct TwoFiles {
    std::vector<uint8_t> first, second;
};
inline TwoFiles split_two(const uint8_t* data, size_t n) {
    TwoFiles out;
    if (n < 2) return out;
    const size_t len = std::min<size_t>(size_t(data[0]) | size_t(data[1]) << 8, n - 2);
    out.first.assign(data + 2, data + 2 + len);
    out.second.assign(data + 2 + len, data + n);
    return out;
}

}  // namespace cudarts::fuzz
