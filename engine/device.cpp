// Device names, parsing of --device, and the one-time probe of the CUDA runtime. The probe runs
// cudaGetDeviceCount once (std::call_once) and treats every error as "no device": CI machines have
// the toolkit but no driver or GPU, and there the program must run on the CPU, not abort. The
// runtime's message is kept so that `--device cuda` can say why it cannot be honoured.
#include "engine/device.h"

#include <charconv>
#include <mutex>
#include <sstream>
#include <thread>

#include "kernels/check.h"

#if CUDARTS_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace cudarts {

namespace {

struct CudaProbe {
    int count = 0;
    std::string reason;  // empty when count > 0
};

const CudaProbe& probe() noexcept {
    static std::once_flag once;
    static CudaProbe result;
    std::call_once(once, [] {
#if CUDARTS_HAS_CUDA
        int n = 0;
        const cudaError_t err = cudaGetDeviceCount(&n);
        if (err != cudaSuccess) {
            (void)cudaGetLastError();  // a failed probe must not surface in a later check
            result.reason = cudaGetErrorString(err);
            n = 0;
        } else if (n == 0) {
            result.reason = "the CUDA runtime reports no device";
        }
        result.count = n;
#else
        result.reason = "built without CUDA";
#endif
    });
    return result;
}

}  // namespace

std::string Device::str() const {
    return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

std::ostream& operator<<(std::ostream& os, Device d) { return os << d.str(); }

int cuda_device_count() noexcept { return probe().count; }

std::string cuda_unavailable_reason() { return probe().reason; }

Device parse_device(const std::string& spec, const std::string& what) {
    if (spec == "cpu") return Device::cpu();
    if (spec == "auto") return cuda_available() ? Device::cuda(0) : Device::cpu();
    if (spec == "cuda") {
        if (!cuda_available())
            throw InputError(what + " cuda: no CUDA device (" + cuda_unavailable_reason() + ")");
        return Device::cuda(0);
    }
    if (spec.starts_with("cuda:")) {
        const char* first = spec.data() + 5;
        const char* last = spec.data() + spec.size();
        int index = -1;
        const auto [end, ec] = std::from_chars(first, last, index);
        if (ec == std::errc() && end == last && first != last && index >= 0) {
            const int count = cuda_device_count();
            if (count == 0)
                throw InputError(what + " " + spec + ": no CUDA device (" +
                                 cuda_unavailable_reason() + ")");
            if (index >= count)
                throw InputError(what + " " + spec + ": no such CUDA device (" +
                                 std::to_string(count) +
                                 " available: cuda:0 to cuda:" + std::to_string(count - 1) + ")");
            return Device::cuda(index);
        }
    }
    throw InputError(what + ": expected cpu, cuda, cuda:N or auto, got '" + spec + "'");
}

std::string describe(Device d) {
    std::ostringstream os;
    if (d.is_cpu()) {
        // hardware_concurrency may return 0 when the count is unknown; say so rather than "0".
        const unsigned threads = std::thread::hardware_concurrency();
        os << "cpu (";
        if (threads > 0)
            os << threads << (threads == 1 ? " thread)" : " threads)");
        else
            os << "unknown thread count)";
        return os.str();
    }
    os << d.str();
    if (d.index >= cuda_device_count()) {
        const std::string reason = cuda_unavailable_reason();
        os << " (unavailable: " << (reason.empty() ? "no such device" : reason) << ")";
        return os.str();
    }
#if CUDARTS_HAS_CUDA
    cudaDeviceProp prop{};
    const cudaError_t err = cudaGetDeviceProperties(&prop, d.index);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        os << " (properties unavailable: " << cudaGetErrorString(err) << ")";
        return os.str();
    }
    os << " " << prop.name << ", sm_" << prop.major << prop.minor << ", "
       << (prop.totalGlobalMem >> 30) << " GiB";
#endif
    return os.str();
}

}  // namespace cudarts
