// Writes the JPEG seeds of the fuzz corpus (make_corpus.py compiles and runs it): small gray and
// RGB images, baseline and progressive, 4:4:4 and 4:2:0, so that the decoder's main paths are
// reached from the first run. Usage: make_jpeg_seeds OUTDIR
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

// After <cstdio>: jpeglib.h uses FILE and size_t without including their headers.
// clang-format off
#include <jpeglib.h>
// clang-format on

namespace {

bool write_jpeg(const std::string& path, int w, int h, int comps, bool progressive,
                bool subsample) {
    std::FILE* out = std::fopen(path.c_str(), "wb");
    if (out == nullptr) return false;
    jpeg_compress_struct cinfo{};
    jpeg_error_mgr err{};
    cinfo.err = jpeg_std_error(&err);  // errors exit: a seed tool may stop on them
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, out);
    cinfo.image_width = JDIMENSION(w);
    cinfo.image_height = JDIMENSION(h);
    cinfo.input_components = comps;
    cinfo.in_color_space = comps == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 90, TRUE);
    if (progressive) jpeg_simple_progression(&cinfo);
    if (comps == 3 && !subsample)
        for (int i = 0; i < cinfo.num_components; ++i)
            cinfo.comp_info[i].h_samp_factor = cinfo.comp_info[i].v_samp_factor = 1;
    jpeg_start_compress(&cinfo, TRUE);
    std::vector<JSAMPLE> row(size_t(w * comps));
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w * comps; ++x) row[size_t(x)] = JSAMPLE((x * 29 + y * 53) % 256);
        JSAMPROW rows[1] = {row.data()};
        jpeg_write_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return std::fclose(out) == 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_jpeg_seeds OUTDIR\n");
        return 2;
    }
    const std::string dir = argv[1];
    const bool ok = write_jpeg(dir + "/rgb_8x8", 8, 8, 3, false, false) &&
                    write_jpeg(dir + "/gray_5x7", 5, 7, 1, false, false) &&
                    write_jpeg(dir + "/rgb420_progressive_17x9", 17, 9, 3, true, true);
    return ok ? 0 : 1;
}
