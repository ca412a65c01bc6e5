// IDX files (data/dataset.h), plain: the input is split into the labels file and the images
// file (fuzz.h, split_two).
#include "tests/fuzz/data_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    cudarts::fuzz::load_idx_pair(data, size, "");
    return 0;
}
