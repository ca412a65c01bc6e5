// Numbers as text for messages, tables and SVG: one double through a printf format, returned as a
// std::string (the whole text, however long). short_number is "%g": 6 significant digits, trailing
// zeros dropped, exponent form below 1e-4 or from 1e6 on, e.g. 0.025, 1e-05, 123457, 1e+06, inf,
// nan: the form a user would type a setting in (0.025, not 0.02500000037252903).
#pragma once

#include <cstdio>
#include <string>

namespace cudarts {

// `v` through `format`, a printf format with one double conversion ("%.4f", "%10.4f", "%.1f,").
inline std::string format_number(const char* format, double v) {
    char buf[64];
    const int n = std::snprintf(buf, sizeof buf, format, v);
    if (n < static_cast<int>(sizeof buf)) return n < 0 ? std::string() : std::string(buf, n);
    std::string out(static_cast<size_t>(n) + 1, '\0');  // "%10.4f" of 1e300 is 306 characters
    std::snprintf(out.data(), out.size(), format, v);
    out.pop_back();
    return out;
}

inline std::string short_number(double v) { return format_number("%g", v); }

}  // namespace cudarts
