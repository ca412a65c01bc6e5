#include "models/enas/space.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "engine/json.h"
#include "kernels/check.h"

namespace cudarts::enas {
namespace {

using nlohmann::json;

const std::vector<std::pair<OpType, const char*>> kTypes = {
    {OpType::convolution, "convolution"},
    {OpType::separable_convolution, "separable_convolution"},
    {OpType::depthwise_convolution, "depthwise_convolution"},
    {OpType::reduction, "reduction"},
};

OpType type_from_name(const std::string& name, const std::string& what) {
    for (const auto& [t, n] : kTypes)
        if (name == n) return t;
    throw InputError(what + ": unknown operation type '" + quote_input(name) +
                     "' (expected convolution, separable_convolution, depthwise_convolution or "
                     "reduction)");
}

// The parameters each type takes (2.5's table), in Katib's listing order.
std::vector<std::string> parameters_of(OpType t) {
    switch (t) {
        case OpType::convolution:
            return {"filter_size", "num_filter", "stride"};
        case OpType::separable_convolution:
            return {"filter_size", "num_filter", "stride", "depth_multiplier"};
        case OpType::depthwise_convolution:
            return {"filter_size", "stride", "depth_multiplier"};
        case OpType::reduction:
            return {"reduction_type", "pool_size", "stride"};
    }
    return {};
}

// An integer given as a JSON number or a numeric string ("3"), as Python's int() reads it.
int int_value(const json& v, const std::string& what) {
    if (v.is_number_integer()) return int(std::clamp<int64_t>(v.get<int64_t>(), -1, 1 << 30));
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (d == std::floor(d) && std::abs(d) < 1e9) return int(d);
    }
    if (v.is_string()) {
        const std::string s = v.get<std::string>();
        size_t used = 0;
        try {
            const long n = std::stol(s, &used);
            if (used == s.size() && std::abs(n) < (1L << 30)) return int(n);
        } catch (const std::exception&) {
        }
    }
    throw InputError(what + ": expected an integer, got " + quote_json(v));
}

void in_range(int v, int lo, int hi, const std::string& what, bool odd = false) {
    if (v < lo || v > hi || (odd && v % 2 == 0))
        throw InputError(what + ": expected " + (odd ? "an odd integer " : "an integer ") +
                         std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
                         std::to_string(v));
}

// Sets one parameter of `op` from its JSON value; `what` names it in errors.
void set_parameter(OpSpec& op, const std::string& name, const json& v, const std::string& what) {
    const auto allowed = parameters_of(op.type);
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
        throw InputError(what + ": " + op_type_name(op.type) + " has no parameter '" +
                         quote_input(name) + "'");
    if (name == "reduction_type") {
        const std::string s = v.is_string() ? v.get<std::string>() : v.dump();
        if (s != "max_pooling" && s != "avg_pooling")
            throw InputError(what + ": expected max_pooling or avg_pooling, got " + quote_json(v));
        op.max_pool = s == "max_pooling";
        return;
    }
    const int n = int_value(v, what);
    if (name == "filter_size") in_range(n, 1, 15, what, true), op.filter_size = n;
    if (name == "num_filter") in_range(n, 1, 4096, what), op.num_filter = n;
    if (name == "depth_multiplier") in_range(n, 1, 16, what), op.depth_multiplier = n;
    if (name == "pool_size") in_range(n, 1, 15, what), op.pool_size = n;
    if (name == "stride") {
        in_range(n, 1, op.type == OpType::reduction ? 15 : 4, what);
        (op.type == OpType::reduction ? op.pool_stride : op.stride) = n;
    }
}

const json& field(const json& obj, const char* key, const std::string& what) {
    if (!obj.is_object() || !obj.contains(key)) throw InputError(what + ": missing '" + key + "'");
    return obj.at(key);
}

// [h, w, c] and [..., classes] of a graph description.
void read_sizes(const json& in, const json& out, int& h, int& w, int& c, int& classes,
                const std::string& what) {
    if (!in.is_array() || in.size() != 3)
        throw InputError(what + ": input sizes: expected [height, width, channels], got " +
                         quote_json(in));
    h = int_value(in[0], what + ": input height");
    w = int_value(in[1], what + ": input width");
    c = int_value(in[2], what + ": input channels");
    in_range(h, 1, 4096, what + ": input height");
    in_range(w, 1, 4096, what + ": input width");
    in_range(c, 1, 4096, what + ": input channels");
    if (!out.is_array() || out.empty())
        throw InputError(what + ": output sizes: expected a list like [10], got " +
                         quote_json(out));
    classes = int_value(out.back(), what + ": output size");
    in_range(classes, 2, 100000, what + ": output size");
}

}  // namespace

const char* op_type_name(OpType t) {
    for (const auto& [k, n] : kTypes)
        if (k == t) return n;
    return "?";
}

std::string OpSpec::label() const {
    const std::string k = std::to_string(filter_size) + "x" + std::to_string(filter_size);
    const std::string s = stride > 1 ? " /" + std::to_string(stride) : "";
    const std::string m = " m" + std::to_string(depth_multiplier);
    switch (type) {
        case OpType::convolution:
            return "conv " + k + " x" + std::to_string(num_filter) + s;
        case OpType::separable_convolution:
            return "sep " + k + " x" + std::to_string(num_filter) + m + s;
        case OpType::depthwise_convolution:
            return "dw " + k + m + s;
        case OpType::reduction:
            return std::string(max_pool ? "max " : "avg ") + std::to_string(pool_size) + "x" +
                   std::to_string(pool_size) + " /" + std::to_string(reduction_stride());
    }
    return "?";
}

json OpSpec::to_katib(int id) const {
    json p = json::object();
    switch (type) {
        case OpType::separable_convolution:
            p["depth_multiplier"] = std::to_string(depth_multiplier);
            [[fallthrough]];
        case OpType::convolution:
            p["filter_size"] = std::to_string(filter_size);
            p["num_filter"] = std::to_string(num_filter);
            p["stride"] = std::to_string(stride);
            break;
        case OpType::depthwise_convolution:
            p["filter_size"] = std::to_string(filter_size);
            p["stride"] = std::to_string(stride);
            p["depth_multiplier"] = std::to_string(depth_multiplier);
            break;
        case OpType::reduction:
            p["reduction_type"] = max_pool ? "max_pooling" : "avg_pooling";
            p["pool_size"] = pool_size;  // an int parameter: Katib writes a number
            if (pool_stride > 0) p["stride"] = pool_stride;
            break;
    }
    return {{"opt_id", id}, {"opt_type", op_type_name(type)}, {"opt_params", p}};
}

json NnConfig::to_katib() const {
    json emb = json::object();
    for (const auto& [id, op] : embedding) emb[std::to_string(id)] = op.to_katib(id);
    return {{"num_layers", num_layers},
            {"input_sizes", {height, width, channels}},
            {"output_sizes", {classes}},
            {"embedding", emb}};
}

NnConfig parse_nn_config(const json& j, const std::string& flag) {
    if (!j.is_object())
        throw InputError(flag + ": expected a JSON object like {'num_layers': 8, ...}, got " +
                         quote_json(j));
    NnConfig c;
    c.num_layers = int_value(field(j, "num_layers", flag), flag + ": num_layers");
    in_range(c.num_layers, 1, 64, flag + ": num_layers");
    const json& in = field(j, "input_sizes", flag);  // in this order
    const json& out = field(j, "output_sizes", flag);
    read_sizes(in, out, c.height, c.width, c.channels, c.classes, flag);
    const json& emb = field(j, "embedding", flag);
    if (!emb.is_object() || emb.empty())
        throw InputError(flag + ": embedding: expected an object of op ids, got " +
                         quote_json(emb));
    for (const auto& [key, entry] : emb.items()) {
        const std::string what = flag + ": embedding '" + quote_input(key) + "'";
        const int id = int_value(json(key), what);
        if (id < 0) throw InputError(what + ": expected an op id 0 or more");
        const json& type = field(entry, "opt_type", what);
        OpSpec op;
        op.type = type_from_name(type.is_string() ? type.get<std::string>() : type.dump(), what);
        if (entry.contains("opt_id") && int_value(entry.at("opt_id"), what + ": opt_id") != id)
            throw InputError(what + ": opt_id " + quote_json(entry.at("opt_id")) +
                             " differs from its key");
        if (entry.contains("opt_params")) {
            const json& params = entry.at("opt_params");
            if (!params.is_object())
                throw InputError(what + ": opt_params: expected an object, got " +
                                 quote_json(params));
            for (const auto& [name, v] : params.items())
                set_parameter(op, name, v, what + ": " + name);
        }
        c.embedding[id] = op;
    }
    return c;
}

Architecture parse_architecture(const json& j, const std::string& flag) {
    if (!j.is_array() || j.empty())
        throw InputError(flag + ": expected a list of rows like [[27], [29, 0], ...], got " +
                         quote_json(j));
    Architecture arch;
    for (size_t i = 0; i < j.size(); ++i) {
        const std::string what = flag + ": row " + std::to_string(i + 1);
        if (!j[i].is_array())
            throw InputError(what + ": expected a list of integers, got " + quote_json(j[i]));
        std::vector<int> row;
        for (const json& v : j[i]) row.push_back(int_value(v, what));
        arch.push_back(std::move(row));
    }
    return arch;
}

void check_architecture(const Architecture& arch, int num_layers, int num_ops,
                        const std::map<int, OpSpec>* embedding, const std::string& what) {
    if (int(arch.size()) != num_layers)
        throw InputError(what + ": expected " + std::to_string(num_layers) +
                         " rows (num_layers), got " + std::to_string(arch.size()));
    for (size_t i = 0; i < arch.size(); ++i) {
        const auto& row = arch[i];
        const std::string where = what + ": row " + std::to_string(i + 1);
        if (row.size() != i + 1)
            throw InputError(where + ": expected " + std::to_string(i + 1) +
                             " integers (the op, then one skip bit per earlier layer), got " +
                             std::to_string(row.size()));
        const int op = row[0];
        const bool known = embedding ? embedding->count(op) > 0 : op >= 0 && op < num_ops;
        if (!known)
            throw InputError(where + ": op " + std::to_string(op) +
                             (embedding ? " is not in the nn_config's embedding"
                                        : " is not an op id 0.." + std::to_string(num_ops - 1)));
        for (size_t k = 1; k < row.size(); ++k)
            if (row[k] != 0 && row[k] != 1)
                throw InputError(where + ": skip bit " + std::to_string(k) + " is " +
                                 std::to_string(row[k]) + " (expected 0 or 1)");
    }
}

std::vector<int> ops_of(const Architecture& arch) {
    std::vector<int> ops;
    for (const auto& row : arch) ops.push_back(row[0]);
    return ops;
}

std::string architecture_text(const Architecture& arch) {
    std::string s = "[";
    for (size_t i = 0; i < arch.size(); ++i) {
        s += i ? ", [" : "[";
        for (size_t k = 0; k < arch[i].size(); ++k)
            s += (k ? ", " : "") + std::to_string(arch[i][k]);
        s += "]";
    }
    return s + "]";
}

NnConfig SearchSpace::nn_config(const Architecture& arch) const {
    check_architecture(arch, num_layers, int(ops.size()), nullptr, "architecture");
    NnConfig c{.num_layers = num_layers,
               .height = height,
               .width = width,
               .channels = channels,
               .classes = classes,
               .embedding = {}};
    for (const auto& row : arch) c.embedding[row[0]] = ops[size_t(row[0])];
    return c;
}

json SearchSpace::to_json() const {
    // Each op as its own operation entry with one-value lists: the same ids in the same order.
    json operations = json::array();
    for (const OpSpec& op : ops) {
        json params = json::array();
        const json entry = op.to_katib(0);  // kept alive: items() refers into it
        for (const auto& [name, value] : entry.at("opt_params").items())
            params.push_back(
                {{"name", name},
                 {"parameterType", "categorical"},
                 {"feasibleSpace",
                  {{"list", {value.is_string() ? value.get<std::string>() : value.dump()}}}}});
        operations.push_back({{"operationType", op_type_name(op.type)}, {"parameters", params}});
    }
    return {{"graphConfig",
             {{"numLayers", num_layers},
              {"inputSizes", {height, width, channels}},
              {"outputSizes", {classes}}}},
            {"operations", operations}};
}

SearchSpace parse_search_space(const json& j, const std::string& what) {
    SearchSpace s;
    const json& graph = field(j, "graphConfig", what);
    s.num_layers =
        int_value(field(graph, "numLayers", what + ": graphConfig"), what + ": numLayers");
    in_range(s.num_layers, 1, 64, what + ": numLayers");
    const json& in = field(graph, "inputSizes", what + ": graphConfig");  // in this order
    const json& out = field(graph, "outputSizes", what + ": graphConfig");
    read_sizes(in, out, s.height, s.width, s.channels, s.classes, what + ": graphConfig");
    const json& operations = field(j, "operations", what);
    if (!operations.is_array() || operations.empty())
        throw InputError(what + ": operations: expected a non-empty list");
    for (size_t o = 0; o < operations.size(); ++o) {
        const std::string where = what + ": operations[" + std::to_string(o) + "]";
        const json& t = field(operations[o], "operationType", where);
        OpSpec base;
        base.type = type_from_name(t.is_string() ? t.get<std::string>() : t.dump(), where);
        // Each parameter's values, as JSON values set_parameter reads.
        std::vector<std::pair<std::string, std::vector<json>>> axes;
        std::set<std::string> seen;
        const json params =
            operations[o].contains("parameters") ? operations[o].at("parameters") : json::array();
        if (!params.is_array()) throw InputError(where + ": parameters: expected a list");
        for (const json& p : params) {
            const std::string name = field(p, "name", where).is_string()
                                         ? p.at("name").get<std::string>()
                                         : p.at("name").dump();
            const std::string pw = where + ": " + name;
            if (!seen.insert(name).second) throw InputError(pw + ": listed twice");
            const json& fs = field(p, "feasibleSpace", pw);
            const std::string kind =
                p.contains("parameterType") && p.at("parameterType").is_string()
                    ? p.at("parameterType").get<std::string>()
                    : "categorical";
            std::vector<json> values;
            if (kind == "categorical") {
                const json& list = field(fs, "list", pw);
                if (!list.is_array() || list.empty())
                    throw InputError(pw + ": feasibleSpace list: expected a non-empty list");
                for (const json& v : list) values.push_back(v);
            } else if (kind == "int") {
                const int lo = int_value(field(fs, "min", pw), pw + ": min");
                const int hi = int_value(field(fs, "max", pw), pw + ": max");
                const int step = fs.contains("step") ? int_value(fs.at("step"), pw + ": step") : 1;
                if (step < 1 || hi < lo || (hi - lo) / step > 1000)
                    throw InputError(pw + ": expected min <= max and step >= 1");
                for (int v = lo; v <= hi; v += step) values.push_back(v);
            } else {
                throw InputError(pw + ": parameterType '" + quote_input(kind) +
                                 "' (expected categorical or int)");
            }
            for (const json& v : values) {  // refuse a bad value now, not at the first sample
                OpSpec probe = base;
                set_parameter(probe, name, v, pw);
            }
            axes.emplace_back(name, std::move(values));
        }
        // The Cartesian product, last axis fastest (2.2).
        std::vector<size_t> at(axes.size(), 0);
        for (;;) {
            OpSpec op = base;
            for (size_t a = 0; a < axes.size(); ++a)
                set_parameter(op, axes[a].first, axes[a].second[at[a]], where);
            s.ops.push_back(op);
            if (s.ops.size() > 10000) throw InputError(what + ": more than 10000 operations");
            size_t a = axes.size();
            while (a > 0 && ++at[a - 1] == axes[a - 1].second.size()) at[--a] = 0;
            if (a == 0) break;
        }
    }
    return s;
}

SearchSpace katib_gpu_space() {
    const json cat = [] {
        auto list = [](std::initializer_list<const char*> v) {
            json l = json::array();
            for (const char* s : v) l.push_back(s);
            return json{{"list", l}};
        };
        auto param = [](const char* name, json fs, const char* type = "categorical") {
            return json{{"name", name}, {"parameterType", type}, {"feasibleSpace", fs}};
        };
        const json fsize = param("filter_size", list({"3", "5", "7"}));
        const json nfilt = param("num_filter", list({"32", "48", "64", "96", "128"}));
        const json stride = param("stride", list({"1", "2"}));
        const json mult = param("depth_multiplier", list({"1", "2"}));
        return json{
            {"graphConfig", {{"numLayers", 8}, {"inputSizes", {32, 32, 3}}, {"outputSizes", {10}}}},
            {"operations",
             {{{"operationType", "convolution"}, {"parameters", {fsize, nfilt, stride}}},
              {{"operationType", "separable_convolution"},
               {"parameters", {fsize, nfilt, stride, mult}}},
              {{"operationType", "depthwise_convolution"}, {"parameters", {fsize, stride, mult}}},
              {{"operationType", "reduction"},
               {"parameters",
                {param("reduction_type", list({"max_pooling", "avg_pooling"})),
                 param("pool_size", json{{"min", "2"}, {"max", "3"}, {"step", "1"}}, "int")}}}}}};
    }();
    return parse_search_space(cat, "katib_gpu_space");
}

}  // namespace cudarts::enas
