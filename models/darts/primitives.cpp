// The primitive names and the cell size; see models/darts/primitives.h. The table is in
// models/darts/ops.cpp.
#include "models/darts/primitives.h"

#include "engine/json.h"
#include "kernels/check.h"

namespace cudarts {

const std::vector<std::string>& darts_primitives() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const PrimitiveSpec& p : primitive_table()) v.push_back(p.official);
        return v;
    }();
    return names;
}

const PrimitiveSpec* find_primitive(const std::string& name) {
    for (const PrimitiveSpec& p : primitive_table())
        if (name == p.official || name == p.katib) return &p;
    return nullptr;
}

std::string unknown_primitive_message(const std::string& name) {
    std::string official, katib;
    for (const PrimitiveSpec& p : primitive_table()) {
        official += std::string(official.empty() ? "" : ", ") + p.official;
        if (std::string(p.katib) != p.official)
            katib += std::string(katib.empty() ? "" : ", ") + p.katib;
    }
    return "unknown primitive '" + quote_input(name) + "' (expected one of: " + official +
           " or Katib's names " + katib + ")";
}

std::string official_primitive(const std::string& name) {
    const PrimitiveSpec* p = find_primitive(name);
    if (!p) throw InputError(unknown_primitive_message(name));
    return p->official;
}

std::string katib_primitive(const std::string& official) {
    const PrimitiveSpec* p = find_primitive(official);
    if (!p) throw InputError(unknown_primitive_message(official));
    return p->katib;
}

int nodes_for(int64_t edges) {
    for (int64_t n = 1; edges_for(n) <= edges; ++n)
        if (edges_for(n) == edges) return int(n);
    return 0;
}

}  // namespace cudarts
