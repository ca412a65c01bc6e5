// safetensors reader and writer (format in safetensors.h; the reference is the Hugging Face
// `safetensors` crate, whose validation this mirrors: offsets inside the buffer, sizes matching
// shapes, tensors tiling the buffer exactly). The reader trusts nothing in the file: every count
// is checked before it is used, so a truncated or hostile file gives a one-line InputError and
// never a huge allocation or an out-of-range read. The header is parsed by engine/json.h, which
// also refuses the duplicate keys nlohmann::json would collapse to the last one. Multi-byte values
// are copied as stored, which is correct because the host is little-endian (asserted below).
#include "engine/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "engine/fileio.h"
#include "engine/json.h"
#include "kernels/check.h"

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; a big-endian host would need byte swaps");

namespace cudarts {

namespace {

using nlohmann::json;

constexpr const char* kMetadataKey = "__metadata__";
constexpr size_t kLengthBytes = 8;

std::string shape_str(const std::vector<int64_t>& shape) {
    std::ostringstream os;
    os << "[";
    for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
    os << "]";
    return os.str();
}

// Reads and checks one file; every check throws through fail() with the path prepended.
class Reader {
public:
    explicit Reader(const std::string& path) : path_(path) {}

    SafetensorsFile read(const std::vector<uint8_t>& bytes) {
        if (bytes.size() < kLengthBytes)
            fail("file is " + std::to_string(bytes.size()) +
                 " bytes, too short for the 8-byte header length of a safetensors file");
        uint64_t header_len = 0;
        std::memcpy(&header_len, bytes.data(), kLengthBytes);
        if (header_len > bytes.size() - kLengthBytes)
            fail("header length " + std::to_string(header_len) + " exceeds file size " +
                 std::to_string(bytes.size()));
        const uint8_t* header = bytes.data() + kLengthBytes;
        const uint8_t* data = header + header_len;
        data_bytes_ = bytes.size() - kLengthBytes - size_t(header_len);

        const json root = parse_header(header, data);
        SafetensorsFile file;
        file.path = path_;
        std::vector<Span> spans;
        for (const auto& [name, entry] : root.items()) {
            if (name == kMetadataKey) {
                file.metadata = parse_metadata(entry);
                continue;
            }
            SafetensorsTensor t;
            const Span span = parse_entry(name, entry, t);
            t.data.assign(data + span.begin, data + span.end);
            spans.push_back(span);
            file.tensors.emplace(name, std::move(t));
        }
        check_tiling(spans);
        return file;
    }

private:
    struct Span {
        std::string name;
        uint64_t begin, end;
    };

    [[noreturn]] void fail(const std::string& problem) const {
        throw InputError(path_ + ": " + problem);
    }

    json parse_header(const uint8_t* begin, const uint8_t* end) const {
        const json root =
            parse_json(std::string_view(reinterpret_cast<const char*>(begin), size_t(end - begin)),
                       path_ + ": header");
        if (!root.is_object()) fail("header is not a JSON object");
        return root;
    }

    std::map<std::string, std::string> parse_metadata(const json& entry) const {
        if (!entry.is_object()) fail("\"__metadata__\" is not a JSON object");
        std::map<std::string, std::string> out;
        for (const auto& [key, value] : entry.items()) {
            if (!value.is_string())
                fail("\"__metadata__\" value of '" + quote_input(key) + "' is a " +
                     value.type_name() + ", expected a string");
            out.emplace(key, value.get<std::string>());
        }
        return out;
    }

    // Fills t's dtype and shape, checks the offsets against them, returns the byte span.
    Span parse_entry(const std::string& name, const json& entry, SafetensorsTensor& t) const {
        const std::string what = "tensor '" + quote_input(name) + "'";
        if (!entry.is_object())
            fail(what + ": entry is a " + entry.type_name() + ", not an object");
        for (const char* key : {"dtype", "shape", "data_offsets"})
            if (!entry.contains(key)) fail(what + ": missing \"" + key + "\"");

        const json& dtype = entry["dtype"];
        if (!dtype.is_string())
            fail(what + ": \"dtype\" is a " + dtype.type_name() + ", not a string");
        if (!parse_dtype(dtype.get<std::string>(), t.dtype))
            fail(what + ": unsupported dtype '" + quote_input(dtype.get<std::string>()) +
                 "' (supported: F32, I32, I64)");

        const json& shape = entry["shape"];
        if (!shape.is_array())
            fail(what + ": \"shape\" is a " + shape.type_name() + ", not an array");
        // Dimensions are bounded so that numel * 8 cannot overflow; a real tensor that large could
        // not fit in the buffer anyway, and the size check below rejects it with a clearer message.
        constexpr uint64_t kMaxElems = uint64_t(std::numeric_limits<int64_t>::max()) / 8;
        uint64_t nonzero_product = 1;
        for (const json& dim : shape) {
            if (!dim.is_number_unsigned())
                fail(what + ": \"shape\" has " + quote_json(dim) +
                     ", expected non-negative integers");
            const uint64_t d = dim.get<uint64_t>();
            if (d > kMaxElems || (d > 0 && nonzero_product > kMaxElems / d))
                fail(what + ": shape " + quote_json(shape) + " is too large");
            if (d > 0) nonzero_product *= d;
            t.shape.push_back(int64_t(d));
        }

        const json& offsets = entry["data_offsets"];
        if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
            !offsets[1].is_number_unsigned())
            fail(what + ": \"data_offsets\" is " + quote_json(offsets) +
                 ", expected [begin, end] with non-negative integers");
        const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
        const std::string range = "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
        if (end < begin) fail(what + ": data_offsets " + range + " end before they begin");
        if (end > data_bytes_)
            fail(what + ": data_offsets " + range + " exceed the " + std::to_string(data_bytes_) +
                 "-byte data buffer");
        const uint64_t want = uint64_t(t.numel()) * dtype_size(t.dtype);
        if (end - begin != want)
            fail(what + ": shape " + shape_str(t.shape) + " of " + dtype_name(t.dtype) + " needs " +
                 std::to_string(want) + " bytes, data_offsets " + range + " hold " +
                 std::to_string(end - begin));
        return {name, begin, end};
    }

    // The tensors must cover [0, data_bytes_) exactly once, in some order.
    void check_tiling(std::vector<Span> spans) const {
        std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
            return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
        });
        uint64_t covered = 0;
        const Span* last = nullptr;
        for (const Span& s : spans) {
            if (s.begin < covered)
                fail("tensors '" + quote_input(last->name) + "' and '" + quote_input(s.name) +
                     "' overlap in the data buffer");
            if (s.begin > covered)
                fail("bytes [" + std::to_string(covered) + ", " + std::to_string(s.begin) +
                     ") of the data buffer belong to no tensor");
            covered = s.end;
            if (s.end > s.begin) last = &s;
        }
        if (covered != data_bytes_)
            fail("the data buffer has " + std::to_string(data_bytes_) +
                 " bytes but its tensors cover only " + std::to_string(covered));
    }

    std::string path_;
    uint64_t data_bytes_ = 0;
};

}  // namespace

int64_t SafetensorsTensor::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

const SafetensorsTensor& SafetensorsFile::at(const std::string& name) const {
    const auto it = tensors.find(name);
    if (it == tensors.end()) throw InputError(path + ": no tensor '" + name + "'");
    return it->second;
}

SafetensorsFile read_safetensors(const std::string& path) {
    return Reader(path).read(read_file(path));
}

SafetensorsFile parse_safetensors(const std::vector<uint8_t>& bytes, const std::string& path) {
    return Reader(path).read(bytes);
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    // ordered_json keeps the tensors in the order given, which is also their order in the buffer,
    // so the header reads like the layout.
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header[kMetadataKey] = metadata;
    std::set<std::string> names;
    uint64_t offset = 0;
    std::vector<uint64_t> sizes;
    for (const SafetensorsView& t : tensors) {
        CUDARTS_CHECK(t.name != kMetadataKey && names.insert(t.name).second,
                      "write_safetensors " << path << ": tensor name '" << t.name
                                           << "' is reserved or used twice");
        uint64_t numel = 1;
        for (int64_t d : t.shape) {
            CUDARTS_CHECK(d >= 0, "write_safetensors " << path << ": tensor '" << t.name
                                                       << "' has shape " << shape_str(t.shape));
            numel *= uint64_t(d);
        }
        const uint64_t bytes = numel * dtype_size(t.dtype);
        CUDARTS_CHECK(bytes == 0 || t.data != nullptr,
                      "write_safetensors " << path << ": tensor '" << t.name << "' has no data");
        header[t.name] = {{"dtype", dtype_name(t.dtype)},
                          {"shape", t.shape},
                          {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
        sizes.push_back(bytes);
    }
    std::string text;
    try {
        text = header.dump();
    } catch (const nlohmann::json::exception& e) {  // e.g. a name that is not valid UTF-8
        throw Error("write_safetensors " + path + ": cannot encode the header (" + e.what() + ")");
    }
    text.append((8 - text.size() % 8) % 8, ' ');
    const uint64_t header_len = text.size();

    write_file_atomic(path, [&](std::ostream& os) {
        char len[kLengthBytes];
        std::memcpy(len, &header_len, kLengthBytes);
        os.write(len, kLengthBytes);
        os.write(text.data(), std::streamsize(text.size()));
        for (size_t i = 0; i < tensors.size(); ++i)
            if (sizes[i] > 0)
                os.write(static_cast<const char*>(tensors[i].data), std::streamsize(sizes[i]));
    });
}

}  // namespace cudarts
