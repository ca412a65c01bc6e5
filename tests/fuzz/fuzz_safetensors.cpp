// safetensors reader (engine/safetensors.h) on arbitrary bytes, in memory.
#include "engine/safetensors.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<uint8_t> bytes(data, data + size);
    cudarts::fuzz::expect_input_error([&] {
        const cudarts::SafetensorsFile f = cudarts::parse_safetensors(bytes, "fuzz.safetensors");
        for (const auto& [name, t] : f.tensors)
            cudarts::fuzz::require(
                t.data.size() == size_t(t.numel()) * cudarts::dtype_size(t.dtype),
                "tensor bytes disagree with its shape");
    });
    return 0;
}
