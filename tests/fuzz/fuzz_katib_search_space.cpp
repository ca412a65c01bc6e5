// Katib's --search-space (apps/katib.h).
#include <algorithm>

#include "apps/katib.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    cudarts::fuzz::expect_input_error([&] {
        const std::vector<std::string> ops = cudarts::parse_search_space(text);
        cudarts::fuzz::require(std::find(ops.begin(), ops.end(), "none") != ops.end(),
                               "an accepted search space lacks 'none'");
    });
    return 0;
}
