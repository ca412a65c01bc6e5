// Stand-in for the thread-block-cluster part of cooperative groups under the SIMT emulator: the
// blocks of a cluster are alive at once, each on its own OS thread, taking turns, so that
// cluster.sync() and distributed shared memory (map_shared_rank) behave as on sm_90.
#pragma once

namespace cooperative_groups {

class cluster_group {
public:
    unsigned block_rank() const { return simt::cluster_rank(); }
    unsigned num_blocks() const { return simt::cluster_size(); }
    // Every live thread of every block of the cluster arrives before any continues.
    void sync(simt::Loc loc = simt::Loc::current()) const {
        simt::sync_block(simt::Op::kClusterSync, 0, loc);
    }
    // The same __shared__ (or dynamic shared) object in the block of the given rank.
    template <class T>
    T* map_shared_rank(T* p, unsigned rank, simt::Loc loc = simt::Loc::current()) const {
        return static_cast<T*>(
            simt::map_shared_rank(const_cast<void*>(static_cast<const void*>(p)), rank, loc));
    }
};

inline cluster_group this_cluster() { return {}; }

}  // namespace cooperative_groups
