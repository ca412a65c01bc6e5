// safetensors (engine/safetensors.h): round trips of every supported dtype including a scalar and
// an empty tensor, the header layout the Hugging Face loader expects (length prefix, space padding
// to 8 bytes, tensors in the order given), a file assembled byte by byte in the test, and one
// malformed file per rule the reader enforces, each of which must fail with a one-line InputError
// naming the file. Writes must replace an existing file only when they succeed.
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/fileio.h"
#include "engine/safetensors.h"
#include "kernels/check.h"
#include "tests/util.h"

using namespace cudarts;
using cudarts::test::TempDir;
namespace fs = std::filesystem;

namespace {

void put_le(std::vector<uint8_t>& out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

// The 8-byte length, the header text as given (no padding) and `data`.
void write_raw(const std::string& path, const std::string& header,
               const std::vector<uint8_t>& data) {
    std::vector<uint8_t> bytes;
    put_le(bytes, header.size(), 8);
    bytes.insert(bytes.end(), header.begin(), header.end());
    bytes.insert(bytes.end(), data.begin(), data.end());
    write_file_atomic(path, bytes.data(), bytes.size());
}

std::vector<uint8_t> as_bytes(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    return {b, b + n};
}

// The InputError message of reading `path`; "" (and a failed check) when nothing is thrown.
std::string read_error(const std::string& path) {
    try {
        (void)read_safetensors(path);
    } catch (const InputError& e) {
        return e.what();
    }
    FAIL_CHECK("read_safetensors(" << path << ") did not throw InputError");
    return "";
}

// Every error of read_safetensors and write_safetensors starts with the file's name.
void check_one_line_naming(const std::string& msg, const std::string& path,
                           const std::string& fragment) {
    test::check_names(msg, path, fragment, /*path_first=*/true);
}

}  // namespace

TEST_SUITE("safetensors") {
    TEST_CASE("safetensors round trip: F32, I32, I64, a scalar, an empty tensor and metadata") {
        TempDir dir("safetensors");
        const std::string path = dir.file("t.safetensors");
        const std::vector<float> w = test::uniform(2 * 3 * 5, /*seed=*/3);
        const std::vector<int32_t> labels = {7, -9, 2147483647, -2147483647 - 1, 0};
        const std::vector<int64_t> steps = {int64_t(1) << 40, -3};
        const float scalar = -0.125f;
        const std::vector<SafetensorsView> views = {
            {"cells.0.weight", DType::kF32, {2, 3, 5}, w.data()},
            {"labels", DType::kI32, {5}, labels.data()},
            {"steps", DType::kI64, {2, 1}, steps.data()},
            {"alpha", DType::kF32, {}, &scalar},
            {"empty", DType::kF32, {0}, nullptr},
        };
        const std::map<std::string, std::string> meta = {{"format", "pt"}, {"epoch", "12"}};
        write_safetensors(path, views, meta);

        const SafetensorsFile f = read_safetensors(path);
        CHECK(f.path == path);
        CHECK(f.metadata == meta);
        REQUIRE(f.tensors.size() == views.size());
        for (const SafetensorsView& v : views) {
            CAPTURE(v.name);
            const SafetensorsTensor& t = f.at(v.name);
            CHECK(t.dtype == v.dtype);
            CHECK(t.shape == v.shape);
            CHECK(size_t(t.numel()) * dtype_size(t.dtype) == t.data.size());
            CHECK(t.data == as_bytes(v.data, t.data.size()));
        }
        CHECK(f.at("alpha").numel() == 1);
        CHECK(f.at("empty").numel() == 0);
        CHECK(dir.entries() == std::vector<std::string>{"t.safetensors"});  // no temporary left
    }

    TEST_CASE(
        "safetensors write: header padded with spaces to 8 bytes, tensors laid out in order") {
        TempDir dir("safetensors");
        const std::string path = dir.file("h.safetensors");
        const std::vector<float> a = {1.f, 2.f, 3.f};
        const std::vector<int64_t> b = {4, 5};
        // Names of several lengths so that at least one header needs padding.
        for (const char* name : {"b", "bb", "bbb", "bbbb", "bbbbb", "bbbbbb", "bbbbbbb"}) {
            CAPTURE(name);
            write_safetensors(
                path, {{"z", DType::kF32, {3}, a.data()}, {name, DType::kI64, {2}, b.data()}});
            const std::vector<uint8_t> bytes = read_file(path);
            uint64_t n = 0;
            std::memcpy(&n, bytes.data(), 8);
            CHECK(n % 8 == 0);
            REQUIRE(8 + n + 12 + 16 == bytes.size());
            const std::string header(bytes.begin() + 8, bytes.begin() + 8 + long(n));
            const size_t end = header.rfind('}');
            CHECK(header.find_first_not_of(' ', end + 1) == std::string::npos);
            const nlohmann::json j = nlohmann::json::parse(header);
            CHECK(j["z"]["data_offsets"] == nlohmann::json::array({0, 12}));
            CHECK(j[name]["data_offsets"] == nlohmann::json::array({12, 28}));
            CHECK(j[name]["dtype"] == "I64");
            CHECK(!j.contains("__metadata__"));  // written only when there is some
            CHECK(std::memcmp(bytes.data() + 8 + n, a.data(), 12) == 0);
            CHECK(std::memcmp(bytes.data() + 8 + n + 12, b.data(), 16) == 0);
        }
    }

    TEST_CASE("safetensors read: a file assembled byte by byte, unpadded and out of order") {
        TempDir dir("safetensors");
        const std::string path = dir.file("hand.safetensors");
        const std::string header = R"({"b":{"dtype":"I32","shape":[2],"data_offsets":[8,16]},)"
                                   R"("__metadata__":{"format":"pt"},)"
                                   R"("a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},)"
                                   R"("c":{"dtype":"I64","shape":[],"data_offsets":[16,24]}})";
        std::vector<uint8_t> data;
        put_le(data, 0x3FC00000u, 4);            // 1.5f
        put_le(data, 0xC0000000u, 4);            // -2.0f
        put_le(data, 7, 4);                      // 7
        put_le(data, 0xFFFFFFF7u, 4);            // -9
        put_le(data, 0xFFFFFFFFFFFFFFFEull, 8);  // -2
        write_raw(path, header, data);

        const SafetensorsFile f = read_safetensors(path);
        CHECK(f.metadata == std::map<std::string, std::string>{{"format", "pt"}});
        const SafetensorsTensor a = f.at("a");  // a copy: the key "a" is a temporary string
        CHECK(a.dtype == DType::kF32);
        CHECK(a.shape == std::vector<int64_t>{1, 2});
        float av[2];
        std::memcpy(av, a.data.data(), 8);
        CHECK(av[0] == 1.5f);
        CHECK(av[1] == -2.f);
        int32_t bv[2];
        std::memcpy(bv, f.at("b").data.data(), 8);
        CHECK(bv[0] == 7);
        CHECK(bv[1] == -9);
        int64_t cv = 0;
        std::memcpy(&cv, f.at("c").data.data(), 8);
        CHECK(f.at("c").shape.empty());
        CHECK(cv == -2);
        check_one_line_naming(
            [&] {
                try {
                    (void)f.at("d");
                } catch (const InputError& e) {
                    return std::string(e.what());
                }
                return std::string();
            }(),
            path, "no tensor 'd'");
    }

    TEST_CASE("safetensors read: each malformed file is one InputError line naming the file") {
        TempDir dir("safetensors");
        const std::string path = dir.file("bad.safetensors");
        // The header entry of an F32 tensor, and a header holding one such tensor 'a'.
        const auto f32 = [](const std::string& shape, const std::string& offsets) {
            return R"({"dtype":"F32","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
        };
        const auto only_a = [&](const std::string& shape, const std::string& offsets) {
            return R"({"a":)" + f32(shape, offsets) + "}";
        };
        const std::string ok8 = f32("[2]", "[0,8]");
        struct Bad {
            std::string what;
            std::string header;
            size_t data_bytes;
            std::string fragment;
        };
        const std::vector<Bad> cases = {
            {"bad JSON", R"({"a": )", 0, "not valid JSON"},
            {"not an object", "[1, 2]", 0, "not a JSON object"},
            {"entry not an object", R"({"a": 3})", 0, "tensor 'a': entry is a number"},
            {"missing dtype", R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8,
             "missing \"dtype\""},
            {"missing shape", R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8,
             "missing \"shape\""},
            {"missing offsets", R"({"a":{"dtype":"F32","shape":[2]}})", 8,
             "missing \"data_offsets\""},
            {"dtype not a string", R"({"a":{"dtype":1,"shape":[2],"data_offsets":[0,8]}})", 8,
             "\"dtype\" is a number"},
            {"unknown dtype", R"({"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})", 8,
             "unsupported dtype 'F16' (supported: F32, I32, I64)"},
            {"negative dim", only_a("[-2]", "[0,8]"), 8, "expected non-negative integers"},
            {"fractional dim", only_a("[2.0]", "[0,8]"), 8, "expected non-negative integers"},
            {"huge shape", only_a("[4294967296,4294967296]", "[0,8]"), 8, "is too large"},
            {"offsets not a pair", only_a("[2]", "[0]"), 8, "expected [begin, end]"},
            {"end before begin", only_a("[2]", "[8,0]"), 8,
             "data_offsets [8, 0] end before they begin"},
            {"offsets beyond data", only_a("[4]", "[0,16]"), 8,
             "data_offsets [0, 16] exceed the 8-byte data buffer"},
            {"size mismatch", only_a("[3]", "[0,8]"), 8, "needs 12 bytes"},
            {"overlap", R"({"a":)" + ok8 + R"(,"b":)" + f32("[2]", "[4,12]") + "}", 12,
             "tensors 'a' and 'b' overlap"},
            {"hole", R"({"a":)" + ok8 + R"(,"b":)" + f32("[2]", "[12,20]") + "}", 20,
             "bytes [8, 12) of the data buffer belong to no tensor"},
            {"trailing bytes", R"({"a":)" + ok8 + "}", 12, "tensors cover only 8"},
            {"duplicate name", R"({"a":)" + ok8 + R"(,"a":)" + ok8 + "}", 8, "key 'a' twice"},
            {"metadata value", R"({"__metadata__":{"epoch":3}})", 0,
             "value of 'epoch' is a number"},
            {"metadata not object", R"({"__metadata__":"x"})", 0, "\"__metadata__\" is not a JSON"},
        };
        for (const Bad& c : cases) {
            CAPTURE(c.what);
            write_raw(path, c.header, std::vector<uint8_t>(c.data_bytes, 0x11));
            check_one_line_naming(read_error(path), path, c.fragment);
        }
    }

    TEST_CASE("safetensors read: truncated files and a header length beyond the file") {
        TempDir dir("safetensors");
        const std::string path = dir.file("cut.safetensors");
        const std::vector<uint8_t> five = {1, 2, 3, 4, 5};
        write_file_atomic(path, five.data(), five.size());
        check_one_line_naming(read_error(path), path, "file is 5 bytes, too short");

        std::vector<uint8_t> lying;
        put_le(lying, 1000, 8);
        for (int i = 0; i < 12; ++i) lying.push_back(' ');
        write_file_atomic(path, lying.data(), lying.size());
        check_one_line_naming(read_error(path), path, "header length 1000 exceeds file size 20");

        // A complete file cut short in its data: the last tensor no longer fits.
        const std::vector<float> x = {1.f, 2.f, 3.f, 4.f};
        write_safetensors(path, {{"x", DType::kF32, {4}, x.data()}});
        std::vector<uint8_t> bytes = read_file(path);
        bytes.erase(bytes.end() - 4, bytes.end());
        write_file_atomic(path, bytes.data(), bytes.size());
        check_one_line_naming(read_error(path), path, "data_offsets [0, 16] exceed the 12-byte");

        const std::string missing = dir.file("missing.safetensors");
        check_one_line_naming(read_error(missing), missing,
                              "cannot open (No such file or directory)");
    }

    TEST_CASE(
        "safetensors write: a failed write leaves nothing behind and the old file untouched") {
        TempDir dir("safetensors");
        const std::vector<float> x = {1.f, 2.f};
        const std::vector<SafetensorsView> views = {{"x", DType::kF32, {2}, x.data()}};

        const std::string nowhere = dir.file("no/such/dir/t.safetensors");
        try {
            write_safetensors(nowhere, views);
            FAIL_CHECK("writing into a missing directory did not throw");
        } catch (const InputError& e) {
            check_one_line_naming(e.what(), nowhere, "cannot write (No such file or directory)");
        }
        CHECK(dir.entries().empty());

        // Occupy the temporary name with a directory, so that creating the temporary fails even for
        // root (whom a read-only directory would not stop); the old checkpoint must survive.
        const std::string path = dir.file("ckpt.safetensors");
        const std::vector<float> old = {9.f, 8.f};
        write_safetensors(path, {{"x", DType::kF32, {2}, old.data()}});
        const std::vector<uint8_t> before = read_file(path);
        fs::create_directory(path + ".tmp." + std::to_string(::getpid()));
        CHECK_THROWS_AS(write_safetensors(path, views), InputError);
        CHECK(read_file(path) == before);

        // Invalid views are the caller's bug: Error, raised before anything is written.
        fs::remove(path + ".tmp." + std::to_string(::getpid()));
        CHECK_THROWS_AS(write_safetensors(path, {views[0], views[0]}), Error);
        CHECK_THROWS_AS(write_safetensors(path, {{"__metadata__", DType::kF32, {2}, x.data()}}),
                        Error);
        CHECK_THROWS_AS(write_safetensors(path, {{"y", DType::kF32, {-1}, x.data()}}), Error);
        CHECK(read_file(path) == before);
        CHECK(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});
    }

}  // TEST_SUITE
