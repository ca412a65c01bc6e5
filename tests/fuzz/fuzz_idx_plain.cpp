// IDX files (data/dataset.h), plain: the input is split into the labels file and the images
// file (fuzz.h, split_two).
#include "data/dataset.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace cudarts::fuzz;
    const TwoFiles files = split_two(data, size);
    write_scratch("t10k-labels-idx1-ubyte", files.first.data(), files.first.size());
    write_scratch("t10k-images-idx3-ubyte", files.second.data(), files.second.size());
    expect_input_error([&] {
        const cudarts::ImageDataset set = cudarts::load_idx(scratch_dir(), false, "fuzz");
        require(set.pixels.size() == size_t(set.size() * set.image_bytes()),
                "pixel count disagrees with the image count");
    });
    return 0;
}
