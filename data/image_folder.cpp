// Image folders: directory scan in torchvision's order, JPEG and PNG decoding, Resize + CenterCrop.
// libjpeg and libpng report errors through a callback that must not return; they are C, so the
// callback longjmps back to a setjmp in a small decode function instead of throwing through C
// frames. To keep the jump well defined, those functions create no object with a destructor
// after their setjmp: all state (library structs, messages, the output) lives in the caller,
// which turns a failed decode into an InputError. Files are read whole and decoded from memory.
#include "data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>

// After <cstdio>: jpeglib.h uses FILE and size_t without including their headers.
// clang-format off
#include <jpeglib.h>  // libjpeg-turbo's libjpeg API
#include <jerror.h>   // JWRN_JPEG_EOF
#include <png.h>
// clang-format on

#include "engine/fileio.h"
#include "kernels/check.h"

namespace cudarts {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxSize = 4096;                    // largest output side accepted
constexpr int64_t kMaxPixels = int64_t(1) << 28;  // larger images are taken as corrupt
// A JPEG spends at least one bit of DC code per 8x8 block of each component, so no real file holds
// more than 512 pixels per byte; a header claiming far more came from a damaged or forged file,
// whose decoding would fill a huge grey image (libjpeg buffers a progressive image whole).
constexpr int64_t kMaxJpegPixelsPerByte = 2048;
constexpr int kMaxDepth = 32;  // sub-directory nesting (symlink loops)
enum class Decode { ok, error, cmyk, too_big };

// ---- JPEG ----

struct JpegState {
    jpeg_decompress_struct cinfo{};
    jpeg_error_mgr err{};
    std::jmp_buf jump{};
    char message[JMSG_LENGTH_MAX] = "";
    bool created = false;
    JpegState() = default;
    JpegState(const JpegState&) = delete;
    JpegState& operator=(const JpegState&) = delete;
    ~JpegState() {
        if (created) jpeg_destroy_decompress(&cinfo);
    }
};

[[noreturn]] void jpeg_fail(j_common_ptr cinfo) {
    auto* st = static_cast<JpegState*>(cinfo->client_data);
    (*cinfo->err->format_message)(cinfo, st->message);
    std::longjmp(st->jump, 1);
}

// libjpeg only warns when the data ends early and decodes the rest as grey; PIL refuses such a
// file, and so do we. Other warnings (stray bytes between markers) are ignored, as PIL does.
void jpeg_warn(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(cinfo);
}

// Only trivially destructible locals from setjmp on: a longjmp may land in it.
Decode decode_jpeg_into(JpegState* st, const uint8_t* data, size_t n, DecodedImage* out) {
    if (setjmp(st->jump)) return Decode::error;
    jpeg_create_decompress(&st->cinfo);  // keeps cinfo.err and client_data
    st->created = true;
    jpeg_mem_src(&st->cinfo, data, static_cast<unsigned long>(n));
    jpeg_read_header(&st->cinfo, TRUE);
    const J_COLOR_SPACE space = st->cinfo.jpeg_color_space;
    if (space == JCS_CMYK || space == JCS_YCCK) return Decode::cmyk;
    out->width = int(st->cinfo.image_width);
    out->height = int(st->cinfo.image_height);
    const int64_t pixels = int64_t(out->width) * out->height;
    if (pixels > kMaxPixels || pixels > kMaxJpegPixelsPerByte * int64_t(n) + (int64_t(1) << 16))
        return Decode::too_big;
    st->cinfo.out_color_space = space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&st->cinfo);
    out->width = int(st->cinfo.output_width);
    out->height = int(st->cinfo.output_height);
    out->channels = st->cinfo.output_components;
    const size_t stride = size_t(out->width) * size_t(out->channels);
    out->pixels.resize(stride * size_t(out->height));
    while (st->cinfo.output_scanline < st->cinfo.output_height) {
        JSAMPROW row = out->pixels.data() + st->cinfo.output_scanline * stride;
        jpeg_read_scanlines(&st->cinfo, &row, 1);
    }
    jpeg_finish_decompress(&st->cinfo);
    return Decode::ok;
}

Decode decode_jpeg(const std::vector<uint8_t>& bytes, DecodedImage& out, std::string& why) {
    JpegState st;
    st.cinfo.err = jpeg_std_error(&st.err);
    st.err.error_exit = jpeg_fail;
    st.err.emit_message = jpeg_warn;
    st.cinfo.client_data = &st;
    const Decode r = decode_jpeg_into(&st, bytes.data(), bytes.size(), &out);
    why = st.message;
    return r;
}

// ---- PNG ----

struct PngState {
    const uint8_t* data = nullptr;
    size_t size = 0, pos = 0;
    char message[256] = "";
    png_structp png = nullptr;
    png_infop info = nullptr;
    PngState() = default;
    PngState(const PngState&) = delete;
    PngState& operator=(const PngState&) = delete;
    ~PngState() {
        if (png != nullptr) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    }
};

[[noreturn]] void png_fail(png_structp png, png_const_charp msg) {
    auto* st = static_cast<PngState*>(png_get_error_ptr(png));
    std::snprintf(st->message, sizeof(st->message), "%s", msg);
    png_longjmp(png, 1);
}

void png_ignore_warning(png_structp, png_const_charp) {}  // e.g. "known incorrect sRGB profile"

void png_read_memory(png_structp png, png_bytep dst, size_t n) {
    auto* st = static_cast<PngState*>(png_get_io_ptr(png));
    if (n > st->size - st->pos) png_error(png, "unexpected end of file");
    std::memcpy(dst, st->data + st->pos, n);
    st->pos += n;
}

// Only trivially destructible locals from setjmp on: a longjmp may land in it.
Decode decode_png_into(PngState* st, DecodedImage* out) {
    png_structp png = st->png;
    png_infop info = st->info;
    if (setjmp(png_jmpbuf(png))) return Decode::error;
    png_read_info(png, info);
    const int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);  // may add tRNS alpha
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);  // keep the high byte, as PIL does for RGB
    const int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    out->width = int(png_get_image_width(png, info));
    out->height = int(png_get_image_height(png, info));
    out->channels = png_get_channels(png, info);  // 1..4; alpha is dropped by the caller
    if (int64_t(out->width) * out->height > kMaxPixels) return Decode::too_big;
    const size_t stride = size_t(out->width) * size_t(out->channels);
    out->pixels.resize(stride * size_t(out->height));
    for (int pass = 0; pass < passes; ++pass)
        for (int y = 0; y < out->height; ++y)
            png_read_row(png, out->pixels.data() + size_t(y) * stride, nullptr);
    png_read_end(png, nullptr);  // checks the CRCs of the chunks after the image data
    return Decode::ok;
}

Decode decode_png(const std::vector<uint8_t>& bytes, DecodedImage& out, std::string& why) {
    PngState st;
    st.data = bytes.data();
    st.size = bytes.size();
    st.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, png_fail, png_ignore_warning);
    if (st.png != nullptr) st.info = png_create_info_struct(st.png);
    CUDARTS_CHECK(st.png != nullptr && st.info != nullptr, "libpng: cannot create read structs");
    png_set_read_fn(st.png, &st, png_read_memory);
    const Decode r = decode_png_into(&st, &out);
    why = st.message;
    return r;
}

// HWC with 1 (gray), 2 (gray, alpha), 3 (RGB) or 4 (RGBA) channels -> 1 or 3, alpha dropped.
void convert_channels(DecodedImage& img, int want) {
    const int have = img.channels;
    const bool gray = have <= 2;
    if (have == want) return;
    const int64_t n = int64_t(img.width) * img.height;
    std::vector<uint8_t> out(static_cast<size_t>(n * want));
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t* p = img.pixels.data() + i * have;
        uint8_t* q = out.data() + i * want;
        if (want == 1) {  // rounded luma, ITU-R 601-2 weights (PIL's convert("L"))
            q[0] = gray ? p[0] : uint8_t((299 * p[0] + 587 * p[1] + 114 * p[2] + 500) / 1000);
        } else {
            for (int c = 0; c < 3; ++c) q[c] = p[gray ? 0 : c];
        }
    }
    img.pixels = std::move(out);
    img.channels = want;
}

// ---- Resize and crop ----

// Antialiased bilinear along one axis, `in` samples resized to `out`: output o is centred at
// (o + 0.5) * scale in input coordinates and takes the inputs within `support` of it, weighted by
// a triangle of that half-width (1 when enlarging, the scale when shrinking, so every input
// counts), normalised to sum 1. Only outputs [first, first + count) are made: the crop's.
struct Taps {
    std::vector<int64_t> lo;
    std::vector<int> count;
    std::vector<double> weight;  // count[j] weights for output first + j, at j * stride
    int stride = 0;
};

Taps triangle_taps(int64_t in, int64_t out, int64_t first, int count) {
    const double scale = double(in) / double(out), support = std::max(scale, 1.0);
    Taps t;
    t.stride = int(std::ceil(support)) * 2 + 1;
    t.lo.resize(size_t(count));
    t.count.resize(size_t(count));
    t.weight.assign(size_t(count) * size_t(t.stride), 0.0);
    for (int j = 0; j < count; ++j) {
        const double center = double(first + j + 0.5) * scale;
        const auto lo = std::max<int64_t>(0, int64_t(std::floor(center - support + 0.5)));
        const auto hi = std::min<int64_t>(in, int64_t(std::floor(center + support + 0.5)));
        double* w = t.weight.data() + size_t(j) * size_t(t.stride);
        double total = 0;
        for (int64_t i = lo; i < hi; ++i) {
            w[i - lo] = std::max(0.0, 1.0 - std::abs(double(i) + 0.5 - center) / support);
            total += w[i - lo];
        }
        for (int64_t i = lo; i < hi; ++i) w[i - lo] /= total;
        t.lo[size_t(j)] = lo;
        t.count[size_t(j)] = int(hi - lo);
    }
    return t;
}

uint8_t to_byte(double v) { return uint8_t(std::clamp(v + 0.5, 0.0, 255.0)); }

// HWC `src` (h x w x c) resampled along x (horizontal) or y to `out` samples, of which it keeps
// [first, first + count); PIL likewise rounds to bytes between the two passes.
std::vector<uint8_t> resample(const std::vector<uint8_t>& src, int h, int w, int c, int64_t out,
                              int64_t first, int count, bool horizontal) {
    const Taps t = triangle_taps(horizontal ? w : h, out, first, count);
    const int dh = horizontal ? h : count, dw = horizontal ? count : w;
    const int64_t step = horizontal ? c : int64_t(w) * c;  // between neighbouring taps
    std::vector<uint8_t> dst(static_cast<size_t>(int64_t(dh) * dw * c));
    for (int y = 0; y < dh; ++y)
        for (int x = 0; x < dw; ++x) {
            const size_t j = size_t(horizontal ? x : y);
            const double* wt = t.weight.data() + j * size_t(t.stride);
            const int64_t base =
                horizontal ? (int64_t(y) * w + t.lo[j]) * c : (t.lo[j] * w + x) * c;
            for (int ch = 0; ch < c; ++ch) {
                double sum = 0;
                for (int k = 0; k < t.count[j]; ++k)
                    sum += wt[k] * src[size_t(base + k * step + ch)];
                dst[size_t((int64_t(y) * dw + x) * c + ch)] = to_byte(sum);
            }
        }
    return dst;
}

// round(d / 2) with Python's rounding (half to even), as torchvision's CenterCrop computes it.
int64_t half_offset(int64_t d) { return d % 2 == 0 || (d / 2) % 2 == 0 ? d / 2 : d / 2 + 1; }

// ---- Directory scan ----

bool is_image_name(std::string name) {
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char ch) { return char(std::tolower(ch)); });
    for (const char* ext : {".jpg", ".jpeg", ".png"})
        if (name.ends_with(ext)) return true;
    return false;
}

// Every directory under `dir` (itself included, symlinks followed) with its image files sorted
// by name; the caller sorts the directories by path, giving torchvision's sorted(os.walk()).
void walk(const fs::path& dir, int depth,
          std::vector<std::pair<std::string, std::vector<std::string>>>& out) {
    if (depth > kMaxDepth)
        throw InputError(dir.string() + ": nested deeper than " + std::to_string(kMaxDepth) +
                         " directories (expected a class tree without symlink loops)");
    std::error_code ec;
    std::vector<std::string> files;
    std::vector<fs::path> subdirs;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code type_ec;
        if (it->is_directory(type_ec))
            subdirs.push_back(it->path());
        else if (it->is_regular_file(type_ec) && is_image_name(it->path().filename().string()))
            files.push_back(it->path().string());
    }
    if (ec) throw InputError(dir.string() + ": cannot list (" + ec.message() + ")");
    std::sort(files.begin(), files.end());
    out.emplace_back(dir.string(), std::move(files));
    for (const fs::path& sub : subdirs) walk(sub, depth + 1, out);
}

std::vector<std::string> class_images(const fs::path& class_dir) {
    std::vector<std::pair<std::string, std::vector<std::string>>> dirs;
    walk(class_dir, 0, dirs);
    std::sort(dirs.begin(), dirs.end());
    std::vector<std::string> files;
    for (auto& [dir, names] : dirs) files.insert(files.end(), names.begin(), names.end());
    if (files.empty())
        throw InputError(class_dir.string() +
                         ": no images (expected files ending in .jpg, .jpeg or .png)");
    return files;
}

}  // namespace

DecodedImage decode_image(const std::string& path, int channels) {
    return decode_image_bytes(read_file(path), path, channels);
}

DecodedImage decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& path,
                                int channels) {
    CUDARTS_CHECK(channels == 1 || channels == 3, "decode_image: channels=" << channels);
    static const uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    const bool png = bytes.size() >= 8 && std::memcmp(bytes.data(), kPngMagic, 8) == 0;
    const bool jpeg = bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
    if (!png && !jpeg)
        throw InputError(path + ": not a JPEG or PNG file (expected one of the two signatures)");
    DecodedImage img;
    std::string why;
    const Decode r = png ? decode_png(bytes, img, why) : decode_jpeg(bytes, img, why);
    const char* format = png ? "PNG" : "JPEG";
    if (r == Decode::error)
        throw InputError(path + ": corrupt or truncated " + format + " (" + why + ")");
    if (r == Decode::cmyk)
        throw InputError(path + ": CMYK JPEG is not supported (expected RGB or grayscale)");
    if (r == Decode::too_big || img.width <= 0 || img.height <= 0)
        throw InputError(path + ": implausible " + format + " size " + std::to_string(img.width) +
                         " x " + std::to_string(img.height) + " for " +
                         std::to_string(bytes.size()) + " bytes (expected at most 2^28 pixels" +
                         (png ? "" : ", and 2048 per byte of file") + ")");
    convert_channels(img, channels);
    return img;
}

void resize_center_crop(const DecodedImage& img, int resize, int size, uint8_t* out) {
    CUDARTS_CHECK(size >= 1 && resize >= size,
                  "resize_center_crop: resize=" << resize << " size=" << size);
    int h = img.height, w = img.width;
    const int c = img.channels;
    // The resized size: torchvision leaves an image whose shorter side is right untouched, and
    // truncates the longer side.
    int64_t nh = h, nw = w;
    if (std::min(h, w) != resize) {
        const int64_t lng = std::max(h, w), shrt = std::min(h, w);
        nh = h <= w ? resize : resize * lng / shrt;
        nw = h <= w ? resize * lng / shrt : resize;
    }
    int64_t top = half_offset(nh - size), left = half_offset(nw - size);
    std::vector<uint8_t> px;
    const std::vector<uint8_t>* src = &img.pixels;
    if (nw != w) {  // horizontal pass first, then vertical, like PIL; only the crop's columns
        px = resample(*src, h, w, c, nw, left, size, /*horizontal=*/true);
        src = &px;
        w = size;
        left = 0;
    }
    if (nh != h) {
        px = resample(*src, h, w, c, nh, top, size, /*horizontal=*/false);
        src = &px;
        h = size;
        top = 0;
    }
    const int64_t plane = int64_t(size) * size;
    for (int ch = 0; ch < c; ++ch)
        for (int y = 0; y < size; ++y)
            for (int x = 0; x < size; ++x)
                out[ch * plane + int64_t(y) * size + x] =
                    (*src)[size_t(((top + y) * w + left + x) * c + ch)];
}

std::string image_folder_split(const std::string& dir, bool train) {
    std::error_code ec;
    if (dir.empty())
        throw InputError(
            "folder: no data directory given (expected root/<class>/*.jpg|png, or "
            "root/train and root/val holding such trees)");
    if (!fs::is_directory(fs::path(dir) / "train", ec)) {
        if (train) return dir;
        throw InputError(dir + ": no train/ and val/ (or test/) split (expected " + dir +
                         "/train/<class>/... and " + dir + "/val/<class>/... for a test set)");
    }
    if (train) return (fs::path(dir) / "train").string();
    for (const char* sub : {"val", "test"})
        if (fs::is_directory(fs::path(dir) / sub, ec)) return (fs::path(dir) / sub).string();
    throw InputError(dir +
                     ": has train/ but no val/ or test/ (expected the held-out images there)");
}

std::vector<std::string> image_folder_classes(const std::string& root) {
    std::error_code ec;
    const char* expected = " (expected a directory with one sub-directory of images per class)";
    if (!fs::exists(root, ec)) throw InputError(root + ": no such directory" + expected);
    if (!fs::is_directory(root, ec)) throw InputError(root + ": not a directory" + expected);
    std::vector<std::string> names;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code type_ec;
        if (it->is_directory(type_ec)) names.push_back(it->path().filename().string());
    }
    if (ec) throw InputError(root + ": cannot list (" + ec.message() + ")");
    if (names.empty()) throw InputError(root + ": no class directories" + expected);
    std::sort(names.begin(), names.end());
    return names;
}

ImageDataset load_image_folder(const std::string& root, const ImageFolderOptions& opt) {
    const int resize = opt.resize == 0 ? opt.size : opt.resize;
    if (opt.size < 1 || opt.size > kMaxSize)
        throw InputError("image folder: size " + std::to_string(opt.size) + " (expected 1.." +
                         std::to_string(kMaxSize) + ")");
    if (opt.channels != 1 && opt.channels != 3)
        throw InputError("image folder: channels " + std::to_string(opt.channels) +
                         " (expected 1 or 3)");
    if (resize < opt.size || resize > 8 * kMaxSize)
        throw InputError("image folder: resize " + std::to_string(opt.resize) +
                         " (expected 0, or a shorter side from size " + std::to_string(opt.size) +
                         " to " + std::to_string(8 * kMaxSize) + ")");
    const std::vector<std::string> classes = image_folder_classes(root);
    std::vector<std::string> files;
    std::vector<int32_t> labels;
    for (size_t k = 0; k < classes.size(); ++k) {
        const std::vector<std::string> found = class_images(fs::path(root) / classes[k]);
        files.insert(files.end(), found.begin(), found.end());
        labels.insert(labels.end(), found.size(), int32_t(k));
    }
    ImageDataset set;
    set.name = "folder";
    set.channels = opt.channels;
    set.height = set.width = opt.size;
    set.classes = int(classes.size());
    set.labels = std::move(labels);
    set.pixels.resize(size_t(set.size() * set.image_bytes()));
    for (size_t i = 0; i < files.size(); ++i) {
        const DecodedImage img = decode_image(files[i], opt.channels);
        resize_center_crop(img, resize, opt.size,
                           set.pixels.data() + int64_t(i) * set.image_bytes());
    }
    set_pixel_stats(set);
    return set;
}

}  // namespace cudarts
