// JPEG decoding for image folders (data/image_folder.h), in memory, to gray and RGB,
// then the resize and centre crop every folder image goes through.
#include "data/image_folder.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace cudarts::fuzz;
    const std::vector<uint8_t> bytes(data, data + size);
    for (int channels : {1, 3})
        expect_input_error([&] {
            const cudarts::DecodedImage img =
                cudarts::decode_image_bytes(bytes, "fuzz.jpeg", channels);
            require(img.pixels.size() == size_t(img.height) * size_t(img.width) * size_t(channels),
                    "decoded pixel count disagrees with the size");
            std::vector<uint8_t> out(size_t(channels) * 8 * 8);
            cudarts::resize_center_crop(img, 10, 8, out.data());
        });
    return 0;
}
