// Checked calls for every layer, dependency-free so that kernels/ needs nothing above it.
// CUDARTS_CHECK(cond, msg) throws cudarts::Error naming the condition, the message and file:line.
// The CUDA variants (CUDARTS_CUDA_CHECK, CUDARTS_CUBLAS_CHECK, CUDARTS_CHECK_LAUNCH) live in
// kernels/cuda/cuda_check.h, which only CUDA translation units include.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace cudarts {

// A bug or a device failure: not the user's fault. main() maps it to exit code 1.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Bad user input (a file, a flag, a genotype): one line naming the input and what was expected.
// main() maps it to exit code 2.
class InputError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The run diverged: a loss, a gradient norm or an α became NaN or infinite. The input was fine and
// the last checkpoint is intact; main() maps it to exit code 3.
class DivergedError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {
[[noreturn]] inline void throw_check(const char* cond, const std::string& msg, const char* file,
                                     int line) {
    std::ostringstream os;
    os << msg << " (check '" << cond << "' failed at " << file << ":" << line << ")";
    throw Error(os.str());
}
}  // namespace detail

}  // namespace cudarts

// Throws cudarts::Error when cond is false. msg may use << (it is streamed into a string).
#define CUDARTS_CHECK(cond, msg)                                                                \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            std::ostringstream cudarts_check_os_;                                               \
            cudarts_check_os_ << msg;                                                           \
            ::cudarts::detail::throw_check(#cond, cudarts_check_os_.str(), __FILE__, __LINE__); \
        }                                                                                       \
    } while (0)
