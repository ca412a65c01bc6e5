// Katib's --algorithm-settings (apps/katib.h): the parse, then every value through each getter.
#include "apps/katib.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using cudarts::fuzz::expect_input_error;
    const std::string text(reinterpret_cast<const char*>(data), size);
    expect_input_error([&] {
        const std::map<std::string, std::string> s = cudarts::parse_algorithm_settings(text);
        (void)cudarts::unknown_katib_settings(s);
        for (const auto& entry : s) {
            const std::string& key = entry.first;
            expect_input_error([&] { (void)cudarts::katib_int(s, key, 0); });
            expect_input_error([&] { (void)cudarts::katib_float(s, key, 0.0); });
            expect_input_error([&] { (void)cudarts::katib_bool(s, key, false); });
        }
    });
    expect_input_error([&] { (void)cudarts::parse_num_layers(text); });
    return 0;
}
