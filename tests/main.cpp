// The test binary's main: probes the device once (any error from cudaGetDeviceCount means none),
// says whether the CUDA cases run, and excludes the `cuda*` suites when they cannot. With
// --cuda-only (CTest's `cuda` test) a machine without a GPU exits 77, which CTest reports as a
// skip rather than a pass.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "engine/device.h"

int main(int argc, char** argv) {
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
}
