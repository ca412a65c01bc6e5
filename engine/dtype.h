// Element types a Tensor can hold, with their safetensors names and sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cudarts {

enum class DType : uint8_t { kF32, kI32, kI64 };

constexpr size_t dtype_size(DType t) { return t == DType::kI64 ? 8 : 4; }

// "F32", "I32", "I64": the safetensors spellings.
const char* dtype_name(DType t);
// Inverse of dtype_name; returns false for any other string (the caller names the file).
bool parse_dtype(const std::string& s, DType& out);

}  // namespace cudarts
