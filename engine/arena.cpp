// Arena: bump allocation from a list of chunks (see arena.h for the contract).
// used_ counts block footprints, not chunk offsets: when a block does not fit the tail of the
// current chunk that tail is skipped, but a single chunk of high_water_ bytes holds the same step
// with no gaps, which is what reset() relies on when it coalesces. A new chunk is at least as
// large as everything held so far, so a first step of any size takes O(log) raw allocations.
// Canaries (debug, CPU only) fill the footprint from the end of the caller's bytes to the end of
// the block; on a CUDA arena reading them back would cost a device copy per block.
#include "engine/arena.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <sstream>
#include <utility>

#include "engine/memory.h"
#include "kernels/check.h"

namespace cudarts {

namespace {

#ifdef NDEBUG
constexpr bool kCanaries = false;
#else
constexpr bool kCanaries = true;
#endif
constexpr size_t kCanaryBytes = 32;          // minimum guard after each block
constexpr unsigned char kCanaryByte = 0xCD;  // an unlikely value for floats and small ints alike

}  // namespace

Arena::Arena(Device d, size_t initial_bytes) : dev_(d) {
    if (initial_bytes > 0) add_chunk(initial_bytes);
}

Arena::~Arena() { release(); }

Arena::Arena(Arena&& other) noexcept
    : dev_(other.dev_),
      chunks_(std::exchange(other.chunks_, {})),
      blocks_(std::exchange(other.blocks_, {})),
      used_(std::exchange(other.used_, 0)),
      high_water_(std::exchange(other.high_water_, 0)),
      chunk_allocs_(std::exchange(other.chunk_allocs_, 0)) {}

Arena& Arena::operator=(Arena&& other) noexcept {
    if (this != &other) {
        release();
        dev_ = other.dev_;
        chunks_ = std::exchange(other.chunks_, {});
        blocks_ = std::exchange(other.blocks_, {});
        used_ = std::exchange(other.used_, 0);
        high_water_ = std::exchange(other.high_water_, 0);
        chunk_allocs_ = std::exchange(other.chunk_allocs_, 0);
    }
    return *this;
}

size_t Arena::capacity() const {
    size_t total = 0;
    for (const Chunk& c : chunks_) total += c.size;
    return total;
}

void* Arena::alloc(size_t bytes) {
    if (bytes == 0) return nullptr;
    const bool canaries = kCanaries && dev_.is_cpu();
    const size_t guard = canaries ? kCanaryBytes : 0;
    CUDARTS_CHECK(bytes <= std::numeric_limits<size_t>::max() - guard - kAlign,
                  "Arena::alloc: " << bytes << " bytes is not a size");
    const size_t footprint = (bytes + guard + kAlign - 1) / kAlign * kAlign;
    if (chunks_.empty() || chunks_.back().size - chunks_.back().offset < footprint)
        add_chunk(footprint);
    Chunk& c = chunks_.back();
    unsigned char* p = static_cast<unsigned char*>(c.base) + c.offset;
    c.offset += footprint;
    used_ += footprint;
    high_water_ = std::max(high_water_, used_);
    if (canaries) {
        std::memset(p + bytes, kCanaryByte, footprint - bytes);
        blocks_.push_back({p + bytes, footprint - bytes, bytes});
    }
    return p;
}

void Arena::reset() {
    // Find the first damaged canary before the blocks are forgotten, but throw only once the
    // arena is reset: the caller may report the error and carry on with the next step.
    int64_t damaged = -1;
    for (size_t i = 0; i < blocks_.size() && damaged < 0; ++i) {
        const Block& b = blocks_[i];
        for (size_t k = 0; k < b.canary_bytes; ++k) {
            if (b.canary[k] != kCanaryByte) {
                damaged = int64_t(i);
                break;
            }
        }
    }
    const size_t damaged_bytes = damaged >= 0 ? blocks_[size_t(damaged)].bytes : 0;
    blocks_.clear();
    used_ = 0;
    if (chunks_.size() > 1) {
        release();
        add_chunk(high_water_);
    } else if (!chunks_.empty()) {
        chunks_.front().offset = 0;
    }
    if (damaged >= 0) {
        std::ostringstream os;
        os << "Arena::reset (" << dev_ << "): canary after block " << damaged << " ("
           << damaged_bytes << " bytes) was overwritten: something wrote past the end of it";
        throw Error(os.str());
    }
}

void Arena::add_chunk(size_t min_bytes) {
    const size_t size = std::max(min_bytes, capacity());
    void* base = raw_alloc(dev_, size);
    ++chunk_allocs_;
    try {
        chunks_.push_back({base, size, 0});
    } catch (...) {
        raw_free(dev_, base);
        throw;
    }
}

void Arena::release() noexcept {
    for (const Chunk& c : chunks_) raw_free(dev_, c.base);
    chunks_.clear();
}

}  // namespace cudarts
