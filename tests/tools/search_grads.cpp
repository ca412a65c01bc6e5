// cudarts_search_grads: one training step's gradients of the DARTS search network, for the
// PyTorch cross-check (scripts/torch_crosscheck.py). A test tool, not part of cudarts.
//
//   cudarts_search_grads IN.safetensors OUT.safetensors
//
// IN holds, under the reference's names (PyTorch's state_dict, plus alphas_normal and
// alphas_reduce), every weight, BN running statistic and α of the network; extra entries such as
// num_batches_tracked are ignored. Two batches: "images" (n, c, h, w) F32 with "labels" (n) I64
// (the training batch) and "val_images" / "val_labels" (the validation batch). The metadata gives
// the configuration: init_channels, layers, nodes, classes, in_channels, stem_multiplier (integers)
// and primitives (a comma-separated list in α column order).
//
// What it runs is what one first-order search step runs before its updates, in the same order:
// the first-order architect's gradient ∂L_val/∂α on the validation batch
// (models/darts/architect.h), then the training-mode forward, cross-entropy and backward of the
// weights on the training batch. OUT: "loss" and "val_loss" (one element each), the gradient of
// every weight under the weight's name, the α gradients under "alphas_normal" / "alphas_reduce",
// and the BN running statistics after both forwards (momentum updates) under their names.
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "models/darts/architect.h"
#include "models/darts/genotype.h"
#include "models/nn/checkpoint.h"

using namespace cudarts;

namespace {

int meta_int(const SafetensorsFile& f, const std::string& key, int fallback) {
    const auto it = f.metadata.find(key);
    if (it == f.metadata.end()) return fallback;
    size_t used = 0;
    int v = 0;
    try {
        v = std::stoi(it->second, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != it->second.size())
        throw InputError(f.path + ": metadata '" + key + "' is '" + it->second +
                         "', expected an integer");
    return v;
}

SearchNetConfig config_of(const SafetensorsFile& f) {
    SearchNetConfig cfg;
    cfg.init_channels = meta_int(f, "init_channels", cfg.init_channels);
    cfg.layers = meta_int(f, "layers", cfg.layers);
    cfg.nodes = meta_int(f, "nodes", cfg.nodes);
    cfg.classes = meta_int(f, "classes", cfg.classes);
    cfg.in_channels = meta_int(f, "in_channels", cfg.in_channels);
    cfg.stem_multiplier = meta_int(f, "stem_multiplier", cfg.stem_multiplier);
    const auto it = f.metadata.find("primitives");
    if (it != f.metadata.end()) cfg.primitives = parse_primitive_list(it->second);
    return cfg;
}

Batch batch_of(const SafetensorsFile& f, const std::string& images, const std::string& labels,
               const SearchNetConfig& cfg) {
    const SafetensorsTensor& x = f.at(images);
    const SafetensorsTensor& y = f.at(labels);
    if (x.dtype != DType::kF32 || x.shape.size() != 4 || x.shape[1] != cfg.in_channels)
        throw InputError(f.path + ": '" + images + "' is " + dtype_name(x.dtype) + " " +
                         shape_str(x.shape) + ", expected F32 (n, " +
                         std::to_string(cfg.in_channels) + ", h, w)");
    if (y.dtype != DType::kI64 || y.shape != Shape{x.shape[0]})
        throw InputError(f.path + ": '" + labels + "' is " + dtype_name(y.dtype) + " " +
                         shape_str(y.shape) + ", expected I64 [" + std::to_string(x.shape[0]) +
                         "]");
    std::vector<float> xv(size_t(x.numel()));
    std::memcpy(xv.data(), x.data.data(), x.data.size());
    std::vector<int64_t> y64(size_t(y.numel()));
    std::memcpy(y64.data(), y.data.data(), y.data.size());
    std::vector<int32_t> yv;
    for (const int64_t label : y64) {
        if (label < 0 || label >= cfg.classes)
            throw InputError(f.path + ": '" + labels + "' holds label " + std::to_string(label) +
                             ", expected 0.." + std::to_string(cfg.classes - 1));
        yv.push_back(int32_t(label));
    }
    return {Tensor::from_vector(xv, x.shape), Tensor::from_vector(yv, {y.shape[0]})};
}

// Host copies of named tensors and the views that write them.
struct Output {
    std::vector<std::vector<float>> data;
    std::vector<SafetensorsView> views;
    void add(const std::string& name, const Tensor& t) {
        data.push_back(t.to_vector());
        views.push_back({name, DType::kF32, t.shape(), nullptr});
    }
    void add_grads(const ParamStore& s) {
        for (int i = 0; i < s.size(); ++i) add(s.names()[size_t(i)], s[i].grad());
    }
    void add_values(const ParamStore& s) {
        for (int i = 0; i < s.size(); ++i) add(s.names()[size_t(i)], s[i].value());
    }
    void write(const std::string& path) {
        for (size_t i = 0; i < views.size(); ++i) views[i].data = data[i].data();
        write_safetensors(path, views);
    }
};

int run(const std::string& in, const std::string& out) {
    const SafetensorsFile f = read_safetensors(in);
    SearchNetwork net(config_of(f), Device::cpu(), 0);
    restore_store(f, net.weights());
    restore_store(f, net.buffers());
    restore_store(f, net.alphas());
    const Batch train = batch_of(f, "images", "labels", net.config());
    const Batch val = batch_of(f, "val_images", "val_labels", net.config());

    Architect architect(net, {});
    architect.compute_gradient(train, val, 0.f, Tensor());
    const Var loss = batch_loss(net, train);
    backward(loss, net.weights().vars());

    Output o;
    o.add("loss", loss.value().reshape({1}));
    o.add("val_loss", Tensor::full({1}, float(architect.last_val_loss())));
    o.add_grads(net.weights());
    o.add_grads(net.alphas());
    o.add_values(net.buffers());
    o.write(out);
    return 0;
}

}  // namespace

int main(int argc, char** argv) try {
    if (argc != 3) {
        std::fprintf(stderr, "usage: cudarts_search_grads IN.safetensors OUT.safetensors\n");
        return 2;
    }
    return run(argv[1], argv[2]);
} catch (const InputError& e) {
    std::fprintf(stderr, "cudarts_search_grads: %s\n", e.what());
    return 2;
} catch (const std::exception& e) {
    std::fprintf(stderr, "cudarts_search_grads: internal error: %s\n", e.what());
    return 1;
}
