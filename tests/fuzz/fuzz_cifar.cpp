// CIFAR-10 and CIFAR-100 binary files (data/dataset.h): the input is the test split's file.
#include "data/dataset.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace cudarts::fuzz;
    write_scratch("test_batch.bin", data, size);
    write_scratch("test.bin", data, size);
    for (bool hundred : {false, true})
        expect_input_error([&] {
            const cudarts::ImageDataset set = hundred ? cudarts::load_cifar100(scratch_dir(), false)
                                                      : cudarts::load_cifar10(scratch_dir(), false);
            require(set.pixels.size() == size_t(set.size() * set.image_bytes()),
                    "pixel count disagrees with the image count");
        });
    return 0;
}
