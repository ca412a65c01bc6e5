// Genotype parsing (models/darts/genotype.h), seeded with the katib form (corpus/genotype_katib/).
#include "tests/fuzz/genotype_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    cudarts::fuzz::genotype_round_trip(data, size);
    return 0;
}
