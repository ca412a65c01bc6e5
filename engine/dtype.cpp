// Element type names as the safetensors format spells them. Only the three types a Tensor can hold
// are known; every other safetensors dtype ("F16", "BF16", "U8", ...) is rejected by parse_dtype
// so that a reader can name the file and the offending string.
#include "engine/dtype.h"

namespace cudarts {

const char* dtype_name(DType t) {
    switch (t) {
        case DType::kF32:
            return "F32";
        case DType::kI32:
            return "I32";
        case DType::kI64:
            return "I64";
    }
    return "?";  // unreachable for a valid enum value; keeps -Wreturn-type quiet
}

bool parse_dtype(const std::string& s, DType& out) {
    for (DType t : {DType::kF32, DType::kI32, DType::kI64}) {
        if (s == dtype_name(t)) {
            out = t;
            return true;
        }
    }
    return false;
}

}  // namespace cudarts
