// Whole-file reads and crash-safe writes. A write goes to "<path>.tmp.<pid>", is flushed to disk
// (fsync) and renamed over `path`, so a reader sees the old file or the new one, never a torn
// mix, and a failed write leaves an existing file untouched (DESIGN.md, decision 8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace cudarts {

// Throws InputError "<path>: cannot write (<reason>)" when the file cannot be created, written,
// flushed or renamed; the temporary file is removed first.
void write_file_atomic(const std::string& path, const void* data, size_t bytes);
// Same, with the contents streamed by `write` (which may throw: the temporary is removed and the
// exception passes through unchanged).
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);

// The whole file. Throws InputError "<path>: cannot open (<reason>)" or "... cannot read (...)".
std::vector<uint8_t> read_file(const std::string& path);

}  // namespace cudarts
