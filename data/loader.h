// BatchLoader: prepares the next batches on one worker thread while the current one trains, so
// augmentation (tens of microseconds per CIFAR image) never stalls the GPU step. The consumer
// hands it a list of requests (indices + augmentation key) with start() and takes batches with
// next(), in request order; the worker stays at most `depth` finished batches ahead.
// Every batch is make_batch(set, request.idx, aug, seed, request.key): a pure function of its
// request, so the result is bitwise the same whether it was prepared early, late or on another
// thread, and a resumed run that re-issues the remaining requests gets the same data.
// Threads: one consumer (the training loop) calls start(), next() and remaining(); the worker
// only reads the dataset, which is therefore held by reference: it must outlive the loader and
// must not change while the loader exists. Host buffers are plain vectors on the worker; the
// consumer turns them into Tensors (the only allocator calls) and copies them to the device.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "engine/tensor.h"

namespace cudarts {

struct Batch {
    Tensor images;  // (n, c, h, w) f32, on the loader's device
    Tensor labels;  // (n) i32, on the loader's device
};

struct BatchRequest {
    std::vector<int64_t> idx;  // dataset indices, one per sample
    uint64_t key = 0;          // augmentation key; distinct per batch of a run
};

// Consecutive batches of `order` (the last one may be smaller, or is dropped with drop_last), with
// keys key_base + step. A key_base of (epoch << 32) gives every (epoch, step) of a run its own key.
std::vector<BatchRequest> split_batches(std::span<const int64_t> order, int64_t batch_size,
                                        uint64_t key_base, bool drop_last = false);

class BatchLoader {
public:
    // `set` is kept by reference (see the note above). depth >= 1.
    BatchLoader(const ImageDataset& set, Augment aug, uint64_t seed, Device dev, int depth = 2);
    ~BatchLoader();  // stops the worker after its current batch and joins it; never hangs
    BatchLoader(const BatchLoader&) = delete;
    BatchLoader& operator=(const BatchLoader&) = delete;

    // Replaces every pending request and every batch not yet taken. A batch the worker is
    // preparing from the old list is finished and discarded.
    void start(std::vector<BatchRequest> requests);
    // The next batch in request order, on the loader's device; blocks until it is ready. Throws
    // Error when no request is left, and rethrows an exception the worker hit on this batch
    // (e.g. an index outside the dataset); later batches are unaffected.
    Batch next();
    // Batches next() will still return.
    size_t remaining() const;

private:
    struct Prepared {
        int64_t n = 0;
        std::vector<float> images;
        std::vector<int32_t> labels;
        std::exception_ptr error;
    };
    void run_worker();

    const ImageDataset& set_;
    const Augment aug_;
    const uint64_t seed_;
    const Device dev_;
    const size_t depth_;

    mutable std::mutex mu_;             // guards everything below
    std::condition_variable work_cv_;   // the worker waits for requests and room
    std::condition_variable ready_cv_;  // next() waits for a prepared batch
    std::deque<BatchRequest> pending_;  // not yet picked up by the worker
    std::deque<Prepared> ready_;        // prepared, in request order
    uint64_t generation_ = 0;           // bumped by start(); stale work is discarded
    bool busy_ = false;                 // the worker is preparing a current-generation batch
    bool stop_ = false;
    std::thread worker_;  // last: started after every member it uses exists
};

}  // namespace cudarts
