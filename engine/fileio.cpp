// POSIX file I/O behind engine/fileio.h. Writes go through a small std::streambuf over a file
// descriptor rather than std::ofstream, because the file must be fsync'ed before the rename and a
// failed write(2) must report its own errno (ENOSPC, EIO) instead of a bare failbit. After the
// rename the directory is fsync'ed too, so the new name itself survives a crash.
#include "engine/fileio.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <streambuf>

#include "kernels/check.h"

namespace cudarts {

namespace {

// An output streambuf over a descriptor it does not own. The first write error is remembered in
// error_ and fails the stream; later writes are refused.
class FdOutBuf : public std::streambuf {
public:
    explicit FdOutBuf(int fd) : fd_(fd) { setp(buf_, buf_ + sizeof(buf_)); }
    int error() const { return error_; }
    // Writes what is buffered; false (with error() set) on failure.
    bool flush_all() { return drain(); }

protected:
    int_type overflow(int_type ch) override {
        if (!drain()) return traits_type::eof();
        if (!traits_type::eq_int_type(ch, traits_type::eof())) {
            *pptr() = traits_type::to_char_type(ch);
            pbump(1);
        }
        return traits_type::not_eof(ch);
    }
    int sync() override { return drain() ? 0 : -1; }
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        // Large writes (tensor data) bypass the buffer.
        if (n >= std::streamsize(sizeof(buf_))) {
            if (!drain() || !write_all(s, size_t(n))) return 0;
            return n;
        }
        return std::streambuf::xsputn(s, n);
    }

private:
    bool drain() {
        const size_t n = size_t(pptr() - pbase());
        setp(buf_, buf_ + sizeof(buf_));
        return error_ == 0 && write_all(buf_, n);
    }
    bool write_all(const char* s, size_t n) {
        while (n > 0 && error_ == 0) {
            const ssize_t w = ::write(fd_, s, n);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                error_ = w < 0 ? errno : EIO;
                break;
            }
            s += w;
            n -= size_t(w);
        }
        return error_ == 0;
    }

    int fd_;
    int error_ = 0;
    char buf_[1 << 16];
};

[[noreturn]] void throw_io(const std::string& path, const char* what, int err) {
    throw InputError(path + ": " + what + " (" + std::strerror(err) + ")");
}

std::string dir_of(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw_io(path, "cannot write", errno);

    // From here on every way out either renames tmp over path or removes it.
    int err = 0;
    try {
        FdOutBuf buf(fd);
        std::ostream os(&buf);
        write(os);
        if (!buf.flush_all() || !os) err = buf.error() != 0 ? buf.error() : EIO;
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    if (err == 0 && ::fsync(fd) != 0) err = errno;
    if (::close(fd) != 0 && err == 0) err = errno;
    if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
    if (err != 0) {
        ::unlink(tmp.c_str());
        throw_io(path, "cannot write", err);
    }
    // Durability of the new directory entry; the data itself is already safe, so a directory
    // that cannot be opened or synced (some file systems refuse) is not an error.
    const int dir = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        (void)::fsync(dir);
        ::close(dir);
    }
}

void write_file_atomic(const std::string& path, const void* data, size_t bytes) {
    write_file_atomic(path, [&](std::ostream& os) {
        if (bytes > 0) os.write(static_cast<const char*>(data), std::streamsize(bytes));
    });
}

InputFile::~InputFile() {
    if (fd_ >= 0) ::close(fd_);
}

int InputFile::release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
}

InputFile open_input_file(const std::string& path) {
    // O_NONBLOCK so that opening a FIFO without a writer returns at once; fstat on the descriptor
    // (rather than stat before open) judges the very file that was opened.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw_io(path, "cannot open", errno);
    InputFile file(fd, 0);
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_io(path, "cannot open", errno);
    if (!S_ISREG(st.st_mode)) {
        const char* kind = S_ISFIFO(st.st_mode)   ? "a FIFO"
                           : S_ISCHR(st.st_mode)  ? "a character device"
                           : S_ISBLK(st.st_mode)  ? "a block device"
                           : S_ISDIR(st.st_mode)  ? "a directory"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                                                  : "of another kind";
        throw InputError(path + ": not a regular file (" + kind + ")");
    }
    // Reads of a regular file never block; clear the flag anyway so that zlib sees a plain fd.
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) (void)::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return InputFile(file.release(), uint64_t(st.st_size));
}

std::vector<uint8_t> read_file(const std::string& path) {
    const InputFile file = open_input_file(path);
    // Sized from fstat plus one byte, so that end of file shows up without growing the vector;
    // it grows only if the file is appended to while being read.
    std::vector<uint8_t> out(size_t(file.size()) + 1);
    size_t got = 0;
    for (;;) {
        if (got == out.size()) out.resize(2 * out.size());
        const ssize_t r = ::read(file.fd(), out.data() + got, out.size() - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw_io(path, "cannot read", errno);
        if (r == 0) break;
        got += size_t(r);
    }
    out.resize(got);
    return out;
}

}  // namespace cudarts
