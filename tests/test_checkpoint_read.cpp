// Reading checkpoints back: the options of a checkpoint are read with their JSON types checked,
// read_search_checkpoint (the one reader of derive, visualize and a resumed search) gives the
// columns, nodes and alphas and refuses empty, non-finite or mismatched alphas, and every restore
// refuses a NaN or infinity in a weight, buffer or optimizer state, each with one line naming the
// file and the tensor or key.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <tuple>

#include "engine/json.h"
#include "engine/safetensors.h"
#include "kernels/check.h"
#include "models/nn/checkpoint.h"
#include "models/run/search.h"
#include "models/run/search_checkpoint.h"
#include "models/run/train.h"
#include "tests/train_cases.h"
#include "tests/util.h"

using namespace cudarts;
using cudarts::test::error_of;
namespace fs = std::filesystem;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

bool has(const std::string& s, const std::string& part) {
    if (s.find(part) != std::string::npos) return true;
    MESSAGE("'" << s << "' does not contain '" << part << "'");
    return false;
}

// The message from_json gives `options` with `key` set to the JSON `value`.
std::string search_options_error(const std::string& key, const std::string& value) {
    nlohmann::json j = SearchOptions{}.to_json();
    j[key] = nlohmann::json::parse(value);
    return error_of(
        [&] { (void)SearchOptions::from_json(j, "c.safetensors: metadata 'options'"); });
}

// A checkpoint holding alphas_normal and alphas_reduce of `rows` x `cols` (values 0.01 * i) and
// `metadata`, written to `path`.
void write_alphas(const std::string& path, int64_t rows, int64_t cols,
                  const std::map<std::string, std::string>& metadata = {},
                  const std::vector<float>& reduce = {}) {
    std::vector<float> normal(size_t(std::max<int64_t>(1, rows * cols)));  // never a null pointer
    for (size_t i = 0; i < normal.size(); ++i) normal[i] = 0.01f * float(i);
    const std::vector<float>& r = reduce.empty() ? normal : reduce;
    write_safetensors(path,
                      {{"alphas_normal", DType::kF32, {rows, cols}, normal.data()},
                       {"alphas_reduce", DType::kF32, {rows, cols}, r.data()}},
                      metadata);
}

// Rewrites the checkpoint at `path` with element `index` of tensor `name` set to `value`.
void set_element(const std::string& path, const std::string& name, int64_t index, float value) {
    SafetensorsFile f = read_safetensors(path);
    std::memcpy(f.tensors.at(name).data.data() + size_t(index) * sizeof(float), &value,
                sizeof value);
    std::vector<SafetensorsView> views;
    for (const auto& [n, t] : f.tensors) views.push_back({n, t.dtype, t.shape, t.data.data()});
    write_safetensors(path, views, f.metadata);
}

}  // namespace

TEST_SUITE("checkpoint") {
    TEST_CASE("options: a wrongly typed value names the key and what was expected") {
        const std::string at = "c.safetensors: metadata 'options': ";
        // key, the JSON value set, and the message after `at`
        const std::vector<std::array<std::string, 3>> cases = {
            {"layers", "\"eight\"", "'layers' is \"eight\", expected an integer"},
            {"primitives", "5", "'primitives' is 5, expected a list of strings"},
            {"primitives", "[\"none\", 3]",
             "'primitives' is [\"none\",3], expected a list of strings"},
            {"order", "\"x\"", "'order' is \"x\", expected an integer"},
            {"seed", "-1", "'seed' is -1, expected a non-negative integer"},
            {"seed", "0.5", "'seed' is 0.5, expected a non-negative integer"},
            {"layers", "3000000000",
             "'layers' is 3000000000, expected an integer of at most 2147483647"},
            {"layers", "-3000000000",
             "'layers' is -3000000000, expected an integer of at least -2147483648"},
            {"flip", "1", "'flip' is 1, expected true or false"},
            {"w_lr", "1e300", "'w_lr' is 1e+300, expected a number in float range"},
            {"w_lr", "\"0.1\"", "'w_lr' is \"0.1\", expected a number in float range"},
            {"derive_rule", "null", "'derive_rule' is null, expected a string"},
        };
        for (const auto& [key, value, want] : cases) {
            CAPTURE(value);
            CHECK(search_options_error(key, value) == at + want);
        }
        // A long value is quoted within engine/json's bound.
        CHECK(search_options_error("layers", "\"" + std::string(500, 'x') + "\"").size() < 200);

        TrainRecipe recipe;
        recipe.net.genotype = *builtin_genotype("DARTS_V2");
        nlohmann::json train = recipe.to_json();
        const auto train_error = [&] {
            return error_of([&] { (void)TrainRecipe::from_json(train, "t: metadata 'options'"); });
        };
        train["epochs"] = 2.5;
        CHECK(train_error() == "t: metadata 'options': 'epochs' is 2.5, expected an integer");
        train["epochs"] = 2;
        train["genotype"] = "Genotype(normal=[])";  // a string, but not a genotype
        CHECK(has(train_error(), "t: metadata 'options': genotype"));
    }

    TEST_CASE("options: values of the right type are read as written, in their full range") {
        SearchOptions o;
        o.net.layers = -7;  // not a valid network, but a value from_json must carry over
        o.seed = std::numeric_limits<uint64_t>::max();
        o.train_portion = 1e300;  // a double: beyond float's range is fine
        o.second_order = true;
        o.net.primitives = {"none", "skip_connect"};
        const SearchOptions back =
            SearchOptions::from_json(parse_json(o.to_json().dump(), "t"), "t");
        CHECK(back.net.layers == -7);
        CHECK(back.seed == std::numeric_limits<uint64_t>::max());
        CHECK(back.train_portion == 1e300);
        CHECK(back.second_order);
        CHECK(back.net.primitives == std::vector<std::string>{"none", "skip_connect"});
        CHECK(back.w_lr == o.w_lr);
    }

    TEST_CASE("read_search_checkpoint: options, columns, nodes and alphas from one reader") {
        const test::TempDir tmp("ckpt_read");
        const std::string path = tmp.file("a.safetensors");
        // Katib's one-cell network over three Katib-named primitives: no reduction cell.
        write_alphas(path, 5, 3,
                     {{"options", R"({"nodes": 2, "layers": 1, "primitives": )"
                                  R"(["max_pooling_3x3", "skip_connection", "none"]})"}});
        SearchCheckpoint c = read_search_checkpoint(path);
        REQUIRE(c.options);
        CHECK(c.options->net.layers == 1);
        CHECK(c.primitives == std::vector<std::string>{"max_pool_3x3", "skip_connect", "none"});
        CHECK(c.nodes == 2);
        CHECK_FALSE(c.has_reduction);
        REQUIRE(c.alphas_normal.size() == 15);
        CHECK(c.alphas_normal[14] == 0.14f);
        CHECK(c.file.path == path);

        // No options (a PyTorch export): the 8 of DARTS, nodes from the rows, a reduction cell.
        write_alphas(path, 9, 8);
        c = read_search_checkpoint(path);
        CHECK_FALSE(c.options);
        CHECK(c.primitives == darts_primitives());
        CHECK(c.nodes == 3);
        CHECK(c.has_reduction);
        // --primitives names the columns over the default and the options.
        write_alphas(path, 2, 2);
        c = read_search_checkpoint(path, {"none", "skip_connect"});
        CHECK(c.nodes == 1);
        CHECK(c.primitives == std::vector<std::string>{"none", "skip_connect"});
        // Options with an empty list mean the 8 of DARTS.
        write_alphas(path, 5, 8, {{"options", R"({"nodes": 2, "primitives": []})"}});
        CHECK(read_search_checkpoint(path).primitives == darts_primitives());
    }

    TEST_CASE("read_search_checkpoint: empty, non-finite or mismatched alphas name the tensor") {
        const test::TempDir tmp("ckpt_bad_alphas");
        const std::string path = tmp.file("b.safetensors");
        const auto error = [&] { return error_of([&] { (void)read_search_checkpoint(path); }); };
        const std::string two_nodes = R"({"nodes": 2})";

        write_alphas(path, 0, 8);
        CHECK(error() == path +
                             ": 'alphas_normal' is F32 [0, 8], expected F32 [edges, 8] (not empty: "
                             "one row per edge, one column per primitive)");
        write_alphas(path, 5, 0, {{"options", two_nodes}});
        CHECK(
            has(error(), path + ": 'alphas_normal' is F32 [5, 0], expected F32 [5, 8] (not empty"));

        std::vector<float> reduce(40, 0.f);
        reduce[19] = kNaN;
        write_alphas(path, 5, 8, {{"options", two_nodes}}, reduce);
        CHECK(error() == path +
                             ": 'alphas_reduce' holds nan at row 2, column 3 (expected finite "
                             "values)");
        reduce[19] = 0.f;
        reduce[39] = -kInf;
        write_alphas(path, 5, 8, {}, reduce);
        CHECK(has(error(), "'alphas_reduce' holds -inf at row 4, column 7"));

        write_alphas(path, 5, 8, {{"options", R"({"nodes": 3})"}});
        CHECK(error() == path +
                             ": 'alphas_normal' is F32 [5, 8], expected F32 [9, 8] (one row per "
                             "edge: its options say 3-node cells)");
        write_alphas(path, 5, 8, {{"options", R"({"nodes": 0})"}});
        CHECK(error() == path + ": metadata 'options': 'nodes' is 0, expected at least 1");
        write_alphas(path, 6, 8);
        CHECK(has(error(), "alphas with 6 and 6 rows (expected n(n+3)/2 rows"));
        write_alphas(path, 5, 8, {{"options", R"({"primitives": ["max_pool_5x5"]})"}});
        CHECK(has(error(), path + ": metadata 'options': 'primitives': unknown primitive "
                                  "'max_pool_5x5'"));
        write_alphas(path, 5, 8, {{"options", "[" + two_nodes + "]"}});
        CHECK(error() == path + ": metadata 'options' is not a JSON object");
        write_alphas(path, 5, 8, {{"options", std::string(100, '[')}});
        CHECK(error() == path + ": metadata 'options' nests deeper than 64 levels");
        write_alphas(path, 5, 8, {{"options", R"({"nodes": "two"})"}});
        CHECK(error() == path + ": metadata 'options': 'nodes' is \"two\", expected an integer");
    }

    TEST_CASE("restore_tensor: a NaN or infinity is refused naming the entry and the element") {
        const test::TempDir tmp("ckpt_finite");
        const std::string path = tmp.file("w.safetensors");
        std::vector<float> w = {1, 2, 3, 4, 5, 6};
        w[4] = kInf;
        write_safetensors(path, {{"layer.weight", DType::kF32, {2, 3}, w.data()}});
        const SafetensorsFile f = read_safetensors(path);
        const Tensor dst = Tensor::zeros({2, 3}, Device::cpu());
        CHECK(error_of([&] { restore_tensor(f, "layer.weight", dst); }) ==
              path + ": 'layer.weight' holds inf at element 4 (expected finite values)");
        CHECK(dst.to_vector() == std::vector<float>(6, 0.f));  // left as it was
        w[4] = 5;
        w[0] = kNaN;
        write_safetensors(path, {{"layer.weight", DType::kF32, {2, 3}, w.data()}});
        CHECK(has(error_of([&] { restore_tensor(read_safetensors(path), "layer.weight", dst); }),
                  "'layer.weight' holds nan at element 0"));
    }

    TEST_CASE("Search::load refuses non-finite weights, buffers, alphas and optimizer state") {
        const ImageDataset data = make_synthetic(64, 3, 8, 3, 61);
        const SearchOptions o = test::tiny_search_options(2, 2);
        const test::TempDir tmp("ckpt_search_nan");
        const std::string ckpt = tmp.file("checkpoint.safetensors");
        Search search(o, data, Device::cpu());
        search.run_epoch();
        for (const auto& [name, index, where] :
             {std::tuple<std::string, int64_t, std::string>{"stem.0.weight", 9, "element 9"},
              {"stem.1.running_var", 2, "element 2"},
              {"alphas_normal", 17, "row 2, column 1"},
              {"optimizer.momentum_buffer", 0, "element 0"},
              {"architect.adam.exp_avg_sq", 3, "element 3"}}) {
            CAPTURE(name);
            search.save(ckpt);
            set_element(ckpt, name, index, kNaN);
            Search resumed(o, data, Device::cpu());
            CHECK(error_of([&] { resumed.load(ckpt); }) ==
                  ckpt + ": '" + name + "' holds nan at " + where + " (expected finite values)");
        }
        search.save(ckpt);  // and the untouched file loads
        Search resumed(o, data, Device::cpu());
        resumed.load(ckpt);
        CHECK(resumed.epoch() == 1);
    }

    TEST_CASE("load_weights and Trainer::load refuse non-finite weights and buffers") {
        const ImageDataset train = make_synthetic(32, 3, 16, 3, 71),
                           test = make_synthetic(16, 3, 16, 3, 72);
        const TrainRecipe r = test::tiny_recipe();
        const test::TempDir tmp("ckpt_train_nan");
        const std::string ckpt = tmp.file("checkpoint.safetensors");
        Trainer t(r, train, test, Device::cpu());
        t.save(ckpt);
        set_element(ckpt, "stem.0.weight", 11, -kInf);
        EvalNetwork net(t.recipe().net, Device::cpu(), 1);
        CHECK(error_of([&] { load_weights(net, ckpt); }) ==
              ckpt + ": 'stem.0.weight' holds -inf at element 11 (expected finite values)");
        t.save(ckpt);
        set_element(ckpt, "stem.1.running_mean", 1, kNaN);
        Trainer resumed(r, train, test, Device::cpu());
        CHECK(error_of([&] { resumed.load(ckpt); }) ==
              ckpt + ": 'stem.1.running_mean' holds nan at element 1 (expected finite values)");
    }
}
