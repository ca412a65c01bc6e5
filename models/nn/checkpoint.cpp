// Checkpoint helpers; see models/nn/checkpoint.h.
#include "models/nn/checkpoint.h"

#include <cstring>

#include "kernels/check.h"

namespace cudarts {

void CheckpointWriter::add_store(const ParamStore& store) {
    data_.push_back(store.flat_values().to_vector());
    int64_t offset = 0;
    for (int i = 0; i < store.size(); ++i) {
        entries_.push_back({store.names()[size_t(i)], store[i].shape(), data_.size() - 1, offset});
        offset += store[i].numel();
    }
}

void CheckpointWriter::add(const std::string& name, const Tensor& t) {
    data_.push_back(t.to_vector());
    entries_.push_back({name, {t.numel()}, data_.size() - 1, 0});
}

void CheckpointWriter::write(const std::string& path,
                             const std::map<std::string, std::string>& metadata) const {
    std::vector<SafetensorsView> views;
    for (const Entry& e : entries_)
        views.push_back({e.name, DType::kF32, e.shape, data_[e.block].data() + e.offset});
    write_safetensors(path, views, metadata);
}

void restore_tensor(const SafetensorsFile& f, const std::string& name, const Tensor& dst) {
    const SafetensorsTensor& t = f.at(name);
    if (t.dtype != DType::kF32 || t.shape != dst.shape())
        throw InputError(f.path + ": '" + name + "' is " + dtype_name(t.dtype) + " " +
                         shape_str(t.shape) + ", expected F32 " + shape_str(dst.shape()) +
                         " (a checkpoint of a different configuration?)");
    std::vector<float> v(static_cast<size_t>(t.numel()));
    std::memcpy(v.data(), t.data.data(), v.size() * sizeof(float));
    dst.copy_(Tensor::from_vector(v, dst.shape()));
}

void restore_store(const SafetensorsFile& f, const ParamStore& store) {
    for (int i = 0; i < store.size(); ++i)
        restore_tensor(f, store.names()[size_t(i)], store[i].value());
}

std::string checkpoint_meta(const SafetensorsFile& f, const std::string& key) {
    const auto it = f.metadata.find(key);
    if (it == f.metadata.end())
        throw InputError(f.path + ": no metadata '" + key + "' (expected a cudarts checkpoint)");
    return it->second;
}

}  // namespace cudarts
