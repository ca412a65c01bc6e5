// engine/ memory and platform pieces on the CPU: device names and --device parsing, dtype names,
// raw allocation and byte copies, the caching allocator's reuse rule and statistics, the per-step
// arena (alignment, growth without moving blocks, coalescing into one chunk, canaries in debug
// builds) and atomic file writes. The CUDA paths of the same functions run in the cuda* suites.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/arena.h"
#include "engine/device.h"
#include "engine/device_buffer.h"
#include "engine/dtype.h"
#include "engine/fileio.h"
#include "engine/memory.h"
#include "kernels/check.h"
#include "tests/util.h"

using namespace cudarts;
using cudarts::test::TempDir;
namespace fs = std::filesystem;

namespace {

bool aligned(const void* p, size_t to) { return reinterpret_cast<uintptr_t>(p) % to == 0; }

std::string input_error(const std::string& spec, const std::string& what = "--device") {
    try {
        (void)parse_device(spec, what);
    } catch (const InputError& e) {
        return e.what();
    }
    FAIL_CHECK("parse_device('" << spec << "') did not throw InputError");
    return "";
}

std::string as_string(const std::vector<uint8_t>& v) { return {v.begin(), v.end()}; }

}  // namespace

TEST_SUITE("memory") {
    TEST_CASE("device buffer: uploads and downloads bytes, clones on request, moves its block") {
        const std::vector<int32_t> host{1, -2, 3, -4, 5};
        DeviceBuffer a = DeviceBuffer::from_host(Device::cpu(), host, 8);
        CHECK(a.bytes() == host.size() * sizeof(int32_t) + 8);
        CHECK(a.to_host<int32_t>(host.size()) == host);
        const int32_t seven = 7;
        a.upload(&seven, sizeof seven, 2 * sizeof(int32_t));
        DeviceBuffer b = a.clone();
        CHECK(b.data() != a.data());
        a.upload(&seven, sizeof seven, 0);
        CHECK(b.to_host<int32_t>(3) == std::vector<int32_t>{1, -2, 7});
        CHECK(a.to_host<int32_t>(3) == std::vector<int32_t>{7, -2, 7});
        void* const block = b.data();
        DeviceBuffer c = std::move(b);
        CHECK(c.data() == block);
        CHECK(b.data() == nullptr);
        CHECK(b.bytes() == 0);
        c = std::move(a);
        CHECK(c.to_host<int32_t>(1) == std::vector<int32_t>{7});
        int32_t out[2];
        CHECK_THROWS_AS(c.download(out, sizeof out, c.bytes() - 4), Error);
        CHECK_THROWS_AS(c.upload(out, 4, c.bytes() + 1), Error);
    }

    TEST_CASE("device: names, equality and printing") {
        CHECK(Device::cpu().str() == "cpu");
        CHECK(Device::cuda(3).str() == "cuda:3");
        CHECK(Device::cpu() == Device{DeviceKind::kCpu, 5});  // a CPU has no index
        CHECK(!(Device::cuda(0) == Device::cuda(1)));
        CHECK(!(Device::cuda(0) == Device::cpu()));
        std::ostringstream os;
        os << Device::cuda(1) << " " << Device::cpu();
        CHECK(os.str() == "cuda:1 cpu");
    }

    TEST_CASE("device: the CUDA probe is consistent and never throws") {
        const int n = cuda_device_count();
        CHECK(n >= 0);
        CHECK(cuda_available() == (n > 0));
        CHECK(cuda_unavailable_reason().empty() == (n > 0));
        CHECK(cuda_device_count() == n);  // cached, not re-probed with a different answer
#if !CUDARTS_HAS_CUDA
        CHECK(n == 0);
        CHECK(cuda_unavailable_reason() == "built without CUDA");
#endif
        const std::string cpu = describe(Device::cpu());
        CAPTURE(cpu);
        CHECK(cpu.rfind("cpu (", 0) == 0);
        CHECK(cpu.back() == ')');
        if (n == 0) CHECK(describe(Device::cuda(0)).find("unavailable") != std::string::npos);
    }

    TEST_CASE("device: parse_device accepts cpu, auto and cuda:N, rejects others in one line") {
        CHECK(parse_device("cpu") == Device::cpu());
        CHECK(parse_device("auto") == (cuda_available() ? Device::cuda(0) : Device::cpu()));
        CHECK(input_error("gpu") == "--device: expected cpu, cuda, cuda:N or auto, got 'gpu'");
        CHECK(input_error("CPU", "--eval-device") ==
              "--eval-device: expected cpu, cuda, cuda:N or auto, got 'CPU'");
        for (const char* bad : {"", "cuda:", "cuda:x", "cuda:-1", "cuda:1x", "cuda: 1", " cpu"}) {
            CAPTURE(bad);
            CHECK(input_error(bad).find("expected cpu, cuda, cuda:N or auto") != std::string::npos);
        }
        const int n = cuda_device_count();
        if (n == 0) {
            CHECK(input_error("cuda") ==
                  "--device cuda: no CUDA device (" + cuda_unavailable_reason() + ")");
            CHECK(input_error("cuda:0").rfind("--device cuda:0: no CUDA device (", 0) == 0);
        } else {
            CHECK(parse_device("cuda") == Device::cuda(0));
            CHECK(parse_device("cuda:" + std::to_string(n - 1)) == Device::cuda(n - 1));
            CHECK(input_error("cuda:" + std::to_string(n)).find("no such CUDA device") !=
                  std::string::npos);
        }
    }

    TEST_CASE("dtype: safetensors names round trip, other spellings are rejected") {
        for (DType t : {DType::kF32, DType::kI32, DType::kI64}) {
            DType back = t == DType::kF32 ? DType::kI64 : DType::kF32;
            CHECK(parse_dtype(dtype_name(t), back));
            CHECK(back == t);
        }
        CHECK(std::string(dtype_name(DType::kI32)) == "I32");
        CHECK(dtype_size(DType::kI64) == 8);
        DType untouched = DType::kI32;
        for (const char* bad : {"f32", "F16", "BF16", "F64", "U8", ""}) {
            CAPTURE(bad);
            CHECK(!parse_dtype(bad, untouched));
            CHECK(untouched == DType::kI32);
        }
    }

    TEST_CASE("raw_alloc: host blocks are 256-byte aligned; copy and zero move the right bytes") {
        CHECK(raw_alloc(Device::cpu(), 0) == nullptr);
        raw_free(Device::cpu(), nullptr);
        for (size_t bytes : {size_t(1), size_t(255), size_t(256), size_t(1000), size_t(1) << 20}) {
            CAPTURE(bytes);
            auto* a = static_cast<uint8_t*>(raw_alloc(Device::cpu(), bytes));
            auto* b = static_cast<uint8_t*>(raw_alloc(Device::cpu(), bytes));
            CHECK(aligned(a, 256));
            CHECK(aligned(b, 256));
            for (size_t i = 0; i < bytes; ++i) a[i] = uint8_t(i * 7 + 1);
            copy_bytes(b, Device::cpu(), a, Device::cpu(), bytes);
            CHECK(std::memcmp(a, b, bytes) == 0);
            zero_bytes(b + bytes / 2, Device::cpu(), bytes - bytes / 2);
            CHECK(std::memcmp(a, b, bytes / 2) == 0);
            CHECK(b[bytes - 1] == 0);
            raw_free(Device::cpu(), a);
            raw_free(Device::cpu(), b);
        }
        if (!cuda_available()) {
            CHECK_THROWS_AS(raw_alloc(Device::cuda(0), 16), Error);
            uint8_t host[4] = {1, 2, 3, 4};
            CHECK_THROWS_AS(copy_bytes(host, Device::cuda(0), host, Device::cpu(), 4), Error);
            CHECK_THROWS_AS(zero_bytes(host, Device::cuda(0), 4), Error);
#if !CUDARTS_HAS_CUDA
            try {
                (void)raw_alloc(Device::cuda(0), 16);
            } catch (const Error& e) {
                CHECK(std::string(e.what()).find("built without CUDA") != std::string::npos);
            }
#endif
        }
    }

    TEST_CASE("caching allocator: a freed block is reused for the same rounded size") {
        CachingAllocator& a = CachingAllocator::instance();
        a.release_cached();
        const AllocatorStats s0 = a.stats(Device::cpu());
        CHECK(s0.bytes_cached == 0);
        CHECK(a.alloc(Device::cpu(), 0) == nullptr);
        a.free(Device::cpu(), nullptr, 0);

        void* p = a.alloc(Device::cpu(), 1000);  // rounds to 1024
        CHECK(aligned(p, 256));
        AllocatorStats s = a.stats(Device::cpu());
        CHECK(s.raw_allocs == s0.raw_allocs + 1);
        CHECK(s.bytes_in_use == s0.bytes_in_use + 1024);
        a.free(Device::cpu(), p, 1000);
        s = a.stats(Device::cpu());
        CHECK(s.bytes_in_use == s0.bytes_in_use);
        CHECK(s.bytes_cached == 1024);

        void* q = a.alloc(Device::cpu(), 600);  // also 1024 after rounding
        CHECK(q == p);
        s = a.stats(Device::cpu());
        CHECK(s.raw_allocs == s0.raw_allocs + 1);
        CHECK(s.bytes_cached == 0);
        CHECK(s.peak_in_use >= s0.bytes_in_use + 1024);
        a.free(Device::cpu(), q, 600);
        a.release_cached();
        CHECK(a.stats(Device::cpu()).bytes_cached == 0);
    }

    TEST_CASE("caching allocator: a cached block serves only requests of its own rounded size") {
        CachingAllocator& a = CachingAllocator::instance();
        a.release_cached();
        const AllocatorStats s0 = a.stats(Device::cpu());
        void* big = a.alloc(Device::cpu(), 4096);
        a.free(Device::cpu(), big, 4096);

        void* half = a.alloc(Device::cpu(), 2048);  // smaller than the cached block: a new one
        CHECK(half != big);
        CHECK(a.stats(Device::cpu()).raw_allocs == s0.raw_allocs + 2);
        void* same = a.alloc(Device::cpu(), 4000);  // 4096 after rounding: the cached block
        CHECK(same == big);
        AllocatorStats s = a.stats(Device::cpu());
        CHECK(s.raw_allocs == s0.raw_allocs + 2);
        CHECK(s.bytes_in_use == s0.bytes_in_use + 2048 + 4096);
        a.free(Device::cpu(), same, 4000);
        a.free(Device::cpu(), half, 2048);
        s = a.stats(Device::cpu());
        CHECK(s.bytes_cached == 4096 + 2048);
        CHECK(s.bytes_in_use == s0.bytes_in_use);
        a.release_cached();
    }

    TEST_CASE("caching allocator: concurrent alloc and free keep the books balanced") {
        CachingAllocator& a = CachingAllocator::instance();
        const int64_t in_use0 = a.stats(Device::cpu()).bytes_in_use;
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&a, t] {
                std::vector<std::pair<void*, size_t>> live;
                for (int i = 0; i < 2000; ++i) {
                    const size_t bytes = size_t(1 + (i * 37 + t * 11) % 5000);
                    void* p = a.alloc(Device::cpu(), bytes);
                    std::memset(p, t, bytes);  // a block shared between threads would be corrupted
                    live.emplace_back(p, bytes);
                    if (live.size() > 8) {
                        const auto [q, n] = live.front();
                        for (size_t k = 0; k < n; ++k)
                            if (static_cast<uint8_t*>(q)[k] != uint8_t(t)) throw Error("corrupted");
                        a.free(Device::cpu(), q, n);
                        live.erase(live.begin());
                    }
                }
                for (const auto& [q, n] : live) a.free(Device::cpu(), q, n);
            });
        }
        for (std::thread& th : threads) th.join();
        CHECK(a.stats(Device::cpu()).bytes_in_use == in_use0);
        a.release_cached();
    }

    TEST_CASE("arena: blocks are aligned, disjoint, and survive growth into new chunks") {
        Arena arena(Device::cpu(), 1024);
        CHECK(arena.chunk_allocs() == 1);
        CHECK(arena.alloc(0) == nullptr);
        std::vector<std::pair<uint8_t*, size_t>> blocks;
        for (int i = 0; i < 20; ++i) {
            const size_t bytes = size_t(1 + i * 97);
            auto* p = static_cast<uint8_t*>(arena.alloc(bytes));
            CHECK(aligned(p, Arena::kAlign));
            std::memset(p, i + 1, bytes);
            blocks.emplace_back(p, bytes);
        }
        CHECK(arena.chunk_allocs() > 1);  // 20 blocks cannot fit in 1024 bytes
        CHECK(arena.used() >= 20 * Arena::kAlign);
        CHECK(arena.high_water() == arena.used());
        for (size_t i = 0; i < blocks.size(); ++i) {
            CAPTURE(i);
            const auto [p, bytes] = blocks[i];
            size_t wrong = 0;
            for (size_t k = 0; k < bytes; ++k) wrong += p[k] != uint8_t(i + 1);
            CHECK(wrong == 0);
        }
    }

    TEST_CASE("arena: after one reset the steady state is one chunk and no allocation") {
        Arena arena(Device::cpu(), 512);
        auto step = [&arena] {
            for (int i = 0; i < 12; ++i) std::memset(arena.alloc(size_t(300 + 50 * i)), 1, 300);
        };
        step();
        const size_t first_used = arena.used();
        const int64_t grown = arena.chunk_allocs();
        CHECK(grown > 1);
        arena.reset();
        CHECK(arena.used() == 0);
        CHECK(arena.high_water() == first_used);
        CHECK(arena.capacity() == first_used);  // coalesced into one chunk of the high-water size
        CHECK(arena.chunk_allocs() == grown + 1);
        for (int s = 0; s < 3; ++s) {
            step();
            CHECK(arena.used() == first_used);
            CHECK(arena.chunk_allocs() == grown + 1);
            arena.reset();
            CHECK(arena.capacity() == first_used);
            CHECK(arena.chunk_allocs() == grown + 1);
        }
        void* a = arena.alloc(10);
        arena.reset();
        CHECK(arena.alloc(10) == a);  // reset hands out the same memory again
    }

    TEST_CASE("arena: zero initial capacity takes nothing until used; moves transfer the chunks") {
        Arena a(Device::cpu(), 0);
        CHECK(a.capacity() == 0);
        CHECK(a.chunk_allocs() == 0);
        void* p = a.alloc(100);
        CHECK(p != nullptr);
        CHECK(a.chunk_allocs() == 1);
        const size_t used = a.used();
        CHECK(used >= 100);

        Arena b(std::move(a));
        CHECK(b.used() == used);
        CHECK(b.capacity() >= 100);
        CHECK(a.capacity() ==
              0);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
        CHECK(a.used() == 0);
        Arena c(Device::cpu(), 4096);
        c = std::move(b);
        CHECK(c.chunk_allocs() == 1);
        CHECK(c.used() == used);
        c.reset();
        CHECK(c.alloc(8) == p);  // the chunk moved along with the arena
    }

#ifndef NDEBUG
    TEST_CASE("arena (debug build): writing past a block is reported on reset, naming the block") {
        Arena arena(Device::cpu(), 4096);
        arena.alloc(16);
        auto* victim = static_cast<uint8_t*>(arena.alloc(100));
        arena.alloc(8);
        victim[100] = 0;  // one byte past the end of block 1
        try {
            arena.reset();
            FAIL_CHECK("reset did not report the overrun");
        } catch (const Error& e) {
            CHECK(std::string(e.what()).find("block 1 (100 bytes)") != std::string::npos);
        }
        CHECK(arena.used() == 0);  // reset even so, and usable
        arena.alloc(100);
        CHECK_NOTHROW(arena.reset());
    }
#endif

    TEST_CASE("write_file_atomic: writes, replaces, leaves no temporary, reads back") {
        TempDir dir("memory");
        const std::string path = dir.file("out.bin");
        const std::string first = "first contents";
        write_file_atomic(path, first.data(), first.size());
        CHECK(as_string(read_file(path)) == first);

        // Larger than the writer's 64 KiB buffer, streamed in pieces of several sizes.
        std::string big;
        for (int i = 0; i < 100000; ++i) big += char('a' + i % 26);
        write_file_atomic(path, [&](std::ostream& os) {
            os << big.substr(0, 10);
            os.write(big.data() + 10, 70000);
            os << big.substr(70010);
        });
        CHECK(as_string(read_file(path)) == big);
        CHECK(dir.entries().size() == 1);

        write_file_atomic(path, nullptr, 0);
        CHECK(read_file(path).empty());
    }

    TEST_CASE("write_file_atomic: failures throw one line and keep the old file") {
        TempDir dir("memory");
        const std::string path = dir.file("keep.bin");
        const std::string old = "old";
        write_file_atomic(path, old.data(), old.size());

        // The writer throwing halfway: its exception passes through, nothing is replaced.
        struct Boom {};
        CHECK_THROWS_AS(write_file_atomic(path,
                                          [](std::ostream& os) {
                                              os << std::string(100000, 'x');
                                              throw Boom{};
                                          }),
                        Boom);
        CHECK(as_string(read_file(path)) == old);
        CHECK(dir.entries().size() == 1);

        // A directory at the target: the rename fails after a complete write.
        const std::string target_dir = dir.file("adir");
        fs::create_directory(target_dir);
        try {
            write_file_atomic(target_dir, old.data(), old.size());
            FAIL_CHECK("renaming over a directory did not throw");
        } catch (const InputError& e) {
            const std::string msg = e.what();
            CAPTURE(msg);
            CHECK(msg.rfind(target_dir + ": cannot write (", 0) == 0);
            CHECK(msg.find('\n') == std::string::npos);
        }
        CHECK(dir.entries().size() == 2);  // keep.bin and adir, no temporary

        const std::string missing = dir.file("nope/x.bin");
        CHECK_THROWS_WITH_AS(write_file_atomic(missing, old.data(), old.size()),
                             (missing + ": cannot write (No such file or directory)").c_str(),
                             InputError);
        CHECK_THROWS_WITH_AS(read_file(missing),
                             (missing + ": cannot open (No such file or directory)").c_str(),
                             InputError);
        CHECK_THROWS_WITH_AS(read_file(target_dir),
                             (target_dir + ": not a regular file (a directory)").c_str(),
                             InputError);
    }

}  // TEST_SUITE
