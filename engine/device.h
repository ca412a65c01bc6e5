// Where a tensor lives, and what this machine has. Detection never throws and never aborts: a
// machine without a driver or GPU (every CI machine) simply reports zero CUDA devices, and a
// CPU-only build (CUDARTS_CUDA=OFF) always does.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace cudarts {

enum class DeviceKind : uint8_t { kCpu, kCuda };

struct Device {
    DeviceKind kind = DeviceKind::kCpu;
    int index = 0;

    static constexpr Device cpu() { return {DeviceKind::kCpu, 0}; }
    static constexpr Device cuda(int i = 0) { return {DeviceKind::kCuda, i}; }
    constexpr bool is_cuda() const { return kind == DeviceKind::kCuda; }
    constexpr bool is_cpu() const { return kind == DeviceKind::kCpu; }
    friend constexpr bool operator==(Device a, Device b) {
        return a.kind == b.kind && (a.kind == DeviceKind::kCpu || a.index == b.index);
    }
    std::string str() const;  // "cpu", "cuda:0"
};
std::ostream& operator<<(std::ostream& os, Device d);

// Number of usable CUDA devices; 0 when built without CUDA or when cudaGetDeviceCount fails for
// any reason (no driver, no device, insufficient driver). Probed once, cached.
int cuda_device_count() noexcept;
inline bool cuda_available() noexcept { return cuda_device_count() > 0; }
// Why there is no CUDA device ("built without CUDA", the runtime's message), or "" if there is.
std::string cuda_unavailable_reason();

// "cpu", "cuda", "cuda:N" or "auto" (cuda:0 when available, else cpu). Throws InputError naming
// `what` (e.g. "--device") and the accepted spellings; "cuda" without a device throws too.
Device parse_device(const std::string& spec, const std::string& what = "--device");

// One line for logs: "cpu (2 threads)" or "cuda:0 NVIDIA H100 80GB HBM3, sm_90, 79 GiB".
std::string describe(Device d);

}  // namespace cudarts
