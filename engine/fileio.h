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

// A regular file open for reading; the descriptor is closed by the destructor unless release()d.
class InputFile {
public:
    InputFile(int fd, uint64_t size) : fd_(fd), size_(size) {}
    ~InputFile();
    InputFile(InputFile&& other) noexcept : fd_(other.release()), size_(other.size_) {}
    InputFile& operator=(InputFile&&) = delete;
    InputFile(const InputFile&) = delete;
    InputFile& operator=(const InputFile&) = delete;

    int fd() const { return fd_; }
    uint64_t size() const { return size_; }  // at open time; bounds what a reader allocates
    int release();                           // hands the descriptor over (to zlib's gzdopen)

private:
    int fd_;
    uint64_t size_;
};

// Opens `path` for reading, refusing anything but a regular file before a byte is read: a FIFO
// (which would block until a writer appears), a device such as /dev/zero (which never ends) or a
// directory gives InputError "<path>: not a regular file (a FIFO)". The open itself does not wait
// for a FIFO's writer. Throws InputError "<path>: cannot open (<reason>)" otherwise.
InputFile open_input_file(const std::string& path);

// The whole regular file (open_input_file's checks), at most the size it had when opened plus
// what was appended while reading. Throws InputError "<path>: cannot open (<reason>)",
// "... not a regular file (...)" or "... cannot read (...)".
std::vector<uint8_t> read_file(const std::string& path);

}  // namespace cudarts
