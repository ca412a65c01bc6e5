// Image datasets held as the files store them: uint8 pixels, one CHW image after another, int32
// labels, and the per-channel mean and standard deviation that normalise them (on the [0, 1] scale,
// i.e. applied after ToTensor's division by 255). Keeping bytes rather than floats costs a quarter
// of the memory and lets augmentation pad with exact zeros before normalising, as torchvision does
// (data/transforms.h turns samples into float batches).
// Formats: CIFAR-10 and CIFAR-100 "binary version" records (label byte(s), then the R, G and B
// planes of 32x32, i.e. already CHW); IDX files (MNIST, Fashion-MNIST, KMNIST), plain or gzip'd;
// and a generated, learnable synthetic set. Every problem with a file is an InputError naming the
// file and what was expected. Normalisation constants: CIFAR-10 from reference/darts.md; CIFAR-100,
// MNIST and Fashion-MNIST the customary values over each training set; anything else is computed
// from the loaded pixels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cudarts {

struct ImageDataset {
    std::string name;  // "cifar10", "cifar100", "mnist", "fashion-mnist", "synthetic"
    int channels = 0, height = 0, width = 0, classes = 0;
    std::vector<uint8_t> pixels;      // size() * channels * height * width, each image CHW
    std::vector<int32_t> labels;      // in [0, classes)
    std::vector<float> mean, stddev;  // per channel, on the [0,1] scale (ToTensor then Normalize)
    int64_t size() const { return int64_t(labels.size()); }
    int64_t image_bytes() const { return int64_t(channels) * height * width; }
};

// CIFAR-10 binary version: `dir` is cifar-10-batches-bin/ (or its parent containing it):
// data_batch_1..5.bin (train, 50000) or test_batch.bin (10000); record = 1 label byte + 3072 bytes.
ImageDataset load_cifar10(const std::string& dir, bool train);

// CIFAR-100 binary: cifar-100-binary/ (or its parent): train.bin / test.bin; record = coarse byte,
// fine byte, 3072 bytes; labels are the 100 fine classes.
ImageDataset load_cifar100(const std::string& dir, bool train);

// IDX files (MNIST, Fashion-MNIST, KMNIST...): train-images-idx3-ubyte and train-labels-idx1-ubyte,
// or t10k-*, each plain or with .gz (plain is preferred when both exist). Any image size;
// channels = 1; classes = max label + 1, at least 10. `name` picks the normalisation: "mnist"
// 0.1307/0.3081, "fashion-mnist" 0.2860/0.3530, anything else the loaded split's own statistics.
ImageDataset load_idx(const std::string& dir, bool train, const std::string& name);

// n generated images of (channels, size, size), deterministic in seed, classes in [1, 12],
// size >= 7. Class k is a bright bar on a dim noisy background: orientation k % 4 (horizontal,
// vertical, diagonal, anti-diagonal), length 5, 3 or 7 for k / 4 = 0, 1, 2, at a random position
// and brightness per channel. A small convnet learns it; a linear model on the pixels cannot
// (the position varies). mean/stddev are computed from the generated pixels.
ImageDataset make_synthetic(int n, int channels, int size, int classes, uint64_t seed);

// By name: cifar10, cifar100, mnist, fashion-mnist or synthetic. An unknown name is an InputError.
// fashion-mnist with an empty dir reads the embedded default (default_fashion_mnist_dir()).
// synthetic ignores dir: 1024 training / 256 test images of 3x16x16 in 4 classes (seeds 1 and 2,
// so the two splits differ), both normalised with the training split's statistics. Small enough
// to generate in milliseconds, big enough that a search shows learning within one epoch.
// folder: an image folder (data/image_folder.h) at 3x32x32; dir/train and dir/val (or dir/test)
// when present, else dir itself is the training split. Its test split uses the training split's
// normalisation.
ImageDataset load_dataset(const std::string& name, const std::string& dir, bool train);

// Where the embedded Fashion-MNIST (Debian's dataset-fashion-mnist) lives: the system's
// /usr/share/datasets/fashion-mnist if its four files are there, else the same path under the
// unpacked prefix CUDARTS_DEPS_DIR (scripts/deps-prefix), else "".
std::string default_fashion_mnist_dir();

// Sets mean and stddev to the per-channel mean and population standard deviation of the pixels
// on the [0, 1] scale; a constant channel gets stddev 1 (left unscaled).
void set_pixel_stats(ImageDataset& set);

// Samples [begin, begin + count) as a new dataset with the same metadata (name, shape, classes,
// normalisation). DARTS search splits the CIFAR-10 training set into halves this way.
ImageDataset slice(const ImageDataset& set, int64_t begin, int64_t count);

}  // namespace cudarts
