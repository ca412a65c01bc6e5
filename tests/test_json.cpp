// engine/json.h: untrusted JSON is refused in one bounded line naming the input. Nesting is
// capped at kMaxJsonDepth (exactly 64 levels parse, 65 do not, and 60,000 fail without touching
// the stack), numbers beyond double's range and repeated keys are refused, and a message quotes
// at most kMaxQuoted characters of the input however long the offending token. The safetensors
// reader goes through it, and refuses FIFOs and devices before reading. unknown_key finds the first
// key outside an allowed list; engine/format.h prints numbers for messages and tables.
#include <sys/stat.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "engine/fileio.h"
#include "engine/format.h"
#include "engine/json.h"
#include "engine/safetensors.h"
#include "kernels/check.h"
#include "tests/util.h"

using namespace cudarts;
using cudarts::test::error_of;
using cudarts::test::TempDir;

namespace {

std::string nested(int depth, char open, char close) {
    return std::string(size_t(depth), open) + std::string(size_t(depth), close);
}

std::string parse_error(const std::string& text) {
    return error_of([&] { (void)parse_json(text, "--search-space"); });
}

// A safetensors file holding `header` and no data.
std::vector<uint8_t> safetensors_bytes(const std::string& header) {
    std::vector<uint8_t> bytes;
    for (int i = 0; i < 8; ++i) bytes.push_back(uint8_t(uint64_t(header.size()) >> (8 * i)));
    bytes.insert(bytes.end(), header.begin(), header.end());
    return bytes;
}

}  // namespace

TEST_SUITE("json") {
    TEST_CASE("parse_json: 64 levels parse, 65 and 60000 are refused in one line") {
        CHECK(parse_json(nested(kMaxJsonDepth, '[', ']'), "x").is_array());
        std::string objects = "1";
        for (int i = 0; i < kMaxJsonDepth; ++i) objects = "{\"k\":" + objects + "}";
        CHECK(parse_json(objects, "x").is_object());

        CHECK(parse_error(nested(kMaxJsonDepth + 1, '[', ']')) ==
              "--search-space nests deeper than 64 levels");
        CHECK(parse_error("{\"a\":" + objects + "}") ==
              "--search-space nests deeper than 64 levels");
        // Deep enough that a recursive parse, dump or destructor would overflow the stack.
        CHECK(parse_error(nested(60000, '[', ']')) == "--search-space nests deeper than 64 levels");
        CHECK(parse_error(std::string(60000, '[')) == "--search-space nests deeper than 64 levels");
    }

    TEST_CASE("parse_json: numbers out of range, repeated keys, syntax errors") {
        CHECK(parse_error("[1e999]") == "--search-space holds a number out of range ('1e999')");
        CHECK(parse_error("{\"lr\": -1e400}") ==
              "--search-space holds a number out of range ('-1e400')");
        CHECK(parse_json("[1e308, 18446744073709551616]", "x")[1].is_number_float());

        CHECK(parse_error(R"({"a": 1, "b": {"a": 2, "a": 3}})") ==
              "--search-space has the key 'a' twice in one object");
        CHECK(parse_json(R"({"a": 1, "b": {"a": 2}})", "x")["b"]["a"] == 2);

        const std::string msg = parse_error("[1, 2");
        CHECK(msg.rfind("--search-space is not valid JSON (", 0) == 0);
        CHECK(msg.find("json.exception") == std::string::npos);
    }

    TEST_CASE("parse_json: a message quotes at most 40 characters of a long token") {
        // A 100,000-character unterminated string and a huge number: nlohmann's message quotes
        // the whole token; ours cuts it.
        for (const std::string& text :
             {"[\"" + std::string(100000, 'a'), "[" + std::string(100000, '9') + "e999]",
              "{\"" + std::string(100000, 'k') + "\": 1, \"" + std::string(100000, 'k') + "\": 2}",
              std::string("[\"\x01\x02\xff") + std::string(1000, '\n')}) {
            const std::string msg = parse_error(text);
            CAPTURE(msg);
            CHECK(msg.size() < 250);  // nlohmann's wording, the input's name, 40 quoted characters
            CHECK(msg.find('\n') == std::string::npos);
        }
        CHECK(quote_input(std::string(100, 'z')) == std::string(kMaxQuoted, 'z') + "...");
        CHECK(quote_input("a\tb\x80") == "a?b?");
        CHECK(quote_json(parse_json(nested(kMaxJsonDepth, '[', ']'), "x")).size() ==
              kMaxQuoted + 3);
    }

    TEST_CASE("safetensors: deep, overflowing and repeated headers are one line naming the file") {
        TempDir dir("json_safetensors");
        const std::string path = dir.file("bad.safetensors");
        const auto error_for = [&](const std::string& header) {
            const std::vector<uint8_t> bytes = safetensors_bytes(header);
            write_file_atomic(path, bytes.data(), bytes.size());
            const std::string from_file = error_of([&] { read_safetensors(path); });
            CHECK(error_of([&] { parse_safetensors(bytes, path); }) == from_file);
            return from_file;
        };
        CHECK(error_for("{\"a\":" + nested(60000, '[', ']') + "}") ==
              path + ": header nests deeper than 64 levels");
        CHECK(error_for(R"({"a":{"dtype":"F32","shape":[1e999],"data_offsets":[0,0]}})") ==
              path + ": header holds a number out of range ('1e999')");
        // A shape entry quoted in a message is cut, however long.
        const std::string msg = error_for(R"({"a":{"dtype":"F32","shape":[")" +
                                          std::string(5000, 'x') + R"("],"data_offsets":[0,0]}})");
        CHECK(msg.size() < 200);
        CHECK(msg.find("expected non-negative integers") != std::string::npos);
    }

    TEST_CASE("unknown_key: the first key outside the allowed list, in sorted order") {
        const nlohmann::json j = parse_json(R"({"b": 1, "zz": 2, "a": 3, "": 4})", "x");
        CHECK(unknown_key(j, {"a", "b", "zz", ""}) == std::nullopt);
        CHECK(unknown_key(j, {"a", "b", "zz"}) == "");  // the empty key is a key like any other
        CHECK(unknown_key(j, {"a", "b", ""}) == "zz");
        CHECK(unknown_key(j, {"zz", ""}) == "a");
        CHECK(unknown_key(j, {}) == "");
        CHECK(unknown_key(parse_json("[1, 2]", "x"), {"a"}) == std::nullopt);
        CHECK(unknown_key(parse_json("{}", "x"), {}) == std::nullopt);
        CHECK(name_list({"normal", "reduce", "concat"}) == "normal, reduce, concat");
        CHECK(name_list({"one"}) == "one");
        CHECK(name_list({}) == "");
    }

    TEST_CASE("format_number: printf's text for one double, however long") {
        CHECK(short_number(0.025f) == "0.025");  // a float shown as typed, not 0.0250000004
        CHECK(short_number(1e-5) == "1e-05");
        CHECK(short_number(123456.7) == "123457");
        CHECK(short_number(1e6) == "1e+06");
        CHECK(short_number(-0.5) == "-0.5");
        CHECK(short_number(std::numeric_limits<double>::infinity()) == "inf");
        CHECK(format_number("%.4f", 0.5) == "0.5000");
        CHECK(format_number("%5.0f", 3) == "    3");
        CHECK(format_number("  %10.4f", 1.25) == "      1.2500");
        CHECK(format_number("%.1f,", 2.25) == "2.2,");
        const std::string huge = format_number("%.4f", 1e300);  // 301 digits, a point and 4 more
        CHECK(huge.size() == 306);
        CHECK(huge.substr(0, 4) == "1000");
        CHECK(huge.substr(huge.size() - 5) == ".0000");
    }

    TEST_CASE("safetensors: /dev/zero and a FIFO without a writer are refused up front") {
        CHECK(error_of([] { read_safetensors("/dev/zero"); }) ==
              "/dev/zero: not a regular file (a character device)");
        TempDir dir("json_fifo");
        const std::string fifo = dir.file("ckpt.safetensors");
        REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
        CHECK(error_of([&] { read_safetensors(fifo); }) == fifo + ": not a regular file (a FIFO)");
        CHECK(error_of([&] { open_input_file(fifo); }) == fifo + ": not a regular file (a FIFO)");
        const std::string missing = dir.file("missing");
        CHECK(error_of([&] { open_input_file(missing); }) ==
              missing + ": cannot open (No such file or directory)");
        const std::vector<uint8_t> hello = {'h', 'i'};
        write_file_atomic(dir.file("f"), hello.data(), hello.size());
        const InputFile f = open_input_file(dir.file("f"));
        CHECK(f.size() == 2);
        CHECK(read_file(dir.file("f")) == hello);
    }
}
