// Users' own images as a data set, laid out as torchvision's ImageFolder reads them, so that labels
// agree with a PyTorch run on the same tree: root/<class>/**/*.{jpg,jpeg,png} (any case). Classes
// are root's sub-directories sorted by name (byte order, as Python sorts); a class's images are
// taken in the order of sorted(os.walk()): directories by path, files by name. Other files are
// ignored; the content (JPEG or PNG signature), not the extension, picks the decoder.
// Decoding matches PIL's convert("RGB"/"L"): libjpeg with its default (islow) IDCT and fancy
// upsampling; libpng with palettes expanded, 16-bit samples cut to their high byte (PIL clips
// 16-bit grey instead), alpha and tRNS dropped, gamma ignored. CMYK JPEGs are rejected. Grey is the
// rounded luma 0.299 R + 0.587 G + 0.114 B (PIL's fixed point differs by 1 in about 1 pixel in
// 4000). Then torchvision's Resize(resize) + CenterCrop(size): the shorter side becomes `resize`,
// the longer one scaled and truncated, with PIL's antialiased BILINEAR (a triangle filter widened
// by the shrink factor; horizontal pass, round to bytes, vertical pass). Weights are exact doubles
// where PIL uses fixed point, so about 5% of pixels differ from PIL's by 1, none by more
// (checked on random images). The crop offset rounds half to even, like Python's round().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace cudarts {

struct ImageFolderOptions {
    int size = 32;     // output images are size x size, in [1, 4096]
    int channels = 3;  // 3 = RGB, 1 = grayscale (rounded luma 0.299 R + 0.587 G + 0.114 B)
    int resize = 0;    // the shorter side is resized to this first; 0 = `size`; else >= size
};

// The images under `root`, decoded, resized and centre-cropped to channels x size x size, with
// name "folder", label = the index of the class in image_folder_classes(root), and mean/stddev
// computed from the loaded pixels. Throws InputError when root is missing or not a directory,
// has no class directories, a class has no images, an image is corrupt, truncated or CMYK, or an
// option is out of range.
ImageDataset load_image_folder(const std::string& root, const ImageFolderOptions& opt);

// The class names: the sub-directories of `root` in sorted order. Throws InputError when root is
// missing, not a directory, or has no sub-directories.
std::vector<std::string> image_folder_classes(const std::string& root);

// The tree of one split under `dir`: with a train/ sub-directory, dir/train for training and
// dir/val (else dir/test) for testing, as ImageNet-style trees are laid out; without one, `dir`
// itself for training and an InputError for testing (no held-out images). A class must therefore
// not be named "train". Throws InputError for an empty `dir`.
std::string image_folder_split(const std::string& dir, bool train);

// One decoded image, HWC: height x width x channels bytes (channels 1 or 3).
struct DecodedImage {
    int height = 0, width = 0, channels = 0;
    std::vector<uint8_t> pixels;
};

// Decodes the JPEG or PNG file at `path` into `channels` (1 or 3) channels, at its own size.
DecodedImage decode_image(const std::string& path, int channels);
// The same from the file's bytes already in memory; `path` names them in messages.
DecodedImage decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& path,
                                int channels);

// Torchvision's Resize(resize) then CenterCrop(size) on an HWC image (resize >= size), into
// `out` as CHW: channels x size x size bytes.
void resize_center_crop(const DecodedImage& img, int resize, int size, uint8_t* out);

}  // namespace cudarts
