// Checkpoint helpers; see models/nn/checkpoint.h.
#include "models/nn/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/json.h"
#include "kernels/check.h"

namespace cudarts {

void CheckpointWriter::add_store(const ParamStore& store) { add_store(store, store.flat_values()); }

void CheckpointWriter::add_store(const ParamStore& store, const Tensor& values) {
    CUDARTS_CHECK(values.numel() == store.total(),
                  "CheckpointWriter::add_store: " << values << " for a store of " << store.total());
    data_.push_back(values.to_vector());
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

void CheckpointWriter::add_shaped(const std::string& name, const Tensor& t) {
    data_.push_back(t.to_vector());
    entries_.push_back({name, t.shape(), data_.size() - 1, 0});
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
    require_finite(f, name, v);  // a NaN weight would turn every later loss into NaN, silently
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

std::string metadata_name(const std::string& path, const std::string& key) {
    return path + ": metadata '" + key + "'";
}

nlohmann::json checkpoint_json(const SafetensorsFile& f, const std::string& key) {
    const std::string what = metadata_name(f.path, key);
    nlohmann::json j = parse_json(checkpoint_meta(f, key), what);
    if (!j.is_object()) throw InputError(what + " is not a JSON object");
    return j;
}

void require_finite(const SafetensorsFile& f, const std::string& name,
                    const std::vector<float>& values, int64_t cols) {
    const auto bad =
        std::find_if(values.begin(), values.end(), [](float x) { return !std::isfinite(x); });
    if (bad == values.end()) return;
    const size_t i = size_t(bad - values.begin());
    const std::string value = std::isnan(*bad) ? "nan" : *bad > 0 ? "inf" : "-inf";
    const std::string where = cols > 0 ? "row " + std::to_string(i / size_t(cols)) + ", column " +
                                             std::to_string(i % size_t(cols))
                                       : "element " + std::to_string(i);
    throw InputError(f.path + ": '" + name + "' holds " + value + " at " + where +
                     " (expected finite values)");
}

}  // namespace cudarts
