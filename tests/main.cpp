// The test binary's main: probes the device once (any error from cudaGetDeviceCount means none),
// says whether the CUDA cases run, and excludes the `cuda*` suites when they cannot. With
// --cuda-only (CTest's `cuda` test) a machine without a GPU exits 77, which CTest reports as a
// skip rather than a pass. A bad CUDARTS_TEST_BIG_BATCH (tests/util.h) ends the run with exit 2.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "engine/device.h"
#include "kernels/check.h"
#include "tests/util.h"

int main(int argc, char** argv) try {
    cudarts::test::big_batch();  // a bad CUDARTS_TEST_BIG_BATCH fails the run before any case
    bool cuda_only = false;
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        if (std::strcmp(argv[i], "--cuda-only") == 0)
            cuda_only = true;
        else
            args.push_back(argv[i]);
    }
    doctest::Context ctx;
    ctx.applyCommandLine(int(args.size()), args.data());
    if (cudarts::cuda_device_count() == 0) {
        std::printf("cudarts tests: CUDA cases SKIPPED: no CUDA device (%s)\n",
                    cudarts::cuda_unavailable_reason().c_str());
        if (cuda_only) return 77;
        ctx.addFilter("test-suite-exclude", "cuda*");
    } else {
        std::printf("cudarts tests: CUDA cases RUN on %s\n",
                    cudarts::describe(cudarts::Device::cuda(0)).c_str());
    }
    std::fflush(stdout);
    return ctx.run();
} catch (const cudarts::InputError& e) {
    std::fprintf(stderr, "cudarts tests: %s\n", e.what());
    return 2;
}
