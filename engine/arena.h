// Per-step bump allocator for temporaries: alloc() hands out 256-byte-aligned pieces of a chunk,
// reset() after the step makes all of it reusable at once. A step that outgrows the chunk gets a
// further chunk (existing blocks never move); the next reset() replaces the chunks by a single
// one of the high-water size, so with fixed shapes the steady state is one chunk and no
// allocation at all. Debug builds (NDEBUG undefined) put canary bytes after every block of a CPU
// arena and check them on reset(), so an overrun names the block it ran out of.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/device.h"

namespace cudarts {

class Arena {
public:
    static constexpr size_t kAlign = 256;  // every block starts on this boundary

    // No memory is taken for initial_bytes = 0 until the first alloc().
    Arena(Device d, size_t initial_bytes);
    ~Arena();
    Arena(Arena&& other) noexcept;
    Arena& operator=(Arena&& other) noexcept;
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    // A block of at least `bytes` bytes on device(), valid until the next reset(); nullptr for 0.
    void* alloc(size_t bytes);
    // Makes every block reusable. Throws Error naming the first block whose canary was
    // overwritten (debug builds, CPU); the arena is reset and usable even then.
    void reset();

    // Bytes taken since the last reset: each block's footprint, its size rounded up to kAlign
    // (plus at least 32 canary bytes in a debug CPU arena).
    size_t used() const { return used_; }
    size_t high_water() const { return high_water_; }       // largest used() over all steps
    size_t capacity() const;                                // bytes held in chunks
    int64_t chunk_allocs() const { return chunk_allocs_; }  // raw_alloc calls so far
    Device device() const { return dev_; }

private:
    struct Chunk {
        void* base = nullptr;
        size_t size = 0;
        size_t offset = 0;  // first free byte
    };
    struct Block {
        unsigned char* canary;  // one past the caller's bytes
        size_t canary_bytes;    // to the end of the block's footprint
        size_t bytes;           // as requested
    };
    void add_chunk(size_t min_bytes);
    void release() noexcept;

    Device dev_;
    std::vector<Chunk> chunks_;  // the last one is being filled
    std::vector<Block> blocks_;  // this step's blocks, recorded only when canaries are on
    size_t used_ = 0;            // sum of block footprints (alignment padding and canary included)
    size_t high_water_ = 0;
    int64_t chunk_allocs_ = 0;
};

}  // namespace cudarts
