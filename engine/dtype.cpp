// Element type names as the safetensors format spells them. Only the three types a Tensor can hold
// are known; every other safetensors dtype ("F16", "BF16", "U8", ...) is rejected by parse_dtype
// so that a reader can name the file and the offending string.
#include "engine/dtype.h"

namespace cudarts {

namespace {

// Each type with its safetensors name: dtype_name reads the table one way, parse_dtype the other.
struct NamedDType {
    DType type;
    const char* name;
};
constexpr NamedDType kNames[] = {{DType::kF32, "F32"}, {DType::kI32, "I32"}, {DType::kI64, "I64"}};

}  // namespace

const char* dtype_name(DType t) {
    for (const NamedDType& d : kNames)
        if (d.type == t) return d.name;
    return "?";  // unreachable for a valid enum value
}

bool parse_dtype(const std::string& s, DType& out) {
    for (const NamedDType& d : kNames) {
        if (s == d.name) {
            out = d.type;
            return true;
        }
    }
    return false;
}

}  // namespace cudarts
