// The cuDNN baseline of the convolution rows: the same convolution as cuDNN's grouped convolution
// (groups = C for depthwise), in full FP32 (CUDNN_FMA_MATH: no TF32 tensor cores, matching our
// kernels' arithmetic), with the algorithm cudnnFind* measured fastest and its workspace allocated
// once, so the timed call is the library call alone. Compiled to a stub that says "not built with
// cuDNN" unless CMake found cuDNN (CUDARTS_HAS_CUDNN).
#include "bench/kernel_bench.h"

#if defined(CUDARTS_HAS_CUDA) && defined(CUDARTS_HAS_CUDNN)

#include <cudnn.h>

#include <memory>
#include <sstream>

#include "engine/device_buffer.h"
#include "kernels/check.h"

namespace cudarts::bench {

namespace {

void check_cudnn(cudnnStatus_t st, const char* call, const char* file, int line) {
    if (st == CUDNN_STATUS_SUCCESS) return;
    std::ostringstream os;
    os << call << " failed: " << cudnnGetErrorString(st) << " (" << file << ":" << line << ")";
    throw Error(os.str());
}
#define BENCH_CUDNN_CHECK(call) check_cudnn((call), #call, __FILE__, __LINE__)

cudnnHandle_t shared_handle() {
    static cudnnHandle_t h = [] {
        cudnnHandle_t made = nullptr;
        BENCH_CUDNN_CHECK(cudnnCreate(&made));
        return made;
    }();
    return h;
}

// Descriptors and workspace of one convolution; freed when the last copy of the callable goes.
struct CudnnConv {
    cudnnTensorDescriptor_t x = nullptr, y = nullptr;
    cudnnFilterDescriptor_t w = nullptr;
    cudnnConvolutionDescriptor_t conv = nullptr;
    DeviceBuffer ws;  // the algorithm's workspace, possibly empty
    int algo = 0;

    CudnnConv() = default;
    CudnnConv(const CudnnConv&) = delete;
    CudnnConv& operator=(const CudnnConv&) = delete;
    ~CudnnConv() {
        if (conv) cudnnDestroyConvolutionDescriptor(conv);
        if (w) cudnnDestroyFilterDescriptor(w);
        if (y) cudnnDestroyTensorDescriptor(y);
        if (x) cudnnDestroyTensorDescriptor(x);
    }
};

std::shared_ptr<CudnnConv> describe_conv(const Conv2dShape& s) {
    auto c = std::make_shared<CudnnConv>();
    BENCH_CUDNN_CHECK(cudnnCreateTensorDescriptor(&c->x));
    BENCH_CUDNN_CHECK(cudnnCreateTensorDescriptor(&c->y));
    BENCH_CUDNN_CHECK(cudnnCreateFilterDescriptor(&c->w));
    BENCH_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&c->conv));
    BENCH_CUDNN_CHECK(cudnnSetTensor4dDescriptor(c->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.n,
                                                 s.c_in, s.h, s.w));
    BENCH_CUDNN_CHECK(cudnnSetTensor4dDescriptor(c->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.n,
                                                 s.c_out, s.ho(), s.wo()));
    BENCH_CUDNN_CHECK(cudnnSetFilter4dDescriptor(c->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, s.c_out,
                                                 s.cin_per_group(), s.k, s.k));
    BENCH_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(c->conv, s.pad, s.pad, s.stride, s.stride,
                                                      s.dil, s.dil, CUDNN_CROSS_CORRELATION,
                                                      CUDNN_DATA_FLOAT));
    BENCH_CUDNN_CHECK(cudnnSetConvolutionGroupCount(c->conv, s.groups));
    BENCH_CUDNN_CHECK(cudnnSetConvolutionMathType(c->conv, CUDNN_FMA_MATH));
    return c;
}

// The first successful result of a cudnnFind* call (they come sorted by time).
template <class Perf>
bool pick(const Perf* perf, int returned, CudnnConv& c, std::string* why_not) {
    for (int i = 0; i < returned; ++i) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
        c.algo = int(perf[i].algo);
        if (perf[i].memory) c.ws = DeviceBuffer(Device::cuda(0), perf[i].memory);
        return true;
    }
    if (why_not) *why_not = "n/a (cuDNN found no algorithm)";
    return false;
}

}  // namespace

std::function<void()> make_cudnn_conv(ConvDir dir, const Conv2dShape& s, float* out,
                                      const float* in_a, const float* in_b, Stream st,
                                      std::string* why_not) {
    cudnnHandle_t h = shared_handle();
    BENCH_CUDNN_CHECK(cudnnSetStream(h, st));
    std::shared_ptr<CudnnConv> c = describe_conv(s);
    constexpr int kMaxAlgos = 16;
    int returned = 0;
    if (dir == ConvDir::kFwd) {
        cudnnConvolutionFwdAlgoPerf_t perf[kMaxAlgos];
        BENCH_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(h, c->x, c->w, c->conv, c->y,
                                                               kMaxAlgos, &returned, perf));
        if (!pick(perf, returned, *c, why_not)) return {};
        return [c, h, st, out, in_a, in_b] {
            const float one = 1.0f, zero = 0.0f;
            BENCH_CUDNN_CHECK(cudnnSetStream(h, st));
            BENCH_CUDNN_CHECK(cudnnConvolutionForward(
                h, &one, c->x, in_a, c->w, in_b, c->conv, cudnnConvolutionFwdAlgo_t(c->algo),
                c->ws.data(), c->ws.bytes(), &zero, c->y, out));
        };
    }
    if (dir == ConvDir::kBwdData) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[kMaxAlgos];
        BENCH_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(h, c->w, c->y, c->conv, c->x,
                                                                    kMaxAlgos, &returned, perf));
        if (!pick(perf, returned, *c, why_not)) return {};
        return [c, h, st, out, in_a, in_b] {  // dx, dy, w
            const float one = 1.0f, zero = 0.0f;
            BENCH_CUDNN_CHECK(cudnnSetStream(h, st));
            BENCH_CUDNN_CHECK(cudnnConvolutionBackwardData(
                h, &one, c->w, in_b, c->y, in_a, c->conv, cudnnConvolutionBwdDataAlgo_t(c->algo),
                c->ws.data(), c->ws.bytes(), &zero, c->x, out));
        };
    }
    cudnnConvolutionBwdFilterAlgoPerf_t perf[kMaxAlgos];
    BENCH_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(h, c->x, c->y, c->conv, c->w,
                                                                  kMaxAlgos, &returned, perf));
    if (!pick(perf, returned, *c, why_not)) return {};
    return [c, h, st, out, in_a, in_b] {  // dw, dy, x
        const float one = 1.0f, zero = 0.0f;
        BENCH_CUDNN_CHECK(cudnnSetStream(h, st));
        BENCH_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
            h, &one, c->x, in_b, c->y, in_a, c->conv, cudnnConvolutionBwdFilterAlgo_t(c->algo),
            c->ws.data(), c->ws.bytes(), &zero, c->w, out));
    };
}

}  // namespace cudarts::bench

#else  // no cuDNN in this build

namespace cudarts::bench {

std::function<void()> make_cudnn_conv(ConvDir, const Conv2dShape&, float*, const float*,
                                      const float*, Stream, std::string* why_not) {
    if (why_not) *why_not = "n/a (not built with cuDNN)";
    return {};
}

}  // namespace cudarts::bench

#endif
