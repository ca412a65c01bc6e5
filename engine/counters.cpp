// Snapshots and reset of the runtime counters; see engine/counters.h for what each one counts.
#include "engine/counters.h"

#include <algorithm>

namespace cudarts {

namespace {

int64_t read(const std::atomic<int64_t>& cell) { return cell.load(std::memory_order_relaxed); }

}  // namespace

RuntimeCounters runtime_counters() {
    const detail::CounterCells& c = detail::g_counters;
    return {.launches = read(c.launches),
            .blas_calls = read(c.blas_calls),
            .device_allocs = read(c.device_allocs),
            .host_syncs = read(c.host_syncs),
            .h2d_copies = read(c.h2d_copies),
            .bytes_in_use = read(c.bytes_in_use),
            .peak_bytes = read(c.peak_bytes)};
}

void reset_runtime_counters() {
    detail::CounterCells& c = detail::g_counters;
    for (std::atomic<int64_t>* cell :
         {&c.launches, &c.blas_calls, &c.device_allocs, &c.host_syncs, &c.h2d_copies})
        cell->store(0, std::memory_order_relaxed);
    for (detail::FamilyCell& f : detail::g_families) f.launches.store(0, std::memory_order_relaxed);
    c.peak_bytes.store(read(c.bytes_in_use), std::memory_order_relaxed);
}

RuntimeCounters counters_since(const RuntimeCounters& before, const RuntimeCounters& after) {
    return {.launches = after.launches - before.launches,
            .blas_calls = after.blas_calls - before.blas_calls,
            .device_allocs = after.device_allocs - before.device_allocs,
            .host_syncs = after.host_syncs - before.host_syncs,
            .h2d_copies = after.h2d_copies - before.h2d_copies,
            .bytes_in_use = after.bytes_in_use,
            .peak_bytes = after.peak_bytes};
}

std::vector<FamilyLaunches> launches_by_family() {
    std::vector<FamilyLaunches> out;
    for (const detail::FamilyCell& cell : detail::g_families) {
        const char* file = cell.file.load(std::memory_order_acquire);
        const int64_t n = read(cell.launches);
        if (file == nullptr || n == 0) continue;
        std::string name = file;
        if (const size_t slash = name.find_last_of("/\\"); slash != std::string::npos)
            name.erase(0, slash + 1);
        if (const size_t dot = name.find('.'); dot != std::string::npos) name.erase(dot);
        const auto same = std::find_if(out.begin(), out.end(),
                                       [&](const FamilyLaunches& x) { return x.family == name; });
        if (same != out.end()) {
            same->launches += n;  // the same basename from another path
        } else {
            out.push_back({std::move(name), n});
        }
    }
    std::sort(out.begin(), out.end(), [](const FamilyLaunches& a, const FamilyLaunches& b) {
        return a.launches != b.launches ? a.launches > b.launches : a.family < b.family;
    });
    return out;
}

}  // namespace cudarts
