// Reading and writing the safetensors format of Hugging Face, in which cudarts checkpoints are
// stored so that the PyTorch reference can load them (DESIGN.md, decision 4):
//   8 bytes   N, the header length, unsigned little-endian
//   N bytes   a UTF-8 JSON object: name -> {"dtype": "F32", "shape": [2, 3],
//             "data_offsets": [begin, end]}, plus an optional "__metadata__" of string -> string;
//             the writer pads it with spaces to a multiple of 8 bytes
//   the rest  the data buffer: each tensor's bytes, row-major, little-endian, at [begin, end)
//             relative to the buffer's start; tensors tile the buffer with no gap or overlap.
// Only F32, I32 and I64 (engine/dtype.h) are supported. Every problem with a file read is an
// InputError of one line, "<path>: <problem>"; the header goes through engine/json.h (bounded
// nesting, numbers in range, no repeated key), and the file must be a regular file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/dtype.h"

namespace cudarts {

struct SafetensorsTensor {
    DType dtype = DType::kF32;
    std::vector<int64_t> shape;  // [] for a scalar
    std::vector<uint8_t> data;   // numel() * dtype_size(dtype) bytes, as stored in the file
    int64_t numel() const;       // product of shape; 1 for a scalar
};

struct SafetensorsFile {
    std::map<std::string, std::string> metadata;
    std::map<std::string, SafetensorsTensor> tensors;
    // Throws InputError "<path>: no tensor '<name>'".
    const SafetensorsTensor& at(const std::string& name) const;
    std::string path;  // as passed to read_safetensors, for error messages
};

SafetensorsFile read_safetensors(const std::string& path);
// The same from the file's bytes already in memory; `path` names them in messages.
SafetensorsFile parse_safetensors(const std::vector<uint8_t>& bytes, const std::string& path);

struct SafetensorsView {
    std::string name;
    DType dtype = DType::kF32;
    std::vector<int64_t> shape;
    const void* data = nullptr;  // host memory, numel * dtype_size bytes
};

// Writes the tensors in the order given, contiguous, through write_file_atomic: an existing file
// at `path` is replaced only when the whole write succeeded. Throws InputError when the file
// cannot be written and Error for invalid views (duplicate or reserved names, negative dims).
void write_safetensors(const std::string& path, const std::vector<SafetensorsView>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace cudarts
