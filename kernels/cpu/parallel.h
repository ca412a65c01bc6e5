// Loop-level parallelism for the CPU reference kernels. A kernel marks a loop whose iterations
// write disjoint outputs (one image plane, one channel) with CUDARTS_PARALLEL_FOR(work): OpenMP
// splits it across cores when the build has OpenMP and `work` (elements touched) is large enough
// to pay for the threads. Each output is still computed by one thread in the same order, so the
// results are bitwise the same for any thread count. Without OpenMP the macro is empty.
#pragma once

#define CUDARTS_PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#define CUDARTS_PARALLEL_FOR(work) \
    CUDARTS_PRAGMA(omp parallel for schedule(static) if ((work) >= (int64_t(1) << 15)))
#else
#define CUDARTS_PARALLEL_FOR(work)
#endif
