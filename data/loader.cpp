// The worker loop: take the oldest pending request when fewer than `depth` batches wait, build it
// with make_batch outside the lock, and append it to the ready queue unless start() replaced the
// request list meanwhile (the generation counter tells). Exceptions travel as exception_ptrs in the
// batch they belong to, so next() rethrows them in order and the worker carries on.
#include "data/loader.h"

#include <algorithm>
#include <utility>

#include "kernels/check.h"

namespace cudarts {

std::vector<BatchRequest> split_batches(std::span<const int64_t> order, int64_t batch_size,
                                        uint64_t key_base, bool drop_last) {
    CUDARTS_CHECK(batch_size > 0, "split_batches: batch_size " << batch_size);
    std::vector<BatchRequest> out;
    const auto n = int64_t(order.size());
    for (int64_t begin = 0, step = 0; begin < n; begin += batch_size, ++step) {
        const int64_t count = std::min(batch_size, n - begin);
        if (drop_last && count < batch_size) break;
        BatchRequest req;
        req.idx.assign(order.begin() + begin, order.begin() + begin + count);
        req.key = key_base + uint64_t(step);
        out.push_back(std::move(req));
    }
    return out;
}

BatchLoader::BatchLoader(const ImageDataset& set, Augment aug, uint64_t seed, Device dev, int depth)
    : set_(set), aug_(aug), seed_(seed), dev_(dev), depth_(size_t(depth)) {
    CUDARTS_CHECK(depth >= 1, "BatchLoader: depth " << depth << " (expected >= 1)");
    worker_ = std::thread([this] { run_worker(); });
}

BatchLoader::~BatchLoader() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    work_cv_.notify_all();
    worker_.join();
}

void BatchLoader::start(std::vector<BatchRequest> requests) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        ++generation_;
        busy_ = false;  // whatever the worker is preparing now belongs to the old list
        pending_.assign(std::make_move_iterator(requests.begin()),
                        std::make_move_iterator(requests.end()));
        ready_.clear();
    }
    work_cv_.notify_all();
}

size_t BatchLoader::remaining() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pending_.size() + ready_.size() + (busy_ ? 1 : 0);
}

Batch BatchLoader::next() {
    Prepared p;
    {
        std::unique_lock<std::mutex> lock(mu_);
        CUDARTS_CHECK(!pending_.empty() || !ready_.empty() || busy_,
                      "BatchLoader::next: no requests left (call start() first)");
        ready_cv_.wait(lock, [this] { return !ready_.empty(); });
        p = std::move(ready_.front());
        ready_.pop_front();
    }
    work_cv_.notify_all();  // there is room for one more
    if (p.error) std::rethrow_exception(p.error);
    const int64_t c = set_.channels, h = set_.height, w = set_.width;
    Batch batch;
    batch.images = Tensor::from_vector(p.images, {p.n, c, h, w}, dev_);
    batch.labels = Tensor::from_vector(p.labels, {p.n}, dev_);
    return batch;
}

void BatchLoader::run_worker() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
        work_cv_.wait(lock,
                      [this] { return stop_ || (!pending_.empty() && ready_.size() < depth_); });
        if (stop_) return;
        BatchRequest req = std::move(pending_.front());
        pending_.pop_front();
        const uint64_t generation = generation_;
        busy_ = true;
        lock.unlock();

        Prepared p;
        p.n = int64_t(req.idx.size());
        try {
            p.images.resize(size_t(p.n * set_.image_bytes()));
            p.labels.resize(size_t(p.n));
            make_batch(set_, req.idx, aug_, seed_, req.key, p.images.data(), p.labels.data());
        } catch (...) {
            p.error = std::current_exception();
        }

        lock.lock();
        if (generation == generation_ && !stop_) {
            busy_ = false;
            ready_.push_back(std::move(p));
            ready_cv_.notify_all();
        }
    }
}

}  // namespace cudarts
