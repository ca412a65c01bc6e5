// Dataset loaders. CIFAR files are read whole (30 MB at most) and checked record by record; IDX
// files go through zlib's gzread, which reads gzip'd and plain files alike, so one reader serves
// both. Reading one byte past the expected end makes zlib check the gzip trailer's CRC, so a
// corrupt archive fails here with zlib's message instead of producing wrong pixels.
// Allocation follows the file, not its header: a count the file cannot hold (more bytes than a
// plain file has left, more than deflate's 1032:1 limit allows a gzip file) is refused before
// anything is allocated, and the buffers grow as data arrive, so a gzip stream shorter than its
// header claims fails at its real end. Every input must be a regular file (engine/fileio.h).
#include "data/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "data/image_folder.h"
#include "engine/fileio.h"
#include "kernels/check.h"
#include "kernels/philox.h"

namespace cudarts {

namespace fs = std::filesystem;

namespace {

// Normalisation constants (mean, std over the training set on the [0, 1] scale).
const std::vector<float> kCifar10Mean = {0.49139968f, 0.48215827f, 0.44653124f};  // darts.md
const std::vector<float> kCifar10Std = {0.24703233f, 0.24348505f, 0.26158768f};
const std::vector<float> kCifar100Mean = {0.50707516f, 0.48654887f, 0.44091784f};
const std::vector<float> kCifar100Std = {0.26733429f, 0.25643846f, 0.27615047f};
constexpr int kCifarSide = 32;
constexpr int64_t kCifarImageBytes = 3 * kCifarSide * kCifarSide;  // R plane, G plane, B plane

// `dir`/`sub` when that directory exists (the caller named the parent), else `dir`.
fs::path data_dir(const std::string& dir, const char* sub) {
    const fs::path nested = fs::path(dir) / sub;
    std::error_code ec;
    return fs::is_directory(nested, ec) ? nested : fs::path(dir);
}

// Present at all: the reader then refuses a FIFO or a device by name instead of calling it missing.
bool is_file(const fs::path& p) {
    std::error_code ec;
    return fs::exists(p, ec) && !fs::is_directory(p, ec);
}

struct CifarFormat {
    const char* name;      // "cifar10"
    const char* subdir;    // the directory the archive unpacks to
    const char* expected;  // what the directory must hold, for error messages
    int label_bytes;       // bytes before the pixels; the label is the last of them
    int classes;
};

ImageDataset load_cifar(const CifarFormat& f, const std::string& dir,
                        const std::vector<std::string>& files, const std::vector<float>& mean,
                        const std::vector<float>& stddev) {
    const fs::path root = data_dir(dir, f.subdir);
    std::error_code ec;
    if (!fs::is_directory(root, ec))
        throw InputError(std::string(f.name) + ": missing directory " + root.string() +
                         " (expected " + f.expected + ")");
    ImageDataset set;
    set.name = f.name;
    set.channels = 3;
    set.height = set.width = kCifarSide;
    set.classes = f.classes;
    set.mean = mean;
    set.stddev = stddev;
    const int64_t record = f.label_bytes + kCifarImageBytes;
    for (const std::string& file : files) {
        const fs::path path = root / file;
        if (!is_file(path))
            throw InputError(std::string(f.name) + ": missing " + path.string() + " (expected " +
                             f.expected + ")");
        const std::vector<uint8_t> bytes = read_file(path.string());
        const int64_t n = int64_t(bytes.size());
        if (n == 0 || n % record != 0)
            throw InputError(path.string() + ": expected a multiple of " + std::to_string(record) +
                             " bytes (" + std::to_string(f.label_bytes) + " label + " +
                             std::to_string(kCifarImageBytes) + " pixel bytes per image), got " +
                             std::to_string(n));
        const int64_t first = set.size();
        set.pixels.resize(size_t((first + n / record) * kCifarImageBytes));
        for (int64_t r = 0; r < n / record; ++r) {
            const uint8_t* rec = bytes.data() + r * record;
            const int label = rec[f.label_bytes - 1];
            if (label >= f.classes)
                throw InputError(path.string() + ": image " + std::to_string(r) + " has label " +
                                 std::to_string(label) + " (expected 0.." +
                                 std::to_string(f.classes - 1) + ")");
            set.labels.push_back(label);
            // The record stores the R, G and B planes one after the other: already CHW.
            std::memcpy(set.pixels.data() + (first + r) * kCifarImageBytes, rec + f.label_bytes,
                        size_t(kCifarImageBytes));
        }
    }
    return set;
}

// Deflate's largest expansion: a 258-byte match costs at least 2 bits, ~1032 output bytes per input
// byte, so no gzip file yields more than this many times its own size.
constexpr uint64_t kMaxDeflateRatio = 1032;
// Buffers grow by this much at a time while a count the header claims is read.
constexpr uint64_t kReadChunk = uint64_t(1) << 24;

// Sequential reads through zlib: gzip'd or plain (zlib passes non-gzip files through unchanged).
class GzReader {
public:
    explicit GzReader(const std::string& path) : path_(path) {
        InputFile in = open_input_file(path);
        size_ = in.size();
        file_ = gzdopen(in.fd(), "rb");
        if (file_ == nullptr)
            throw InputError(path + ": cannot open (" + std::strerror(errno ? errno : ENOMEM) +
                             ")");
        in.release();  // zlib closes it
        gzbuffer(file_, 1 << 17);
    }
    ~GzReader() {
        if (file_ != nullptr) gzclose(file_);
    }
    GzReader(const GzReader&) = delete;
    GzReader& operator=(const GzReader&) = delete;

    // Exactly n bytes of `what`, or an InputError naming the file.
    void read(void* dst, int64_t n, const std::string& what) {
        const int64_t got = read_some(dst, n);
        if (got < n) truncated(n, what, got);
    }

    // The next n bytes, which the header claims as `claim` ("60000 labels"), into `out`. Refused
    // up front when the file cannot hold them; otherwise `out` grows chunk by chunk as they arrive.
    void read_claimed(std::vector<uint8_t>& out, uint64_t n, const std::string& claim) {
        // gzdirect is meaningful once something was read: the header was.
        const bool plain = gzdirect(file_) != 0;
        const uint64_t offset = uint64_t(std::max<z_off_t>(gztell(file_), 0));
        const uint64_t room =
            plain ? (size_ > offset ? size_ - offset : 0) : size_ * kMaxDeflateRatio;
        if (n > room)
            throw InputError(path_ + ": header claims " + claim + " (" + std::to_string(n) +
                             " bytes) but the " + std::to_string(size_) + "-byte " +
                             (plain
                                  ? "file holds " + std::to_string(room) + " bytes after its header"
                                  : std::string("gzip file cannot expand to that many")));
        out.clear();
        while (out.size() < n) {
            const size_t have = out.size();
            out.resize(size_t(std::min(n, have + kReadChunk)));
            const int64_t want = int64_t(out.size() - have);
            const int64_t got = read_some(out.data() + have, want);
            if (got < want) truncated(int64_t(n), claim, int64_t(have) + got);
        }
    }

    // Throws unless the file ends here (reading on also makes zlib verify the gzip CRC).
    void expect_end(const std::string& after) {
        uint8_t extra = 0;
        if (gzread(file_, &extra, 1) != 0 || !gzeof(file_)) {
            check_stream();
            throw InputError(path_ + ": unexpected data after " + after);
        }
        check_stream();
    }

private:
    // Up to n bytes; fewer only at the end of the data. Throws on a read or gzip error.
    int64_t read_some(void* dst, int64_t n) {
        auto* out = static_cast<uint8_t*>(dst);
        int64_t got = 0;
        while (got < n) {
            const unsigned chunk = unsigned(std::min<int64_t>(n - got, int64_t(1) << 30));
            const int r = gzread(file_, out + got, chunk);
            if (r <= 0) {
                check_stream();
                break;
            }
            got += r;
        }
        return got;
    }

    [[noreturn]] void truncated(int64_t n, const std::string& what, int64_t got) const {
        throw InputError(path_ + ": truncated: expected " + std::to_string(n) + " bytes of " +
                         what + ", got " + std::to_string(got));
    }

    // Throws if zlib reports an error (bad deflate data, wrong CRC, truncated gzip stream).
    void check_stream() {
        int err = Z_OK;
        const char* msg = gzerror(file_, &err);
        if (err == Z_ERRNO)
            throw InputError(path_ + ": cannot read (" + std::strerror(errno) + ")");
        if (err != Z_OK) {
            std::string why = msg;  // zlib prefixes its message with the path: drop that
            if (why.rfind(path_ + ": ", 0) == 0) why.erase(0, path_.size() + 2);
            throw InputError(path_ + ": corrupt gzip data (" + why + ")");
        }
    }

    std::string path_;
    uint64_t size_ = 0;  // of the file as stored (compressed or not)
    gzFile file_ = nullptr;
};

uint32_t be32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

std::string hex32(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%08X", v);
    return buf;
}

// `dir`/`stem`, or `dir`/`stem`.gz; "" if neither exists.
std::string find_idx(const fs::path& dir, const std::string& stem) {
    if (is_file(dir / stem)) return (dir / stem).string();
    if (is_file(dir / (stem + ".gz"))) return (dir / (stem + ".gz")).string();
    return "";
}

constexpr const char* kIdxExpected =
    "IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
    "t10k-labels-idx1-ubyte, each plain or .gz";

// Above this many pixel bytes an IDX header is taken as corrupt rather than allocated (16 GiB).
constexpr uint64_t kMaxIdxBytes = uint64_t(1) << 34;

}  // namespace

void set_pixel_stats(ImageDataset& set) {
    const int64_t plane = int64_t(set.height) * set.width;
    set.mean.assign(size_t(set.channels), 0.f);
    set.stddev.assign(size_t(set.channels), 1.f);
    for (int c = 0; c < set.channels; ++c) {
        double sum = 0, sum_sq = 0;
        for (int64_t i = 0; i < set.size(); ++i) {
            const uint8_t* p = set.pixels.data() + (i * set.channels + c) * plane;
            for (int64_t k = 0; k < plane; ++k) {
                const double v = p[k] / 255.0;
                sum += v;
                sum_sq += v * v;
            }
        }
        const double count = double(set.size()) * double(plane);
        const double mean = count > 0 ? sum / count : 0.0;
        const double var = count > 0 ? std::max(0.0, sum_sq / count - mean * mean) : 0.0;
        set.mean[size_t(c)] = float(mean);
        // A constant channel would divide by zero; leave it unscaled instead.
        set.stddev[size_t(c)] = var > 0 ? float(std::sqrt(var)) : 1.f;
    }
}

ImageDataset load_cifar10(const std::string& dir, bool train) {
    const CifarFormat f{"cifar10", "cifar-10-batches-bin",
                        "the CIFAR-10 binary version: data_batch_1.bin ... data_batch_5.bin, "
                        "test_batch.bin",
                        1, 10};
    std::vector<std::string> files;
    if (train)
        for (int i = 1; i <= 5; ++i) files.push_back("data_batch_" + std::to_string(i) + ".bin");
    else
        files.push_back("test_batch.bin");
    return load_cifar(f, dir, files, kCifar10Mean, kCifar10Std);
}

ImageDataset load_cifar100(const std::string& dir, bool train) {
    const CifarFormat f{"cifar100", "cifar-100-binary",
                        "the CIFAR-100 binary version: train.bin, test.bin", 2, 100};
    return load_cifar(f, dir, {train ? "train.bin" : "test.bin"}, kCifar100Mean, kCifar100Std);
}

ImageDataset load_idx(const std::string& dir, bool train, const std::string& name) {
    const std::string what = name.empty() ? "idx" : name;
    const std::string split = train ? "train" : "t10k";
    const fs::path root(dir);
    const std::string images_path = find_idx(root, split + "-images-idx3-ubyte");
    const std::string labels_path = find_idx(root, split + "-labels-idx1-ubyte");
    for (const auto& [path, stem] : {std::pair{images_path, "-images-idx3-ubyte"},
                                     std::pair{labels_path, "-labels-idx1-ubyte"}})
        if (path.empty())
            throw InputError(what + ": missing " + (root / (split + stem)).string() +
                             "[.gz] (expected " + kIdxExpected + ")");

    ImageDataset set;
    set.name = name;
    set.channels = 1;

    // Labels first: they are small, and their count must match the images' before the big read.
    GzReader labels_in(labels_path);
    uint8_t head[16];
    labels_in.read(head, 8, "IDX header");
    if (be32(head) != 0x00000801u)
        throw InputError(labels_path + ": bad IDX magic " + hex32(be32(head)) +
                         " (expected 0x00000801: unsigned bytes, 1 dimension)");
    const uint32_t n_labels = be32(head + 4);
    std::vector<uint8_t> raw_labels;
    labels_in.read_claimed(raw_labels, n_labels, std::to_string(n_labels) + " labels");
    labels_in.expect_end(std::to_string(n_labels) + " labels");

    GzReader images_in(images_path);
    images_in.read(head, 16, "IDX header");
    if (be32(head) != 0x00000803u)
        throw InputError(images_path + ": bad IDX magic " + hex32(be32(head)) +
                         " (expected 0x00000803: unsigned bytes, 3 dimensions)");
    const uint32_t n = be32(head + 4), rows = be32(head + 8), cols = be32(head + 12);
    if (n == 0 || rows == 0 || cols == 0 || uint64_t(n) * rows * cols > kMaxIdxBytes)
        throw InputError(images_path + ": implausible IDX dimensions " + std::to_string(n) + " x " +
                         std::to_string(rows) + " x " + std::to_string(cols) +
                         " (expected at least one image, at most 16 GiB)");
    if (n != n_labels)
        throw InputError(images_path + " holds " + std::to_string(n) + " images but " +
                         labels_path + " holds " + std::to_string(n_labels) +
                         " labels (expected the same count)");
    set.height = int(rows);
    set.width = int(cols);
    images_in.read_claimed(
        set.pixels, uint64_t(n) * rows * cols,
        std::to_string(n) + " images of " + std::to_string(rows) + " x " + std::to_string(cols));
    images_in.expect_end(std::to_string(n) + " images");

    set.labels.assign(raw_labels.begin(), raw_labels.end());
    set.classes = std::max(10, *std::max_element(raw_labels.begin(), raw_labels.end()) + 1);
    if (name == "mnist") {
        set.mean = {0.1307f};
        set.stddev = {0.3081f};
    } else if (name == "fashion-mnist") {
        set.mean = {0.2860f};
        set.stddev = {0.3530f};
    } else {
        set_pixel_stats(set);
    }
    return set;
}

ImageDataset make_synthetic(int n, int channels, int size, int classes, uint64_t seed) {
    CUDARTS_CHECK(n > 0 && channels > 0 && size >= 7 && classes >= 1 && classes <= 12,
                  "make_synthetic: n=" << n << " channels=" << channels << " size=" << size
                                       << " classes=" << classes);
    static const int kStep[4][2] = {{0, 1}, {1, 0}, {1, 1}, {1, -1}};  // (dy, dx) per orientation
    static const int kLength[3] = {5, 3, 7};                           // per k / 4
    constexpr uint32_t kNoise = 61;                                    // background in [0, 60]
    ImageDataset set;
    set.name = "synthetic";
    set.channels = channels;
    set.height = set.width = size;
    set.classes = classes;
    const int64_t plane = int64_t(size) * size;
    const int64_t per_image = plane * channels;
    set.pixels.resize(size_t(n * per_image));
    set.labels.resize(size_t(n));
    for (int i = 0; i < n; ++i) {
        // Image i draws from two Philox streams: (seed, 2i) places the bar (elements 0, 1) and
        // sets its brightness per channel (2 + c); (seed, 2i + 1) gives the background noise.
        const int cls = i % classes;  // balanced classes, interleaved so any slice stays balanced
        const int dy = kStep[cls % 4][0], dx = kStep[cls % 4][1], len = kLength[cls / 4];
        const uint64_t bar_stream = 2 * uint64_t(i), noise_stream = bar_stream + 1;
        const int y0 = int(philox::bits(seed, bar_stream, 0) % uint32_t(size - (len - 1) * dy));
        const int x_lo = dx < 0 ? len - 1 : 0;
        const int x0 =
            x_lo + int(philox::bits(seed, bar_stream, 1) % uint32_t(size - (len - 1) * (dx != 0)));
        uint8_t* img = set.pixels.data() + i * per_image;
        for (int64_t q = 0; q < per_image; q += 4) {
            const philox::U32x4 noise = philox::block(seed, noise_stream, uint64_t(q / 4));
            for (int64_t k = q; k < std::min(q + 4, per_image); ++k)
                img[k] = uint8_t(noise.v[k - q] % kNoise);
        }
        for (int c = 0; c < channels; ++c) {
            const auto bright = uint8_t(160 + philox::bits(seed, bar_stream, 2 + uint64_t(c)) % 96);
            for (int t = 0; t < len; ++t)
                img[c * plane + (y0 + t * dy) * size + x0 + t * dx] = bright;  // in [160, 255]
        }
        set.labels[size_t(i)] = cls;
    }
    set_pixel_stats(set);
    return set;
}

ImageDataset load_dataset(const std::string& name, const std::string& dir, bool train) {
    if (name == "synthetic") {
        constexpr int kChannels = 3, kSize = 16, kClasses = 4;
        ImageDataset set =
            make_synthetic(train ? 1024 : 256, kChannels, kSize, kClasses, train ? 1 : 2);
        if (!train) {  // normalise the test split like the training split
            const ImageDataset ref = make_synthetic(1024, kChannels, kSize, kClasses, 1);
            set.mean = ref.mean;
            set.stddev = ref.stddev;
        }
        return set;
    }
    if (name == "folder") {  // root/<class>/*.jpg|png, or root/train + root/val; 3 x 32 x 32
        if (dir.empty()) throw InputError("folder: expected --data DIR (root/<class>/*.jpg|png)");
        ImageDataset set = load_image_folder(image_folder_split(dir, train), ImageFolderOptions{});
        if (!train) {  // normalise the test split like the training split
            const ImageDataset ref = load_image_folder(image_folder_split(dir, true), {});
            set.mean = ref.mean;
            set.stddev = ref.stddev;
        }
        return set;
    }
    const bool known =
        name == "cifar10" || name == "cifar100" || name == "mnist" || name == "fashion-mnist";
    if (!known)
        throw InputError("--dataset: unknown '" + name +
                         "' (expected cifar10, cifar100, mnist, fashion-mnist, synthetic, folder)");
    std::string where = dir;
    if (where.empty() && name == "fashion-mnist") {
        where = default_fashion_mnist_dir();
        if (where.empty())
            throw InputError(
                "fashion-mnist: no data directory given and the embedded default is "
                "not installed (expected /usr/share/datasets/fashion-mnist from "
                "Debian's dataset-fashion-mnist, or .deps/ from scripts/deps-prefix)");
    }
    if (where.empty())
        throw InputError(name + ": no data directory given (expected the directory holding the " +
                         name + " files)");
    if (name == "cifar10") return load_cifar10(where, train);
    if (name == "cifar100") return load_cifar100(where, train);
    return load_idx(where, train, name);
}

std::string default_fashion_mnist_dir() {
    const std::string sub = "/usr/share/datasets/fashion-mnist";
    for (const std::string& dir : {sub, std::string(CUDARTS_DEPS_DIR) + sub}) {
        bool all = true;
        for (const char* stem : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"})
            all = all && !find_idx(dir, stem).empty();
        if (all) return dir;
    }
    return "";
}

ImageDataset slice(const ImageDataset& set, int64_t begin, int64_t count) {
    CUDARTS_CHECK(
        begin >= 0 && count >= 0 && begin + count <= set.size(),
        "slice: [" << begin << ", " << begin + count << ") of " << set.size() << " samples");
    ImageDataset out;
    out.name = set.name;
    out.channels = set.channels;
    out.height = set.height;
    out.width = set.width;
    out.classes = set.classes;
    out.mean = set.mean;
    out.stddev = set.stddev;
    const auto* px = set.pixels.data() + begin * set.image_bytes();
    out.pixels.assign(px, px + count * set.image_bytes());
    out.labels.assign(set.labels.begin() + begin, set.labels.begin() + begin + count);
    return out;
}

}  // namespace cudarts
