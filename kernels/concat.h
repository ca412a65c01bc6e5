// Channel concatenation and slicing, NCHW fp32.
// A tensor x of shape (n, c_part, hw) occupies channels [c_begin, c_begin + c_part) of a tensor
// y of shape (n, c_total, hw). insert writes x into that range of y (concat's forward, slice's
// backward); extract reads it out (slice's forward, concat's backward). Both honour GradMode so
// backward passes can accumulate. Concatenating k tensors is k inserts at rising offsets.
// Matches torch.cat(dim=1) and x[:, c0:c1].
#pragma once

#include <ostream>

#include "kernels/common.h"

namespace cudarts {

struct ChannelRangeShape {
    int n, c_total, hw;   // the whole tensor (n, c_total, hw)
    int c_begin, c_part;  // the channel range [c_begin, c_begin + c_part)
    int64_t part_elems() const { return int64_t(n) * c_part * hw; }
    void validate() const;
};
std::ostream& operator<<(std::ostream& os, const ChannelRangeShape& s);

namespace cpu {
void channel_insert(float* y, const float* x, const ChannelRangeShape& s, GradMode mode);
void channel_extract(float* x, const float* y, const ChannelRangeShape& s, GradMode mode);
}  // namespace cpu

// The same on a CUDA device (kernels/cuda/concat.cu), bit-identical to cpu:: (copies only):
// the cpu:: arguments plus the stream. Declared in every build, defined only with CUDA.
namespace cuda {
void channel_insert(float* y, const float* x, const ChannelRangeShape& s, GradMode mode, Stream st);
void channel_extract(float* x, const float* y, const ChannelRangeShape& s, GradMode mode,
                     Stream st);
}  // namespace cuda

}  // namespace cudarts
