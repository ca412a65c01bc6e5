// PNG decoding for image folders (data/image_folder.h), in memory, to gray and RGB,
// then the resize and centre crop every folder image goes through.
#include "tests/fuzz/data_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    cudarts::fuzz::decode_and_resize(data, size, "fuzz.png");
    return 0;
}
