// Image folders (data/image_folder.h). PNG files are written here byte by byte (chunks, zlib'd
// scanlines, CRCs), so the decoder is checked against the format rather than against libpng
// itself: every colour type and bit depth the loader converts must give exact pixels. JPEGs come
// from libjpeg at quality 100 without chroma subsampling and are compared with a tolerance. The
// resize and crop cases have hand-computed answers (a 2:1 shrink of a black/white edge weights
// the four nearest inputs 1/8, 3/8, 3/8, 1/8; a 2x enlargement interpolates at 1/4 and 3/4).
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

// After <cstdio>: jpeglib.h uses FILE and size_t without including their headers.
// clang-format off
#include <jpeglib.h>
// clang-format on

#include "data/image_folder.h"
#include "engine/fileio.h"
#include "kernels/check.h"
#include "tests/util.h"

using namespace cudarts;
using cudarts::test::check_names;
using cudarts::test::error_of;
namespace fs = std::filesystem;

namespace {

struct TempTree {
    fs::path root;
    explicit TempTree(const std::string& tag) {
        root = fs::temp_directory_path() /
               ("cudarts_test_imgfolder_" + tag + "_" + std::to_string(::getpid()));
        fs::remove_all(root);
        fs::create_directories(root);
    }
    ~TempTree() {
        std::error_code ec;
        fs::remove_all(root, ec);
    }
    // Writes `bytes` to root/rel, creating directories; returns the path.
    std::string put(const std::string& rel, const std::vector<uint8_t>& bytes) const {
        const fs::path p = root / rel;
        fs::create_directories(p.parent_path());
        write_file_atomic(p.string(), bytes.data(), bytes.size());
        return p.string();
    }
};

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(v >> s));
}

void put_chunk(std::vector<uint8_t>& out, const char* type, const std::vector<uint8_t>& data) {
    put_be32(out, uint32_t(data.size()));
    const size_t start = out.size();
    out.insert(out.end(), type, type + 4);
    out.insert(out.end(), data.begin(), data.end());
    put_be32(out, uint32_t(crc32(0, out.data() + start, uInt(out.size() - start))));
}

// A PNG of h rows of packed samples `rows` (each row the same length, no filter byte).
std::vector<uint8_t> png_file(int w, int h, int depth, int color, const std::vector<uint8_t>& rows,
                              const std::vector<uint8_t>& plte = {},
                              const std::vector<uint8_t>& trns = {}) {
    std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}, ihdr;
    put_be32(ihdr, uint32_t(w));
    put_be32(ihdr, uint32_t(h));
    ihdr.insert(ihdr.end(), {uint8_t(depth), uint8_t(color), 0, 0, 0});
    put_chunk(out, "IHDR", ihdr);
    if (!plte.empty()) put_chunk(out, "PLTE", plte);
    if (!trns.empty()) put_chunk(out, "tRNS", trns);
    const size_t row_bytes = rows.size() / size_t(h);
    std::vector<uint8_t> filtered;
    for (int y = 0; y < h; ++y) {
        filtered.push_back(0);  // filter type None
        filtered.insert(filtered.end(), rows.begin() + long(y * row_bytes),
                        rows.begin() + long((y + 1) * row_bytes));
    }
    uLongf packed_size = compressBound(uLong(filtered.size()));
    std::vector<uint8_t> packed(packed_size);
    REQUIRE(compress2(packed.data(), &packed_size, filtered.data(), uLong(filtered.size()), 9) ==
            Z_OK);
    packed.resize(packed_size);
    put_chunk(out, "IDAT", packed);
    put_chunk(out, "IEND", {});
    return out;
}

// An 8-bit gray PNG whose pixel (y, x) is f(y, x).
template <class F>
std::vector<uint8_t> gray_png(int w, int h, F f) {
    std::vector<uint8_t> rows;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) rows.push_back(uint8_t(f(y, x)));
    return png_file(w, h, 8, 0, rows);
}

struct JpegEncoder {
    jpeg_compress_struct cinfo{};
    jpeg_error_mgr err{};
    std::jmp_buf jump{};
    unsigned char* buf = nullptr;
    unsigned long size = 0;
    ~JpegEncoder() {
        jpeg_destroy_compress(&cinfo);
        std::free(buf);
    }
};

[[noreturn]] void encoder_fail(j_common_ptr cinfo) {
    std::longjmp(static_cast<JpegEncoder*>(cinfo->client_data)->jump, 1);
}

// No objects with destructors after setjmp (see data/image_folder.cpp).
bool encode_into(JpegEncoder* e, const uint8_t* px, int w, int h, int comps, J_COLOR_SPACE space) {
    if (setjmp(e->jump)) return false;
    jpeg_create_compress(&e->cinfo);
    jpeg_mem_dest(&e->cinfo, &e->buf, &e->size);
    e->cinfo.image_width = JDIMENSION(w);
    e->cinfo.image_height = JDIMENSION(h);
    e->cinfo.input_components = comps;
    e->cinfo.in_color_space = space;
    jpeg_set_defaults(&e->cinfo);
    jpeg_set_quality(&e->cinfo, 100, TRUE);
    for (int i = 0; i < e->cinfo.num_components; ++i)  // 4:4:4, no chroma subsampling
        e->cinfo.comp_info[i].h_samp_factor = e->cinfo.comp_info[i].v_samp_factor = 1;
    jpeg_start_compress(&e->cinfo, TRUE);
    while (e->cinfo.next_scanline < e->cinfo.image_height) {
        JSAMPROW row =
            const_cast<uint8_t*>(px) + size_t(e->cinfo.next_scanline) * size_t(w * comps);
        jpeg_write_scanlines(&e->cinfo, &row, 1);
    }
    jpeg_finish_compress(&e->cinfo);
    return true;
}

// HWC pixels -> JPEG file bytes at quality 100.
std::vector<uint8_t> jpeg_file(const std::vector<uint8_t>& px, int w, int h, int comps,
                               J_COLOR_SPACE space) {
    JpegEncoder e;
    e.cinfo.err = jpeg_std_error(&e.err);
    e.err.error_exit = encoder_fail;
    e.cinfo.client_data = &e;
    REQUIRE(encode_into(&e, px.data(), w, h, comps, space));
    return std::vector<uint8_t>(e.buf, e.buf + e.size);
}

uint8_t at(const ImageDataset& set, int64_t i, int c, int y, int x) {
    return set.pixels[size_t(((i * set.channels + c) * set.height + y) * set.width + x)];
}

ImageDataset load(const TempTree& t, int size, int channels, int resize = 0) {
    return load_image_folder(t.root.string(),
                             {.size = size, .channels = channels, .resize = resize});
}

uint8_t luma(int r, int g, int b) { return uint8_t((299 * r + 587 * g + 114 * b + 500) / 1000); }

// The known RGB value of pixel (y, x), channel c, and a gray one, used by every PNG test image.
uint8_t rgb_at(int c, int y, int x) { return uint8_t((c * 71 + y * 37 + x * 13 + 5) % 256); }
uint8_t gray_at(int y, int x) { return uint8_t((y * 41 + x * 17 + 3) % 256); }

}  // namespace

TEST_SUITE("image_folder") {
    TEST_CASE("image_folder: every PNG colour type and depth decodes to exact CHW pixels") {
        constexpr int kSide = 5;
        TempTree t("png");
        std::vector<uint8_t> rgb8, gray8, gray4, pal4, rgba8, rgb16, ga16;
        for (int y = 0; y < kSide; ++y) {
            for (int x = 0; x < kSide; ++x) {
                for (int c = 0; c < 4; ++c) {
                    const uint8_t v = c < 3 ? rgb_at(c, y, x) : uint8_t(x * 50);  // alpha last
                    if (c < 3) rgb8.push_back(v);
                    rgba8.push_back(v);
                    if (c < 3) rgb16.insert(rgb16.end(), {v, uint8_t(y * 5 + x * 3 + c + 1)});
                }
                gray8.push_back(gray_at(y, x));
                ga16.insert(ga16.end(), {gray_at(y, x), uint8_t(x + 7), uint8_t(y * 40), 9});
            }
            for (int x = 0; x < kSide; x += 2) {  // two 4-bit samples a byte, high nibble first
                const auto g = [&](int xx) { return xx < kSide ? (y * 3 + xx) % 16 : 0; };
                const auto p = [&](int xx) { return xx < kSide ? (y * 2 + xx) % 7 : 0; };
                gray4.push_back(uint8_t(g(x) << 4 | g(x + 1)));
                pal4.push_back(uint8_t(p(x) << 4 | p(x + 1)));
            }
        }
        std::vector<uint8_t> plte;
        for (int k = 0; k < 7; ++k)
            plte.insert(plte.end(),
                        {uint8_t(k * 30 + 10), uint8_t(250 - k * 20), uint8_t(k * k * 5)});
        t.put("a_rgb8/i.png", png_file(kSide, kSide, 8, 2, rgb8));
        t.put("b_gray8/i.png", png_file(kSide, kSide, 8, 0, gray8));
        t.put("c_gray4/i.png", png_file(kSide, kSide, 4, 0, gray4));
        t.put("d_palette4/i.png", png_file(kSide, kSide, 4, 3, pal4, plte, {0, 128, 255}));
        t.put("e_rgba8/i.png", png_file(kSide, kSide, 8, 6, rgba8));
        t.put("f_rgb16/i.png", png_file(kSide, kSide, 16, 2, rgb16));
        t.put("g_gray_alpha16/i.png", png_file(kSide, kSide, 16, 4, ga16));
        // What each class's pixel (y, x) holds as RGB: alpha dropped, 16 bits -> high byte,
        // 4-bit gray scaled by 17, palette entries looked up.
        const auto want = [&](int cls, int c, int y, int x) -> int {
            switch (cls) {
                case 1:
                    return gray_at(y, x);
                case 2:
                    return (y * 3 + x) % 16 * 17;
                case 3:
                    return plte[size_t((y * 2 + x) % 7 * 3 + c)];
                case 6:
                    return gray_at(y, x);
                default:
                    return rgb_at(c, y, x);  // rgb8, rgba8, rgb16
            }
        };
        const ImageDataset rgb = load(t, kSide, 3);
        REQUIRE(rgb.size() == 7);
        CHECK(rgb.name == "folder");
        CHECK(rgb.classes == 7);
        CHECK(rgb.channels == 3);
        CHECK(rgb.height == kSide);
        CHECK(rgb.width == kSide);
        const ImageDataset gray = load(t, kSide, 1);
        REQUIRE(gray.size() == 7);
        CHECK(gray.channels == 1);
        for (int i = 0; i < 7; ++i) {
            CAPTURE(i);
            CHECK(rgb.labels[size_t(i)] == i);
            int bad_rgb = 0, bad_gray = 0;
            for (int y = 0; y < kSide; ++y)
                for (int x = 0; x < kSide; ++x) {
                    for (int c = 0; c < 3; ++c) bad_rgb += at(rgb, i, c, y, x) != want(i, c, y, x);
                    const bool is_gray = i == 1 || i == 2 || i == 6;  // gray stays, RGB -> luma
                    const int g = is_gray
                                      ? want(i, 0, y, x)
                                      : luma(want(i, 0, y, x), want(i, 1, y, x), want(i, 2, y, x));
                    bad_gray += at(gray, i, 0, y, x) != g;
                }
            CHECK(bad_rgb == 0);
            CHECK(bad_gray == 0);
        }
    }

    TEST_CASE(
        "image_folder: sorted classes, torchvision's file order, labels, stats; others ignored") {
        TempTree t("order");
        const auto solid = [](int v) { return gray_png(2, 2, [v](int, int) { return v; }); };
        t.put("alpha/b.png", solid(20));
        t.put("alpha/a.PNG", solid(10));
        t.put("alpha/readme.md", {'h', 'i'});
        t.put("alpha/deep/z.png", solid(30));
        t.put("Beta/only.png", solid(40));
        t.put("zeta/x.jpg", solid(50));  // a PNG named .jpg: the content decides
        t.put("notes.txt", {'x'});       // a file beside the classes is not a class
        const std::vector<std::string> classes = image_folder_classes(t.root.string());
        CHECK(classes == std::vector<std::string>{"Beta", "alpha", "zeta"});  // byte order
        const ImageDataset set = load(t, 2, 3);
        REQUIRE(set.size() == 5);
        CHECK(set.classes == 3);
        CHECK(set.labels == std::vector<int32_t>{0, 1, 1, 1, 2});
        const int values[5] = {40, 10, 20, 30, 50};  // Beta; alpha: a, b, deep/z; zeta
        for (int i = 0; i < 5; ++i)
            for (int c = 0; c < 3; ++c) CHECK(at(set, i, c, 1, 0) == values[i]);
        // mean = 30/255; population variance of {10..50} = 200 (in 255ths squared)
        for (int c = 0; c < 3; ++c) {
            CHECK(set.mean[size_t(c)] == doctest::Approx(30.0 / 255).epsilon(1e-6));
            CHECK(set.stddev[size_t(c)] == doctest::Approx(std::sqrt(200.0) / 255).epsilon(1e-5));
        }
    }

    TEST_CASE(
        "image_folder: JPEG RGB and gray at quality 100 decode within 3 levels; CMYK refused") {
        constexpr int kW = 16, kH = 12;  // smooth content, so that quality 100 is nearly exact
        TempTree t("jpeg");
        std::vector<uint8_t> rgb, gray, cmyk;
        const auto r = [](int y, int x) { return 20 + 8 * x + 4 * y; };
        const auto g = [](int y, int) { return 220 - 9 * y; };
        const auto b = [](int y, int x) { return 100 + 3 * x + 2 * y; };
        for (int y = 0; y < kH; ++y)
            for (int x = 0; x < kW; ++x) {
                rgb.insert(rgb.end(), {uint8_t(r(y, x)), uint8_t(g(y, x)), uint8_t(b(y, x))});
                gray.push_back(uint8_t(r(y, x)));
                cmyk.insert(cmyk.end(), {10, 20, 30, 40});
            }
        t.put("a/rgb.jpg", jpeg_file(rgb, kW, kH, 3, JCS_RGB));
        t.put("b/gray.JPEG", jpeg_file(gray, kW, kH, 1, JCS_GRAYSCALE));
        // size 12 = the shorter side: no resize, a centre crop of columns 2..13 (offset (16-12)/2)
        const ImageDataset set = load(t, kH, 3);
        REQUIRE(set.size() == 2);
        const ImageDataset one = load(t, kH, 1);
        int worst = 0, gray_unequal = 0;
        for (int y = 0; y < kH; ++y)
            for (int x = 0; x < kH; ++x) {
                const int sx = x + 2;
                const int want[3] = {r(y, sx), g(y, sx), b(y, sx)};
                for (int c = 0; c < 3; ++c) {
                    worst = std::max(worst, std::abs(at(set, 0, c, y, x) - want[c]));
                    gray_unequal += at(set, 1, c, y, x) != at(set, 1, 0, y, x);  // replicated
                }
                worst = std::max(worst, std::abs(at(set, 1, 0, y, x) - r(y, sx)));
                worst = std::max(worst, std::abs(at(one, 1, 0, y, x) - r(y, sx)));
                const int l = luma(at(set, 0, 0, y, x), at(set, 0, 1, y, x), at(set, 0, 2, y, x));
                CHECK(at(one, 0, 0, y, x) == l);  // channels=1 is the luma of the decoded RGB
                CHECK(at(one, 1, 0, y, x) == at(set, 1, 0, y, x));
            }
        CHECK(worst <= 3);
        CHECK(gray_unequal == 0);

        const std::string path = t.put("c/cmyk.jpg", jpeg_file(cmyk, kW, kH, 4, JCS_CMYK));
        check_names(error_of([&] { load(t, kH, 3); }), path, "CMYK");
    }

    TEST_CASE("image_folder: resize the shorter side with PIL's bilinear, then crop the centre") {
        TempTree t("resize");
        // 16x8 with a vertical edge -> 8x4: output x averages inputs 2x-1..2x+2 with weights
        // 1/8, 3/8, 3/8, 1/8, so the row is 0 0 0 32 223 255 255 255 (31.875 and 223.125 rounded);
        // the crop keeps columns 2..5. The 8x16 image is the same turned by 90 degrees.
        t.put("h/edge.png", gray_png(16, 8, [](int, int x) { return x < 8 ? 0 : 255; }));
        t.put("v/edge.png", gray_png(8, 16, [](int y, int) { return y < 8 ? 0 : 255; }));
        // 2x2 -> 4x4 enlarges: outputs sit at 0.25, 0.75, 1.25, 1.75 input pixels: 0 50 150 200.
        t.put("u/up.png", gray_png(2, 2, [](int, int x) { return x * 200; }));
        const ImageDataset set = load(t, 4, 1);
        REQUIRE(set.size() == 3);
        const int edge[4] = {0, 32, 223, 255}, up[4] = {0, 50, 150, 200};
        for (int a = 0; a < 4; ++a)
            for (int b = 0; b < 4; ++b) {
                CHECK(at(set, 0, 0, b, a) == edge[a]);  // class h
                CHECK(at(set, 1, 0, b, a) == up[a]);    // class u
                CHECK(at(set, 2, 0, a, b) == edge[a]);  // class v
            }
        // Two edge images (both 0 32 223 255) and one ramp (0 50 150 200), each value 4 times.
        CHECK(set.mean[0] ==
              doctest::Approx((2 * (0 + 32 + 223 + 255) + (0 + 50 + 150 + 200)) / 12.0 / 255));

        // An explicit resize: 8 -> shorter side 6 (16x8 -> 12x6, weights over 8/6 inputs), crop 4.
        const ImageDataset big = load(t, 4, 1, 6);
        REQUIRE(big.size() == 3);
        for (int x = 0; x < 4; ++x) {
            CAPTURE(x);
            const int sum = at(big, 0, 0, 0, x) + at(big, 0, 0, 0, 3 - x);  // symmetric edge
            CHECK(sum >= 254);
            CHECK(sum <= 256);
            if (x > 0) CHECK(at(big, 0, 0, 0, x) > at(big, 0, 0, 0, x - 1));
        }
    }

    TEST_CASE("image_folder: centre crop offsets round half to even; odd scale stays symmetric") {
        // Widths 6..10 cropped to 5: torchvision's round((w - 5) / 2) = 0, 1, 2, 2, 2.
        const int want_left[5] = {0, 1, 2, 2, 2};
        for (int w = 6; w <= 10; ++w) {
            DecodedImage img{.height = 5, .width = w, .channels = 1, .pixels = {}};
            for (int y = 0; y < 5; ++y)
                for (int x = 0; x < w; ++x) img.pixels.push_back(uint8_t(x * 20 + y));
            uint8_t out[25];
            resize_center_crop(img, 5, 5, out);
            CAPTURE(w);
            CHECK(out[0] == want_left[w - 6] * 20);
            CHECK(out[24] == (want_left[w - 6] + 4) * 20 + 4);
        }
        // A 20x9 RGB edge to shorter side 7 (-> 15x7, scale 9/7), crop 7: columns 4..10 of a row
        // symmetric about the edge, every channel alike.
        DecodedImage img{.height = 9, .width = 20, .channels = 3, .pixels = {}};
        for (int y = 0; y < 9; ++y)
            for (int x = 0; x < 20; ++x)
                for (int c = 0; c < 3; ++c) img.pixels.push_back(x < 10 ? 0 : 255);
        uint8_t out[3 * 49];
        resize_center_crop(img, 7, 7, out);
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < 7; ++y)
                for (int x = 0; x < 7; ++x) {
                    INFO("c=" << c << " y=" << y << " x=" << x);
                    const int v = out[c * 49 + y * 7 + x], mirror = out[c * 49 + y * 7 + 6 - x];
                    CHECK(v + mirror >= 254);
                    CHECK(v + mirror <= 256);
                    CHECK(v == out[x]);  // rows and channels equal
                }
        CHECK(out[0] == 0);
        CHECK(out[6] == 255);
    }

    TEST_CASE("image_folder: errors name the path: root, classes, truncated and corrupt files") {
        TempTree t("errors");
        const std::string root = t.root.string();
        check_names(error_of([&] { load_image_folder(root + "/nope", {}); }), root + "/nope",
                    "no such directory");
        const std::string file = t.put("file.png", gray_png(2, 2, [](int, int) { return 1; }));
        check_names(error_of([&] { load_image_folder(file, {}); }), file, "not a directory");
        check_names(error_of([&] { load_image_folder(root, {}); }), root, "no class directories");

        const std::vector<uint8_t> good = gray_png(4, 4, [](int y, int x) { return y * 4 + x; });
        t.put("a/ok.png", good);
        t.put("b/readme.txt", {'x'});
        t.put("b/pic.gif", {'G', 'I', 'F'});
        check_names(error_of([&] { load(t, 4, 3); }), (t.root / "b").string(), "no images");
        fs::remove_all(t.root / "b");
        CHECK(load(t, 4, 3).size() == 1);

        SUBCASE("options") {
            CHECK(error_of([&] { load(t, 4, 2); }).find("channels 2") != std::string::npos);
            CHECK(error_of([&] { load(t, 4, 3, 3); }).find("resize 3") != std::string::npos);
            CHECK(error_of([&] { load(t, 0, 3); }).find("size 0") != std::string::npos);
        }
        SUBCASE("truncated PNG") {
            const std::vector<uint8_t> cut(good.begin(), good.end() - 20);  // inside IDAT
            check_names(error_of([&] { load(t, 4, 3); }), t.put("a/cut.png", cut), "PNG");
        }
        SUBCASE("corrupt PNG: a flipped bit in the image data fails its CRC") {
            std::vector<uint8_t> bad = good;
            bad[bad.size() - 16] ^= 1;  // inside IDAT, before its CRC and IEND
            check_names(error_of([&] { load(t, 4, 3); }), t.put("a/bad.png", bad), "PNG");
        }
        SUBCASE("truncated JPEG") {
            std::vector<uint8_t> px(16 * 16 * 3);
            for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 7);
            const std::vector<uint8_t> jpg = jpeg_file(px, 16, 16, 3, JCS_RGB);
            const std::vector<uint8_t> cut(jpg.begin(), jpg.begin() + long(jpg.size() * 3 / 4));
            check_names(error_of([&] { load(t, 4, 3); }), t.put("a/cut.jpg", cut), "truncated");
        }
        SUBCASE("a JPEG header claiming far more pixels than its bytes can hold") {
            std::vector<uint8_t> px(16 * 16 * 3, 128);
            std::vector<uint8_t> jpg = jpeg_file(px, 16, 16, 3, JCS_RGB);
            // SOF0: FF C0, length (2), precision (1), height (2), width (2).
            size_t sof = 2;
            while (sof + 9 < jpg.size() && !(jpg[sof] == 0xFF && jpg[sof + 1] == 0xC0)) ++sof;
            REQUIRE(sof + 9 < jpg.size());
            for (const auto& [h, w] : {std::pair{4000, 4000}, std::pair{30000, 30000}}) {
                jpg[sof + 5] = uint8_t(h >> 8), jpg[sof + 6] = uint8_t(h);
                jpg[sof + 7] = uint8_t(w >> 8), jpg[sof + 8] = uint8_t(w);
                const std::string path = t.put("a/huge.jpg", jpg);
                const std::string size = std::to_string(h) + " x " + std::to_string(w);
                check_names(error_of([&] { load(t, 4, 3); }), path,
                            "implausible JPEG size " + size);
            }
        }
        SUBCASE("not an image despite the name") {
            check_names(error_of([&] { load(t, 4, 3); }), t.put("a/text.png", {'h', 'i', '\n'}),
                        "not a JPEG or PNG");
        }
    }

    TEST_CASE("image_folder: splits: train/ and val/ or test/ when present, else the root trains") {
        TempTree t("split");
        const std::string root = t.root.string();
        t.put("cls/a.png", gray_png(2, 2, [](int, int) { return 7; }));
        CHECK(image_folder_split(root, true) == root);
        check_names(error_of([&] { image_folder_split(root, false); }), root, "no train/");
        fs::create_directories(t.root / "train");
        CHECK(image_folder_split(root, true) == (t.root / "train").string());
        check_names(error_of([&] { image_folder_split(root, false); }), root, "no val/");
        fs::create_directories(t.root / "test");
        CHECK(image_folder_split(root, false) == (t.root / "test").string());
        fs::create_directories(t.root / "val");  // val/ wins over test/
        CHECK(image_folder_split(root, false) == (t.root / "val").string());
        CHECK(error_of([&] { image_folder_split("", true); }).find("folder") == 0);
    }
}  // TEST_SUITE
