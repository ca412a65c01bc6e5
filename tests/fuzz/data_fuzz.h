// The image and IDX targets share their bodies, each pair differing only in the file format:
// decode an image (JPEG or PNG) to gray and RGB and resize it, or load an IDX pair (plain or
// gzip'd) split from one input.
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/image_folder.h"
#include "tests/fuzz/fuzz.h"

namespace cudarts::fuzz {

// Decodes the input as the image `name` (its extension picks the format), to gray and to RGB, then
// resizes and centre-crops it as every folder image is.
inline void decode_and_resize(const uint8_t* data, size_t size, const char* name) {
    const std::vector<uint8_t> bytes(data, data + size);
    for (int channels : {1, 3})
        expect_input_error([&] {
            const DecodedImage img = decode_image_bytes(bytes, name, channels);
            require(img.pixels.size() == size_t(img.height) * size_t(img.width) * size_t(channels),
                    "decoded pixel count disagrees with the size");
            std::vector<uint8_t> out(size_t(channels) * 8 * 8);
            resize_center_crop(img, 10, 8, out.data());
        });
}

// Splits the input into the test labels and images files (split_two), named with `suffix`
// ("" or ".gz"), and loads them.
inline void load_idx_pair(const uint8_t* data, size_t size, const std::string& suffix) {
    const TwoFiles files = split_two(data, size);
    write_scratch("t10k-labels-idx1-ubyte" + suffix, files.first.data(), files.first.size());
    write_scratch("t10k-images-idx3-ubyte" + suffix, files.second.data(), files.second.size());
    expect_input_error([&] {
        const ImageDataset set = load_idx(scratch_dir(), false, "fuzz");
        require(set.pixels.size() == size_t(set.size() * set.image_bytes()),
                "pixel count disagrees with the image count");
    });
}

}  // namespace cudarts::fuzz
