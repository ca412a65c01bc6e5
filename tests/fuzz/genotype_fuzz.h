// The three genotype targets share one body: parse (any form), and when the text is accepted,
// print it in every form and parse each print back to the same genotype.
#pragma once

#include <string>

#include "models/darts/genotype.h"
#include "tests/fuzz/fuzz.h"

namespace cudarts::fuzz {

inline void genotype_round_trip(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    expect_input_error([&] {
        const Genotype g = parse_genotype(text, "fuzz");
        require(parse_genotype(to_darts_string(g), "darts print") == g, "darts form round trip");
        require(parse_genotype(to_json_string(g), "json print") == g, "json form round trip");
        require(parse_genotype(to_katib_string(g), "katib print") == g, "katib form round trip");
    });
}

}  // namespace cudarts::fuzz
