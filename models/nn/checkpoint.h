// Checkpoint helpers shared by the search and the training loop: host copies of flat stores as
// safetensors views under their PyTorch names, and checked restores. Checkpoints are written with
// engine/safetensors.h, which replaces the file atomically.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "models/nn/params.h"

namespace cudarts {

// Host copies of tensors to be written; views point into it, so it must outlive the write.
class CheckpointWriter {
public:
    void add_store(const ParamStore& store);  // every named tensor of the store
    // The store's names and shapes over `values`, a flat buffer in the store's layout (a saved copy
    // of its values).
    void add_store(const ParamStore& store, const Tensor& values);
    void add(const std::string& name, const Tensor& t);         // any f32 tensor, flattened to 1-D
    void add_shaped(const std::string& name, const Tensor& t);  // an f32 tensor as it is
    void write(const std::string& path, const std::map<std::string, std::string>& metadata) const;

private:
    struct Entry {
        std::string name;
        Shape shape;
        size_t block;
        int64_t offset;
    };
    std::vector<std::vector<float>> data_;  // one host block per add/add_store
    std::vector<Entry> entries_;
};

// Copies entry `name` of `f` into `dst` after checking dtype, shape and that every value is
// finite; InputError naming the file and the entry otherwise ("a checkpoint of a different
// configuration?", "'stem.0.weight' holds nan at element 7").
void restore_tensor(const SafetensorsFile& f, const std::string& name, const Tensor& dst);
// Every tensor of `store` from `f` by name.
void restore_store(const SafetensorsFile& f, const ParamStore& store);
// Metadata entry `key`; InputError naming the file when it is absent.
std::string checkpoint_meta(const SafetensorsFile& f, const std::string& key);
// How messages name metadata `key` of the file at `path`: "PATH: metadata 'KEY'".
std::string metadata_name(const std::string& path, const std::string& key);
// Metadata entry `key` as a JSON object, parsed within engine/json's bounds; InputError
// "PATH: metadata 'KEY' ..." when it is absent, not valid JSON or not an object.
nlohmann::json checkpoint_json(const SafetensorsFile& f, const std::string& key);

// InputError "PATH: 'NAME' holds nan at element I (expected finite values)" at the first NaN or
// infinity of `values`, the contents of entry `name` of `f`. With `cols` > 0 the place reads
// "row R, column C" of a row-major matrix of that width.
void require_finite(const SafetensorsFile& f, const std::string& name,
                    const std::vector<float>& values, int64_t cols = 0);

}  // namespace cudarts
