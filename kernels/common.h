// Shared vocabulary of every kernel family: the stream type, the host/device qualifier and the
// write mode of gradient outputs. Nothing here needs CUDA headers, so family headers compile in
// plain C++ translation units (tests and the CPU backend).
#pragma once

#include <cstddef>
#include <cstdint>

struct CUstream_st;  // the CUDA runtime's opaque stream, forward-declared

namespace cudarts {

using Stream = CUstream_st*;

#if defined(__CUDACC__)
#define CUDARTS_HD __host__ __device__
#else
#define CUDARTS_HD
#endif

// How a backward kernel writes a gradient: the tape overwrites on a gradient's first write (so no
// memset is needed) and adds on every later one (a value used twice gets both contributions).
enum class GradMode { kOverwrite, kAccumulate };

// out = v (overwrite) or out += v (accumulate): the one line every CPU backward ends with.
template <class T>
CUDARTS_HD inline void write_grad(T& out, T v, GradMode mode) {
    if (mode == GradMode::kOverwrite)
        out = v;
    else
        out += v;
}

// One registered version of a CUDA launcher over n values, for the tests and the benchmark to run
// side by side: supports(n) says whether it takes n, and the launcher proper runs the last entry
// of its table that supports n. Launch is the launcher's function type.
template <class Launch>
struct FlatVersion {
    const char* name;
    bool (*supports)(int64_t n);
    Launch* launch;
};

// The launchers' pick from a version table: its last entry that supports the arguments (the first
// entry supports everything).
template <class Version, size_t N, class... Args>
const Version& preferred_version(const Version (&table)[N], const Args&... args) {
    for (size_t i = N - 1; i > 0; --i)
        if (table[i].supports(args...)) return table[i];
    return table[0];
}

}  // namespace cudarts
