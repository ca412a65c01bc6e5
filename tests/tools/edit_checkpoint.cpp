// Writes a copy of a safetensors checkpoint with one thing changed, so that the command-line
// tests (tests/cli_checkpoint.cmake) can hand cudarts the bad checkpoints it must refuse:
//
//   edit_checkpoint IN OUT value NAME INDEX VALUE  element INDEX (flat) of F32 tensor NAME set to
//                                                  VALUE: nan, inf, -inf or a number
//   edit_checkpoint IN OUT shape NAME D0,D1,...    tensor NAME replaced by zeros of that shape
//                                                  (a dimension may be 0)
//   edit_checkpoint IN OUT option KEY JSON         KEY of the metadata "options" object set to JSON
//   edit_checkpoint IN OUT meta KEY TEXT           metadata KEY set to TEXT
//   edit_checkpoint IN OUT drop KEY                metadata KEY removed
//
// IN and OUT may be the same file. Exit 2 with one line on stderr on a bad request.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "engine/json.h"
#include "engine/safetensors.h"
#include "kernels/check.h"

using namespace cudarts;

namespace {

std::vector<int64_t> parse_dims(const std::string& csv) {
    std::vector<int64_t> dims;
    std::stringstream in(csv);
    for (std::string d; std::getline(in, d, ',');) dims.push_back(std::stoll(d));
    return dims;
}

float parse_value(const std::string& s) {
    if (s == "nan") return std::numeric_limits<float>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<float>::infinity();
    if (s == "-inf") return -std::numeric_limits<float>::infinity();
    return std::stof(s);
}

SafetensorsTensor& tensor(SafetensorsFile& f, const std::string& name) {
    const auto it = f.tensors.find(name);
    if (it == f.tensors.end()) throw InputError(f.path + ": no tensor '" + name + "'");
    return it->second;
}

void edit(SafetensorsFile& f, const std::vector<std::string>& a) {
    const std::string& op = a.at(0);
    if (op == "value" && a.size() == 4) {
        SafetensorsTensor& t = tensor(f, a[1]);
        const int64_t i = std::stoll(a[2]);
        if (t.dtype != DType::kF32 || i < 0 || i >= t.numel())
            throw InputError(a[1] + ": no F32 element " + a[2]);
        const float v = parse_value(a[3]);
        std::memcpy(t.data.data() + size_t(i) * sizeof(float), &v, sizeof v);
    } else if (op == "shape" && a.size() == 3) {
        SafetensorsTensor& t = tensor(f, a[1]);
        t.shape = parse_dims(a[2]);
        t.data.assign(size_t(t.numel()) * dtype_size(t.dtype), 0);
    } else if (op == "option" && a.size() == 3) {
        nlohmann::json options = parse_json(f.metadata.at("options"), "metadata 'options'");
        options[a[1]] = parse_json(a[2], "JSON");
        f.metadata["options"] = options.dump();
    } else if (op == "meta" && a.size() == 3) {
        f.metadata[a[1]] = a[2];
    } else if (op == "drop" && a.size() == 2) {
        f.metadata.erase(a[1]);
    } else {
        throw InputError(
            "expected value NAME INDEX VALUE, shape NAME DIMS, option KEY JSON, "
            "meta KEY TEXT or drop KEY");
    }
}

}  // namespace

int main(int argc, char** argv) try {
    if (argc < 4) throw InputError("usage: edit_checkpoint IN OUT EDIT... (see the source)");
    SafetensorsFile f = read_safetensors(argv[1]);
    edit(f, std::vector<std::string>(argv + 3, argv + argc));
    std::vector<SafetensorsView> views;
    const uint8_t none = 0;  // a pointer for empty tensors
    for (const auto& [name, t] : f.tensors)
        views.push_back({name, t.dtype, t.shape, t.data.empty() ? &none : t.data.data()});
    write_safetensors(argv[2], views, f.metadata);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "edit_checkpoint: %s\n", e.what());
    return 2;
}
