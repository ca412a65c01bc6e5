// cudarts: one binary, many subcommands. Only main maps exceptions to exit codes: bad user input
// (InputError, a flag cxxopts cannot parse) is the user's to fix, exit 2; a run that diverged
// (DivergedError: a NaN or infinite loss, gradient norm or α) exits 3, its last checkpoint
// intact; anything else is a bug or a device failure, exit 1.
#include <cstdio>
#include <cxxopts.hpp>

#include "apps/subcommands.h"
#include "kernels/check.h"

int main(int argc, char** argv) try {
    return cudarts::apps::run_subcommand(argc, argv);
} catch (const cudarts::InputError& e) {
    std::fprintf(stderr, "cudarts: %s\n", e.what());
    return 2;
} catch (const cxxopts::exceptions::exception& e) {
    std::fprintf(stderr, "cudarts: %s (see --help)\n", e.what());
    return 2;
} catch (const cudarts::DivergedError& e) {
    std::fprintf(stderr, "cudarts: %s\n", e.what());
    return 3;
} catch (const std::exception& e) {
    std::fprintf(stderr, "cudarts: internal error: %s\n", e.what());
    return 1;
}
