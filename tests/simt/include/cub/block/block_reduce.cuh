// Stand-in for CUB's BlockReduce under the SIMT emulator (CUB itself needs nvcc). The same
// contract: every thread of a block of exactly kThreads threads calls Sum or Reduce, the result
// is valid in thread 0 only (the others get a poison value, so a kernel that reads it elsewhere
// shows), and the temporary storage may be reused only after a barrier. Each thread stores its
// value, one barrier, then thread 0 combines the values warp by warp in a fixed order.
#pragma once

namespace cub {

template <class T, int kThreads>
class BlockReduce {
public:
    struct TempStorage {
        T slot[kThreads];
    };

    explicit BlockReduce(TempStorage& storage) : s_(storage) {}

    T Sum(T v, simt::Loc loc = simt::Loc::current()) {
        return Reduce(
            v, [](T a, T b) { return a + b; }, loc);
    }

    template <class Op>
    T Reduce(T v, Op op, simt::Loc loc = simt::Loc::current()) {
        if (int(blockDim.x * blockDim.y * blockDim.z) != kThreads)
            simt::fail("cub::BlockReduce used in a block whose size is not its thread count", loc);
        const int tid = simt::t_thread->tid;
        s_.slot[tid] = v;
        __syncthreads(loc);
        if (tid != 0) return simt::poison<T>();
        T total = s_.slot[0];
        for (int w = 0; w < kThreads; w += 32) {
            T acc = s_.slot[w];
            for (int lane = 1; lane < 32 && w + lane < kThreads; ++lane)
                acc = op(acc, s_.slot[w + lane]);
            total = w == 0 ? acc : op(total, acc);
        }
        return total;
    }

private:
    TempStorage& s_;
};

}  // namespace cub
