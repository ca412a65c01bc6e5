// The "pw" version of the 1x1 convolution (stride 1, no padding, one group) forward and input
// gradient, shared by conv_fwd.cu and conv_bwd_data.cu: our own kernel instead of a cuBLAS call
// per item, so that a group of them is one launch per chunk (kernels/cuda/conv_pointwise.cu).
// Include only from .cu files.
#pragma once

#include <span>

#include "kernels/common.h"
#include "kernels/conv.h"

namespace cudarts::cuda {

// Whether the pw kernels take s: pointwise, with a slice of kPwRows rows of the weight matrix
// within the shared-memory budget (every DARTS width; the widest fall back to cuBLAS).
bool supports_pointwise(const Conv2dShape& s);

// out[n, r, p] = sum_l M[r, l] in[n, l, p] for each item {out, in, w, mode} (the fields of
// ConvDataGradItem read as out = dx, in = dy): forward (transpose false) M = W, out y, in x, every
// mode kOverwrite and every y distinct; input gradient (transpose true) M = W^T, out dx, in dy,
// items of one dx summed in order under their modes (ConvDataGradItem's contract).
void pointwise_group(std::span<const ConvDataGradItem> items, const Conv2dShape& s, bool transpose,
                     Stream st);

}  // namespace cudarts::cuda
