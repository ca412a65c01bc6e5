// The SIMT emulator's runtime: grids, blocks, fibers, barriers and warp collectives behind
// tests/simt/include/simt/simt.h, and the CUDA runtime calls of tests/simt/include/cuda_runtime.h.
// A block runs on one OS thread, each of its threads on a Boost.Context fiber with a pooled
// stack (a fiber runs thread after thread as long as none waits, and stays with a thread that
// waits). Threads switch only where CUDA threads wait for each other (barriers, warp
// collectives, cluster.sync) or exit; which released thread runs next is the schedule, chosen by
// CUDARTS_SIMT_SCHEDULE = fifo (default) | lifo | random:SEED, deterministic for each choice.
// Blocks of a grid run one after another on the launching thread; the blocks of a cluster run on
// one OS thread each, taking turns in schedule order, so all are alive at once and
// map_shared_rank can reach their __shared__ (thread-local) storage.
// A misuse (mismatched barrier or collective, a mask naming an exited lane, a deadlock, a
// dynamic shared memory overrun, ...) aborts the grid and becomes the error of the launch:
// cudaGetLastError returns cudaErrorLaunchFailure and cudaGetErrorString appends the report,
// which names the kernel, block, thread and source line. Unlike a real device the error is not
// sticky, so the next test starts clean.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/context/fiber.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "simt/simt.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define SIMT_ASAN 1
#endif

namespace simt {

namespace {

namespace bctx = boost::context;

// ---- fiber stacks ----------------------------------------------------------------------------

#if SIMT_ASAN
constexpr size_t kStackBytes = 512 * 1024;
#else
constexpr size_t kStackBytes = 64 * 1024;
#endif

// Stacks are mapped once and reused by every block on every OS thread; the lowest page of each
// is a guard.
class StackPool {
public:
    void* get() {
        {
            std::lock_guard<std::mutex> lock(m_);
            if (!free_.empty()) {
                void* p = free_.back();
                free_.pop_back();
                return p;
            }
        }
        void* p = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        mprotect(p, size_t(sysconf(_SC_PAGESIZE)), PROT_NONE);
        return p;
    }
    void put(void* p) {
        std::lock_guard<std::mutex> lock(m_);
        free_.push_back(p);
    }

private:
    std::mutex m_;
    std::vector<void*> free_;
};

StackPool& stack_pool() {
    static StackPool* pool = new StackPool();  // outlives every thread's fibers
    return *pool;
}

struct PooledStack {
    const void** bottom;
    bctx::stack_context allocate() {
        void* base = stack_pool().get();
        *bottom = base;
        bctx::stack_context sc;
        sc.size = kStackBytes;
        sc.sp = static_cast<char*>(base) + kStackBytes;
        return sc;
    }
    void deallocate(bctx::stack_context& sc) noexcept {
        stack_pool().put(static_cast<char*>(sc.sp) - sc.size);
    }
};

// ---- schedules -------------------------------------------------------------------------------

enum class Order { kFifo, kLifo, kRandom };
struct Schedule {
    Order order = Order::kFifo;
    uint64_t seed = 0;
};

const Schedule& schedule() {
    static const Schedule s = [] {
        Schedule r;
        const char* env = std::getenv("CUDARTS_SIMT_SCHEDULE");
        const std::string v = env ? env : "fifo";
        if (v == "fifo") return r;
        if (v == "lifo") {
            r.order = Order::kLifo;
            return r;
        }
        if (v.rfind("random:", 0) == 0 && v.size() > 7) {
            r.order = Order::kRandom;
            r.seed = std::strtoull(v.c_str() + 7, nullptr, 10);
            return r;
        }
        std::fprintf(stderr, "CUDARTS_SIMT_SCHEDULE=%s: expected fifo, lifo or random:SEED\n",
                     v.c_str());
        std::exit(2);
    }();
    return s;
}

uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E5Bull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// ---- errors ----------------------------------------------------------------------------------

thread_local cudaError_t t_last_error = cudaSuccess;
thread_local cudaError_t t_detail_code = cudaSuccess;
thread_local std::string t_detail;
thread_local std::string t_error_text;

cudaError_t set_error(cudaError_t code, std::string detail = {}) {
    t_last_error = code;
    t_detail_code = code;
    t_detail = std::move(detail);
    return code;
}

std::string where(const Loc& l) {
    return std::string(l.file_name()) + ":" + std::to_string(l.line());
}

const char* op_name(Op op) {
    switch (op) {
        case Op::kSyncThreads:
            return "__syncthreads";
        case Op::kSyncThreadsOr:
            return "__syncthreads_or";
        case Op::kSyncThreadsAnd:
            return "__syncthreads_and";
        case Op::kSyncThreadsCount:
            return "__syncthreads_count";
        case Op::kClusterSync:
            return "cluster.sync";
        case Op::kSyncWarp:
            return "__syncwarp";
        case Op::kShfl:
            return "__shfl_sync";
        case Op::kShflUp:
            return "__shfl_up_sync";
        case Op::kShflDown:
            return "__shfl_down_sync";
        case Op::kShflXor:
            return "__shfl_xor_sync";
        case Op::kBallot:
            return "__ballot_sync";
        case Op::kAny:
            return "__any_sync";
        case Op::kAll:
            return "__all_sync";
        case Op::kReduceAdd:
            return "__reduce_add_sync";
    }
    return "?";
}

std::string dims(const dim3& d) {
    std::ostringstream os;
    os << "(" << d.x << "," << d.y << "," << d.z << ")";
    return os.str();
}
std::string dims(const uint3& d) { return dims(dim3(d.x, d.y, d.z)); }

std::string hex(unsigned v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

// Thrown inside a fiber to unwind it when its grid aborts.
struct Abort {};

// ---- threads, blocks, grids ------------------------------------------------------------------

enum class State : uint8_t { kReady, kBarrier, kWarp, kDone };

struct Runner;

struct Thread : ThreadCtx {
    State state = State::kReady;
    bool started = false;
    bool abort = false;
    Op op = Op::kSyncThreads;
    unsigned mask = 0;
    int arg = 0, width = 32;
    uint64_t value = 0, result = 0;
    Loc loc;
    Runner* runner = nullptr;  // the fiber running this thread, once started
};

// A fiber that runs threads of a block one after another: a thread that exits without waiting
// costs no context switch, its runner goes straight on to the next thread the schedule picks.
// A thread that waits keeps its runner until it exits; a runner with no thread is spare.
struct Runner {
    bctx::fiber ctx;
    const void* stack_bottom = nullptr;
    void* fake_stack = nullptr;
};

struct Cluster;

struct Grid {
    LaunchSpec spec;
    void (*body)(void*);
    void* ctx;
    uint64_t seed;
    std::mutex m;
    std::atomic<bool> failed{false};
    std::string report;
};

constexpr size_t kSmemGuard = 64;  // bytes on each side of dynamic shared memory
constexpr unsigned char kGuardByte = 0xA5;

struct Block : BlockCtx {
    Grid* launch = nullptr;
    Cluster* cluster = nullptr;
    unsigned rank = 0;
    const void* tls_anchor = nullptr;
    std::vector<Thread> threads;
    std::deque<int> ready;
    std::mt19937_64 rng;
    int live = 0;
    // The block barrier being gathered (bar_count > 0).
    int bar_count = 0;
    Op bar_op = Op::kSyncThreads;
    Loc bar_loc;
    int bar_or = 0, bar_and = 1, bar_true = 0;
    // Per warp: lanes that exist, lanes that exited, lanes waiting in a collective.
    std::vector<unsigned> warp_exists, warp_exited, warp_pending;
    std::vector<unsigned char> smem_buf;
    // Runners of this block's OS thread, kept from block to block.
    std::vector<std::unique_ptr<Runner>> runners;
    std::vector<Runner*> spare;
    Thread* assign = nullptr;  // the thread a spare runner is resumed for (null: runner ends)
    int next_pick = -1;        // a waiting thread a runner picked but cannot run itself
};

thread_local char t_anchor;        // this OS thread's thread-local storage, for map_shared_rank
thread_local bctx::fiber t_sched;  // the scheduler's continuation while a fiber runs
thread_local const void* t_sched_bottom = nullptr;
thread_local size_t t_sched_size = 0;
thread_local void* t_sched_fake = nullptr;

Block& cur_block() { return *static_cast<Block*>(t_block); }
Thread& cur_thread() { return *static_cast<Thread*>(t_thread); }

// Records the first report of a grid; the grid then aborts.
void report(Block& b, const Thread* t, const std::string& what) {
    std::lock_guard<std::mutex> lock(b.launch->m);
    if (b.launch->failed) return;
    const LaunchSpec& s = b.launch->spec;
    std::ostringstream os;
    os << "simt: " << s.name << "<<<" << dims(s.grid) << ", " << dims(s.block) << ", " << s.smem
       << ">>> launched at " << s.site.file << ":" << s.site.line << ": block " << dims(b.idx);
    if (t) os << " thread " << dims(t->idx);
    os << ": " << what;
    b.launch->report = os.str();
    b.launch->failed = true;
}

bool failed(const Block& b) { return b.launch->failed; }

// ---- switching -------------------------------------------------------------------------------

void asan_start(void** fake, const void* bottom, size_t size) {
#if SIMT_ASAN
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
}
void asan_finish(void* fake, const void** old_bottom, size_t* old_size) {
#if SIMT_ASAN
    __sanitizer_finish_switch_fiber(fake, old_bottom, old_size);
#else
    (void)fake, (void)old_bottom, (void)old_size;
#endif
}

// From the scheduler into runner r, until it yields (its thread waits, or it is spare) or ends.
void resume(Runner& r) {
    asan_start(&t_sched_fake, r.stack_bottom, kStackBytes);
    r.ctx = std::move(r.ctx).resume();
    asan_finish(t_sched_fake, nullptr, nullptr);
}

// From runner r back to the scheduler; returns when r is resumed.
void yield_runner(Runner& r) {
    asan_start(&r.fake_stack, t_sched_bottom, t_sched_size);
    t_sched = std::move(t_sched).resume();
    asan_finish(r.fake_stack, &t_sched_bottom, &t_sched_size);
}

// Thread t waits: back to the scheduler until released (or aborted).
void yield(Thread& t) {
    yield_runner(*t.runner);
    t_thread = &t;
    if (t.abort) throw Abort{};
}

void make_ready(Block& b, Thread& t) {
    t.state = State::kReady;
    b.ready.push_back(t.tid);
}

int pick(Block& b) {
    int i = 0;
    switch (schedule().order) {
        case Order::kFifo:
            i = b.ready.front();
            b.ready.pop_front();
            break;
        case Order::kLifo:
            i = b.ready.back();
            b.ready.pop_back();
            break;
        case Order::kRandom: {
            const size_t k = size_t(b.rng() % b.ready.size());
            i = b.ready[k];
            b.ready[k] = b.ready.back();
            b.ready.pop_back();
            break;
        }
    }
    return i;
}

void release_barrier(Block& b) {
    for (Thread& t : b.threads) {
        if (t.state != State::kBarrier) continue;
        switch (b.bar_op) {
            case Op::kSyncThreadsOr:
                t.result = uint64_t(b.bar_or);
                break;
            case Op::kSyncThreadsAnd:
                t.result = uint64_t(b.bar_and);
                break;
            case Op::kSyncThreadsCount:
                t.result = uint64_t(b.bar_true);
                break;
            default:
                t.result = 0;
        }
        make_ready(b, t);
    }
    b.bar_count = 0;
}

bool is_cluster_barrier(const Block& b) {
    return b.cluster != nullptr && b.bar_op == Op::kClusterSync;
}

void on_exit(Block& b, Thread& t) {
    t.state = State::kDone;
    t.runner = nullptr;
    --b.live;
    const int w = t.tid / 32;
    const unsigned bit = 1u << (t.tid % 32);
    b.warp_exited[w] |= bit;
    for (unsigned pending = b.warp_pending[w]; pending; pending &= pending - 1) {
        const Thread& o = b.threads[size_t(w * 32 + __builtin_ctz(pending))];
        if (o.mask & bit) {
            report(b, &t,
                   "exited while lane " + std::to_string(o.tid % 32) + " waits in " +
                       op_name(o.op) + " with mask " + hex(o.mask) + " at " + where(o.loc));
            return;
        }
    }
    if (b.bar_count > 0 && b.bar_count == b.live && !is_cluster_barrier(b)) release_barrier(b);
}

// A runner's life: run the assigned thread, then as long as the schedule picks threads that
// have not started, run them too; then wait as a spare until assigned again.
void runner_main(Block& b, Runner& r) {
    for (Thread* t = b.assign; t != nullptr; t = b.assign) {
        b.assign = nullptr;
        for (;;) {
            t->runner = &r;
            t_thread = t;
            if (!t->abort) {
                try {
                    b.launch->body(b.launch->ctx);
                } catch (const Abort&) {
                }
            }
            on_exit(b, *t);
            if (failed(b) || b.ready.empty()) break;
            const int i = pick(b);
            Thread& n = b.threads[size_t(i)];
            if (n.started) {
                b.next_pick = i;
                break;
            }
            n.started = true;
            t = &n;
        }
        t_thread = nullptr;
        b.spare.push_back(&r);
        yield_runner(r);
    }
}

Runner& spare_runner(Block& b) {
    if (!b.spare.empty()) {
        Runner* r = b.spare.back();
        b.spare.pop_back();
        return *r;
    }
    b.runners.push_back(std::make_unique<Runner>());
    Runner* r = b.runners.back().get();
    Block* bp = &b;
    r->ctx = bctx::fiber(std::allocator_arg, PooledStack{&r->stack_bottom},
                         [r, bp](bctx::fiber&& sched) {
                             t_sched = std::move(sched);
                             asan_finish(nullptr, &t_sched_bottom, &t_sched_size);
                             runner_main(*bp, *r);
                             asan_start(nullptr, t_sched_bottom, t_sched_size);
                             return std::move(t_sched);
                         });
    return *r;
}

// Ends every runner of the block (they are all spare once no thread runs).
void end_runners(Block& b) {
    for (Runner* r : b.spare) {
        b.assign = nullptr;
        resume(*r);
    }
    b.spare.clear();
    b.runners.clear();
}

// ---- one block -------------------------------------------------------------------------------

void setup_block(Block& b, Grid& g, uint3 idx, unsigned rank, Cluster* cluster) {
    const LaunchSpec& s = g.spec;
    b.launch = &g;
    b.cluster = cluster;
    b.rank = rank;
    b.idx = idx;
    b.block_dim = s.block;
    b.grid_dim = s.grid;
    b.tls_anchor = &t_anchor;
    const int n = int(s.block.x * s.block.y * s.block.z);
    b.rng.seed(mix(g.seed, (uint64_t(idx.z) * s.grid.y + idx.y) * s.grid.x + idx.x));
    b.live = n;
    b.bar_count = 0;
    b.next_pick = -1;
    const int warps = (n + 31) / 32;
    b.warp_exists.assign(size_t(warps), 0u);
    for (int w = 0; w < warps; ++w) {
        const int lanes = std::min(32, n - 32 * w);
        b.warp_exists[size_t(w)] = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1u;
    }
    b.warp_exited.assign(size_t(warps), 0u);
    b.warp_pending.assign(size_t(warps), 0u);
    // Dynamic shared memory: exactly the launch's bytes, NaN, between two guard zones.
    b.smem_buf.assign(s.smem + 2 * kSmemGuard, kGuardByte);
    b.smem = b.smem_buf.data() + kSmemGuard;
    b.smem_bytes = s.smem;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (size_t i = 0; i + 4 <= s.smem; i += 4) std::memcpy(b.smem + i, &nan, 4);
    std::memset(b.smem + s.smem / 4 * 4, 0xFF, s.smem % 4);
    b.threads.assign(size_t(n), Thread{});
    b.ready.clear();
    for (int tid = 0; tid < n; ++tid) {
        Thread& t = b.threads[size_t(tid)];
        t.tid = tid;
        t.idx = uint3{unsigned(tid) % s.block.x, unsigned(tid) / s.block.x % s.block.y,
                      unsigned(tid) / (s.block.x * s.block.y)};
        b.ready.push_back(tid);
    }
}

// Runs ready threads until none is left (all exited, or all waiting).
void run_ready(Block& b) {
    t_block = &b;
    while (!failed(b)) {
        int i = b.next_pick;
        b.next_pick = -1;
        if (i < 0) {
            if (b.ready.empty()) break;
            i = pick(b);
        }
        Thread& t = b.threads[size_t(i)];
        if (t.started) {
            t_thread = &t;
            resume(*t.runner);
        } else {
            t.started = true;
            b.assign = &t;
            resume(spare_runner(b));
        }
    }
    t_thread = nullptr;
    t_block = nullptr;
}

// Unwinds every thread that waits (after a report); threads not started never run.
void abort_block(Block& b) {
    t_block = &b;
    for (Thread& t : b.threads) {
        if (t.state == State::kDone) continue;
        if (!t.started) {
            t.state = State::kDone;
            continue;
        }
        t.abort = true;
        t_thread = &t;
        resume(*t.runner);
    }
    t_thread = nullptr;
    t_block = nullptr;
}

std::string waiting_summary(const Block& b) {
    std::map<std::string, int> sites;
    for (const Thread& t : b.threads) {
        if (t.state == State::kDone) continue;
        std::string s = std::string(op_name(t.op));
        if (t.state == State::kWarp) s += " mask " + hex(t.mask);
        sites[s + " at " + where(t.loc)]++;
    }
    std::string out;
    for (const auto& [s, n] : sites)
        out += (out.empty() ? "" : "; ") + std::to_string(n) + " in " + s;
    return out;
}

void report_deadlock(Block& b) {
    report(b, nullptr,
           "deadlock: " + std::to_string(b.live) + " of " + std::to_string(b.threads.size()) +
               " threads wait forever (" + waiting_summary(b) + ")");
}

void check_smem_guards(Block& b) {
    const unsigned char* lo = b.smem_buf.data();
    const unsigned char* hi = b.smem + b.smem_bytes;
    for (size_t i = 0; i < kSmemGuard; ++i) {
        if (lo[i] != kGuardByte || hi[i] != kGuardByte) {
            const bool after = hi[i] != kGuardByte;
            report(b, nullptr,
                   std::string("dynamic shared memory written out of bounds: byte ") +
                       (after ? std::to_string(b.smem_bytes + i)
                              : "-" + std::to_string(kSmemGuard - i)) +
                       " of a " + std::to_string(b.smem_bytes) + "-byte allocation");
            return;
        }
    }
}

// After a block's threads have all stopped: reports a deadlock or an overrun, unwinds what waits.
void finish_block(Block& b) {
    if (!failed(b) && b.live > 0) report_deadlock(b);
    if (!failed(b)) check_smem_guards(b);
    if (failed(b)) abort_block(b);
}

// ---- clusters --------------------------------------------------------------------------------

// The cluster that runs now. One worker OS thread per rank serves every cluster of the grid in
// turn, keeping its Block (and the Block's fibers) from one cluster to the next, as the one-block
// path does; `index` counts the clusters begun, and the last rank to exit a cluster resets the
// rest for the next one.
struct Cluster {
    std::mutex m;
    std::condition_variable cv;
    std::vector<Block*> blocks;
    std::vector<bool> exited;
    int registered = 0, finished = 0;
    int turn = -1;
    size_t index = 0;
    std::vector<uint64_t> seeds;  // the schedule's seed of each cluster, in launch order
    std::mt19937_64 rng;          // seeded from seeds[index] when cluster `index` begins
};

int next_turn(Cluster& c, int from) {
    const int n = int(c.blocks.size());
    std::vector<int> candidates;
    for (int k = 1; k <= n; ++k) {
        const int r = schedule().order == Order::kLifo ? (from - k + 2 * n) % n : (from + k) % n;
        if (!c.exited[size_t(r)]) candidates.push_back(r);
    }
    if (candidates.empty()) return -1;
    if (schedule().order == Order::kRandom) return candidates[size_t(c.rng() % candidates.size())];
    return candidates.front();
}

// Runs block `rank` of cluster number `index` (c.index once the previous cluster is done) in b.
void run_cluster_block(Grid& g, Cluster& c, Block& b, size_t index, uint3 idx, unsigned rank) {
    std::unique_lock<std::mutex> lock(c.m);
    c.cv.wait(lock, [&] { return c.index == index; });
    setup_block(b, g, idx, rank, &c);
    c.blocks[rank] = &b;
    ++c.registered;
    if (c.registered == int(c.blocks.size())) {
        c.turn = schedule().order == Order::kLifo     ? int(c.blocks.size()) - 1
                 : schedule().order == Order::kRandom ? int(c.rng() % c.blocks.size())
                                                      : 0;
        c.cv.notify_all();
    }
    for (;;) {
        c.cv.wait(lock, [&] { return c.turn == int(rank); });
        run_ready(b);
        bool done = b.live == 0 || failed(b);
        if (!done && !(b.bar_count == b.live && is_cluster_barrier(b))) {
            report_deadlock(b);
            done = true;
        }
        if (!done) {
            // Release cluster.sync once every block still running waits in it.
            bool all = true;
            for (size_t r = 0; r < c.blocks.size(); ++r) {
                if (c.exited[r]) continue;
                const Block& o = *c.blocks[r];
                if (!(o.live > 0 && o.bar_count == o.live && is_cluster_barrier(o))) all = false;
            }
            if (all)
                for (size_t r = 0; r < c.blocks.size(); ++r)
                    if (!c.exited[r]) release_barrier(*c.blocks[r]);
        }
        if (done) {
            finish_block(b);
            c.exited[rank] = true;
            c.turn = next_turn(c, int(rank));
            if (++c.finished == int(c.blocks.size())) {  // the next cluster may begin
                c.blocks.assign(c.blocks.size(), nullptr);
                c.exited.assign(c.blocks.size(), false);
                c.registered = c.finished = 0;
                c.turn = -1;
                if (++c.index < c.seeds.size()) c.rng.seed(c.seeds[c.index]);
            }
            c.cv.notify_all();
            return;
        }
        c.turn = next_turn(c, int(rank));
        c.cv.notify_all();
    }
}

// ---- launch checks ---------------------------------------------------------------------------

constexpr size_t kSmemDefault = 48 * 1024;
constexpr size_t kSmemOptinMax = 227 * 1024;

std::mutex g_attr_m;
std::map<const void*, int>& smem_optin() {
    static std::map<const void*, int> m;
    return m;
}

// The error of a launch the hardware would refuse, and why; cudaSuccess for a valid one.
cudaError_t validate(const LaunchSpec& s, std::string& why) {
    const dim3 b = s.block, g = s.grid, c = s.attrs.cluster;
    const uint64_t threads = uint64_t(b.x) * b.y * b.z;
    std::ostringstream os;
    cudaError_t code = cudaErrorInvalidConfiguration;
    if (b.x == 0 || b.y == 0 || b.z == 0 || b.x > 1024 || b.y > 1024 || b.z > 64 ||
        threads > 1024) {
        os << "block " << dims(b) << " outside the limits (x, y <= 1024, z <= 64, x*y*z <= 1024)";
    } else if (g.x == 0 || g.y == 0 || g.z == 0 || g.x > 2147483647u || g.y > 65535 ||
               g.z > 65535) {
        os << "grid " << dims(g) << " outside the limits (x < 2^31, y, z <= 65535, none 0)";
    } else if (s.attrs.max_threads > 0 && threads > uint64_t(s.attrs.max_threads)) {
        code = cudaErrorLaunchOutOfResources;
        os << "block of " << threads << " threads exceeds __launch_bounds__(" << s.attrs.max_threads
           << ")";
    } else if (uint64_t(c.x) * c.y * c.z > 8) {
        code = cudaErrorClusterOutOfResources;
        os << "cluster " << dims(c) << " larger than the portable 8 blocks";
    } else if (g.x % c.x != 0 || g.y % c.y != 0 || g.z % c.z != 0) {
        os << "grid " << dims(g) << " not divisible by the cluster " << dims(c);
    } else {
        size_t limit = kSmemDefault;
        {
            std::lock_guard<std::mutex> lock(g_attr_m);
            const auto it = smem_optin().find(s.func);
            if (it != smem_optin().end()) limit = std::max(limit, size_t(it->second));
        }
        if (s.smem <= limit) return cudaSuccess;
        code = cudaErrorInvalidValue;
        os << s.smem << " bytes of dynamic shared memory exceed the " << limit
           << " allowed (over 48 KiB needs cudaFuncSetAttribute("
              "cudaFuncAttributeMaxDynamicSharedMemorySize))";
    }
    why = os.str();
    return code;
}

std::atomic<uint64_t> g_launches{0};

}  // namespace

// ---- entry points of simt.h ------------------------------------------------------------------

void run_grid(const LaunchSpec& spec, void (*body)(void*), void* ctx) {
    if (t_block != nullptr) {
        set_error(cudaErrorLaunchFailure, "simt: kernel launch from device code is not emulated");
        return;
    }
    std::string why;
    if (const cudaError_t code = validate(spec, why)) {
        set_error(code, "simt: " + std::string(spec.name) + " launched at " + spec.site.file + ":" +
                            std::to_string(spec.site.line) + ": " + why);
        return;
    }
    Grid g;
    g.spec = spec;
    g.body = body;
    g.ctx = ctx;
    g.seed = mix(schedule().seed, g_launches.fetch_add(1));
    const dim3 gr = spec.grid, cl = spec.attrs.cluster;
    const unsigned csize = cl.x * cl.y * cl.z;
    if (csize == 1) {
        Block b;
        for (unsigned z = 0; z < gr.z && !g.failed; ++z)
            for (unsigned y = 0; y < gr.y && !g.failed; ++y)
                for (unsigned x = 0; x < gr.x && !g.failed; ++x) {
                    setup_block(b, g, uint3{x, y, z}, 0, nullptr);
                    run_ready(b);
                    finish_block(b);
                }
        end_runners(b);
    } else {
        std::vector<uint3> origins;  // each cluster's first block, in launch order
        Cluster c;
        for (unsigned z = 0; z < gr.z; z += cl.z)
            for (unsigned y = 0; y < gr.y; y += cl.y)
                for (unsigned x = 0; x < gr.x; x += cl.x) {
                    origins.push_back(uint3{x, y, z});
                    c.seeds.push_back(mix(g.seed, (uint64_t(z) * gr.y + y) * gr.x + x));
                }
        c.blocks.assign(csize, nullptr);
        c.exited.assign(csize, false);
        c.rng.seed(c.seeds[0]);
        std::vector<std::thread> workers;
        for (unsigned r = 0; r < csize; ++r)
            workers.emplace_back([&g, &c, &origins, cl, r] {
                Block b;
                for (size_t i = 0; i < origins.size(); ++i) {
                    {
                        std::unique_lock<std::mutex> lock(c.m);
                        c.cv.wait(lock, [&] { return c.index == i; });
                        if (g.failed) break;  // every worker sees the same: set in cluster i - 1
                    }
                    const uint3 o = origins[i];
                    const uint3 idx{o.x + r % cl.x, o.y + r / cl.x % cl.y, o.z + r / (cl.x * cl.y)};
                    run_cluster_block(g, c, b, i, idx, r);
                }
                end_runners(b);
            });
        for (std::thread& w : workers) w.join();
    }
    if (g.failed) set_error(cudaErrorLaunchFailure, g.report);
}

int sync_block(Op op, int pred, Loc loc) {
    Block& b = cur_block();
    Thread& t = cur_thread();
    if (op == Op::kClusterSync && b.cluster == nullptr) op = Op::kSyncThreads;
    if (b.bar_count == 0) {
        b.bar_op = op;
        b.bar_loc = loc;
        b.bar_or = 0;
        b.bar_and = 1;
        b.bar_true = 0;
    } else if (b.bar_op != op || b.bar_loc.line() != loc.line() ||
               std::strcmp(b.bar_loc.file_name(), loc.file_name()) != 0) {
        report(b, &t,
               std::string("barrier mismatch: ") + op_name(op) + " at " + where(loc) + " while " +
                   std::to_string(b.bar_count) + " threads wait in " + op_name(b.bar_op) + " at " +
                   where(b.bar_loc));
        throw Abort{};
    }
    t.state = State::kBarrier;
    t.op = op;
    t.loc = loc;
    ++b.bar_count;
    b.bar_or |= pred != 0;
    b.bar_and &= pred != 0;
    b.bar_true += pred != 0;
    if (b.bar_count == b.live && !is_cluster_barrier(b)) release_barrier(b);
    yield(t);
    return int(t.result);
}

uint64_t warp_collective(Op op, unsigned mask, uint64_t value, int arg, int width, Loc loc) {
    Block& b = cur_block();
    Thread& t = cur_thread();
    const int w = t.tid / 32, lane = t.tid % 32;
    const unsigned bit = 1u << lane;
    const auto fail_here = [&](const std::string& what) {
        report(b, &t,
               std::string(op_name(op)) + " with mask " + hex(mask) + " at " + where(loc) + ": " +
                   what);
        throw Abort{};
    };
    if (!(mask & bit)) fail_here("the mask does not name the calling lane " + std::to_string(lane));
    if (width < 1 || width > 32 || (width & (width - 1)) != 0)
        fail_here("width " + std::to_string(width) + " is not a power of two up to 32");
    if (const unsigned missing = mask & ~b.warp_exists[w])
        fail_here("the mask names lane " + std::to_string(__builtin_ctz(missing)) +
                  ", which does not exist in a block of " + std::to_string(b.threads.size()) +
                  " threads");
    if (const unsigned gone = mask & b.warp_exited[w])
        fail_here("the mask names lane " + std::to_string(__builtin_ctz(gone)) +
                  ", which has exited");
    t.state = State::kWarp;
    t.op = op;
    t.mask = mask;
    t.value = value;
    t.arg = arg;
    t.width = width;
    t.loc = loc;
    b.warp_pending[w] |= bit;
    if ((b.warp_pending[w] & mask) == mask) {
        Thread* lanes = &b.threads[size_t(w) * 32];
        for (unsigned m = mask; m; m &= m - 1) {
            const Thread& o = lanes[__builtin_ctz(m)];
            if (o.op != op || o.mask != mask)
                fail_here("lane " + std::to_string(o.tid % 32) + " waits in " + op_name(o.op) +
                          " with mask " + hex(o.mask) + " at " + where(o.loc) +
                          " (mismatched collectives)");
        }
        uint64_t ballot = 0, sum = 0;
        for (unsigned m = mask; m; m &= m - 1) {
            const Thread& o = lanes[__builtin_ctz(m)];
            if (o.value) ballot |= 1ull << __builtin_ctz(m);
            sum += o.value;
        }
        for (unsigned m = mask; m; m &= m - 1) {
            const int l = __builtin_ctz(m);
            Thread& o = lanes[l];
            const int seg = l / o.width * o.width;
            int src = l;
            switch (op) {
                case Op::kShfl:
                    src = seg + (o.arg % o.width + o.width) % o.width;
                    break;
                case Op::kShflUp:
                    src = l - o.arg >= seg ? l - o.arg : l;
                    break;
                case Op::kShflDown:
                    src = l + o.arg < seg + o.width ? l + o.arg : l;
                    break;
                case Op::kShflXor:
                    src = (l ^ o.arg) < seg + o.width ? (l ^ o.arg) : l;
                    break;
                default:
                    break;
            }
            switch (op) {
                case Op::kShfl:
                case Op::kShflUp:
                case Op::kShflDown:
                case Op::kShflXor:
                    // A lane outside the mask has no defined value: poison (NaN as a float).
                    o.result = (src >= 0 && src < 32 && (mask >> src & 1u)) ? lanes[src].value
                                                                            : 0xFFFFFFFFFFFFFFFFull;
                    break;
                case Op::kBallot:
                    o.result = ballot;
                    break;
                case Op::kAny:
                    o.result = ballot != 0;
                    break;
                case Op::kAll:
                    o.result = ballot == mask;
                    break;
                case Op::kReduceAdd:
                    o.result = uint32_t(sum);
                    break;
                default:
                    o.result = 0;
            }
            make_ready(b, o);
        }
        b.warp_pending[w] &= ~mask;
    }
    yield(t);
    return t.result;
}

unsigned cluster_rank() { return cur_block().rank; }

unsigned cluster_size() {
    const Block& b = cur_block();
    return b.cluster ? unsigned(b.cluster->blocks.size()) : 1u;
}

void* map_shared_rank(void* p, unsigned rank, Loc loc) {
    Block& b = cur_block();
    if (rank >= cluster_size())
        fail(("map_shared_rank to rank " + std::to_string(rank) + " of a cluster of " +
              std::to_string(cluster_size()))
                 .c_str(),
             loc);
    if (b.cluster == nullptr) return p;
    Cluster& c = *b.cluster;
    if (c.exited[rank])
        fail(("map_shared_rank to rank " + std::to_string(rank) + ", a block that has exited")
                 .c_str(),
             loc);
    const Block& o = *c.blocks[rank];
    unsigned char* q = static_cast<unsigned char*>(p);
    if (q >= b.smem && q < b.smem + b.smem_bytes) return o.smem + (q - b.smem);
    return q + (static_cast<const char*>(o.tls_anchor) - static_cast<const char*>(b.tls_anchor));
}

void fail(const char* what, Loc loc) {
    Block& b = cur_block();
    report(b, &cur_thread(), std::string(what) + " at " + where(loc));
    throw Abort{};
}

namespace detail {
cudaError_t func_set_attribute(const void* func, cudaFuncAttribute attr, int value) {
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
        size_t(value) > kSmemOptinMax)
        return set_error(cudaErrorInvalidValue, "simt: cudaFuncSetAttribute value " +
                                                    std::to_string(value) + " out of range");
    std::lock_guard<std::mutex> lock(g_attr_m);
    smem_optin()[func] = value;
    return cudaSuccess;
}
}  // namespace detail

}  // namespace simt

// ---- the CUDA runtime API --------------------------------------------------------------------

using simt::set_error;

namespace {

const char* base_error_string(cudaError_t err) {
    switch (err) {
        case cudaSuccess:
            return "no error";
        case cudaErrorInvalidValue:
            return "invalid argument";
        case cudaErrorMemoryAllocation:
            return "out of memory";
        case cudaErrorCudartUnloading:
            return "driver shutting down";
        case cudaErrorLaunchOutOfResources:
            return "too many resources requested for launch";
        case cudaErrorInvalidConfiguration:
            return "invalid configuration argument";
        case cudaErrorInvalidDevice:
            return "invalid device ordinal";
        case cudaErrorIllegalAddress:
            return "an illegal memory access was encountered";
        case cudaErrorLaunchFailure:
            return "unspecified launch failure";
        case cudaErrorClusterOutOfResources:
            return "too many resources requested for cluster";
    }
    return "unknown error";
}

cudaError_t check_device(int device) {
    return device == 0
               ? cudaSuccess
               : set_error(cudaErrorInvalidDevice, "simt: device " + std::to_string(device) +
                                                       " (the emulator has one device, 0)");
}

struct Event {
    std::chrono::steady_clock::time_point at;
};

}  // namespace

struct CUstream_st {};
struct CUevent_st : Event {};

const char* cudaGetErrorString(cudaError_t err) {
    if (err != cudaSuccess && err == simt::t_detail_code && !simt::t_detail.empty()) {
        simt::t_error_text = std::string(base_error_string(err)) + " [" + simt::t_detail + "]";
        return simt::t_error_text.c_str();
    }
    return base_error_string(err);
}
const char* cudaGetErrorName(cudaError_t err) { return base_error_string(err); }

cudaError_t cudaGetLastError() {
    const cudaError_t e = simt::t_last_error;
    simt::t_last_error = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError() { return simt::t_last_error; }

cudaError_t cudaGetDeviceCount(int* count) {
    *count = 1;
    return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
    *device = 0;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return check_device(device); }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
    if (const cudaError_t e = check_device(device)) return e;
    *prop = cudaDeviceProp{};
    std::snprintf(prop->name, sizeof prop->name, "SIMT emulator (CPU)");
    prop->totalGlobalMem = size_t(16) << 30;
    prop->sharedMemPerBlock = 48 * 1024;
    prop->sharedMemPerBlockOptin = 227 * 1024;
    prop->maxThreadsPerBlock = 1024;
    prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
    prop->maxThreadsDim[2] = 64;
    prop->maxGridSize[0] = 2147483647;
    prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
    prop->warpSize = 32;
    prop->major = 9;
    prop->minor = 0;
    prop->multiProcessorCount = 1;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
    if (const cudaError_t e = check_device(device)) return e;
    switch (attr) {
        case cudaDevAttrMaxThreadsPerBlock:
            *value = 1024;
            break;
        case cudaDevAttrMaxSharedMemoryPerBlock:
            *value = 48 * 1024;
            break;
        case cudaDevAttrMemoryClockRate:
            *value = 1000000;
            break;
        case cudaDevAttrGlobalMemoryBusWidth:
            *value = 64;
            break;
        case cudaDevAttrL2CacheSize:
            *value = 1 << 20;
            break;
        case cudaDevAttrMultiProcessorCount:
            *value = 1;
            break;
        default:
            return set_error(cudaErrorInvalidValue, "simt: device attribute not emulated");
    }
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() { return simt::t_last_error; }

// Device memory is host memory, filled with 0xFF bytes (NaN as floats) so that a read of an
// element nobody wrote shows in the result.
cudaError_t cudaMalloc(void** p, size_t bytes) {
    *p = nullptr;
    if (posix_memalign(p, 256, bytes == 0 ? 1 : bytes) != 0) {
        *p = nullptr;
        return set_error(cudaErrorMemoryAllocation);
    }
    std::memset(*p, 0xFF, bytes);
    return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
    std::free(p);
    return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
    if (bytes > 0 && (dst == nullptr || src == nullptr))
        return set_error(cudaErrorInvalidValue, "simt: cudaMemcpy with a null pointer");
    if (bytes > 0) std::memmove(dst, src, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t) {
    return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemcpyPeer(void* dst, int dst_device, const void* src, int src_device,
                           size_t bytes) {
    if (const cudaError_t e = check_device(dst_device)) return e;
    if (const cudaError_t e = check_device(src_device)) return e;
    return cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice);
}
cudaError_t cudaMemset(void* p, int value, size_t bytes) {
    if (bytes > 0 && p == nullptr)
        return set_error(cudaErrorInvalidValue, "simt: cudaMemset with a null pointer");
    if (bytes > 0) std::memset(p, value, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) {
    return cudaMemset(p, value, bytes);
}
cudaError_t cudaMemset2DAsync(void* p, size_t pitch, int value, size_t width, size_t height,
                              cudaStream_t) {
    if (width > pitch) return set_error(cudaErrorInvalidValue, "simt: cudaMemset2D width > pitch");
    for (size_t r = 0; r < height; ++r)
        if (const cudaError_t e = cudaMemset(static_cast<char*>(p) + r * pitch, value, width))
            return e;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* st) {
    *st = new CUstream_st();
    return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* st, unsigned) { return cudaStreamCreate(st); }
cudaError_t cudaStreamDestroy(cudaStream_t st) {
    delete st;
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return simt::t_last_error; }

cudaError_t cudaEventCreate(cudaEvent_t* ev) {
    *ev = new CUevent_st();
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t ev) {
    delete ev;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t ev, cudaStream_t) {
    ev->at = std::chrono::steady_clock::now();
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
    *ms = std::chrono::duration<float, std::milli>(stop->at - start->at).count();
    return cudaSuccess;
}
