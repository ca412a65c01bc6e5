// The character-level reader under both genotype parsers (the CNN's in models/darts/genotype.cpp,
// the recurrent cell's in models/rnn/genotype.cpp): a small recursive-descent scanner over the
// text of a Python repr such as Genotype(normal=[('sep_conv_3x3', 0), ...], concat=range(1, 9)),
// so that every error can name the character where the text went wrong:
//   "<what>: expected a genotype like <example>: <what went wrong> at character N".
// Parsers derive from it and add their own fields and genes.
#pragma once

#include <algorithm>
#include <cctype>
#include <climits>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "engine/fileio.h"
#include "engine/json.h"
#include "kernels/check.h"

namespace cudarts::genotype_parse {

// No cell has this many nodes; a longer concat range is refused before it is allocated.
constexpr int kMaxConcat = 1024;

inline std::vector<int> range_of(int lo, int hi) {
    std::vector<int> v(static_cast<size_t>(std::max(0, hi - lo)));
    std::iota(v.begin(), v.end(), lo);
    return v;
}

// A node index from JSON: an integer in int's range (4294967296 must not wrap to 0); `fail`
// reports the problem and does not return.
template <class Fail>
int json_index(const nlohmann::json& v, const std::string& where, const Fail& fail) {
    if (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(INT_MAX)
                               : v.get<int64_t>() < INT_MIN || v.get<int64_t>() > INT_MAX)
        fail(where + " holds " + quote_json(v) + ", out of range for a node index");
    return v.get<int>();
}

class Scanner {
public:
    // `example` is the form quoted in every message, e.g. "Genotype(normal=[...], ...)".
    Scanner(const std::string& text, const std::string& what, const char* example)
        : s_(text), what_(what), example_(example) {}

protected:
    [[noreturn]] void fail(const std::string& msg, size_t at, bool located = true) const {
        std::string where;
        if (located && at < s_.size())
            where = " at character " + std::to_string(at + 1);
        else if (located && msg.find("the end of the text") == std::string::npos)
            where = " at the end of the text";
        throw InputError(what_ + ": expected a genotype like " + example_ + ": " + msg + where);
    }
    std::string found() const {
        return i_ < s_.size() ? std::string("'") + s_[i_] + "'" : "the end of the text";
    }
    void skip_ws() {
        while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    bool accept(char c) {
        skip_ws();
        if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
        return false;
    }
    void expect(char c) {
        if (!accept(c)) fail(std::string("expected '") + c + "' but found " + found(), i_);
    }
    // Items separated by commas (a trailing one allowed) up to and including `close`.
    void items(char close, const std::function<void()>& item) {
        while (!accept(close)) {
            item();
            if (!accept(',')) return expect(close);
        }
    }
    std::string ident() {
        skip_ws();
        const size_t b = i_;
        while (i_ < s_.size() &&
               (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_' || s_[i_] == '-'))
            ++i_;
        return s_.substr(b, i_ - b);
    }
    // An optional `NAME =` before Genotype( (Best-Genotype=, DARTS_V2 = ), then "Genotype(".
    void genotype_open() {
        const std::string name = ident();
        if (name.empty() || name == "Genotype" || !accept('=')) i_ = 0;
        skip_ws();
        if (s_.compare(i_, 8, "Genotype") != 0) fail("expected 'Genotype('", i_);
        i_ += 8;
        expect('(');
    }
    // After the closing parenthesis: nothing but whitespace.
    void genotype_end() {
        skip_ws();
        if (i_ != s_.size()) fail("unexpected text after the genotype", i_);
    }
    int integer(const char* what) {
        skip_ws();
        const size_t b = i_;
        while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_])) && i_ - b < 9)
            ++i_;
        if (i_ == b) fail(std::string("expected ") + what + " but found " + found(), i_);
        return std::stoi(s_.substr(b, i_ - b));
    }
    // A name in single or double quotes; `at` is set to where it starts.
    std::string quoted(const char* what, size_t& at) {
        skip_ws();
        at = i_;
        const char quote = i_ < s_.size() ? s_[i_] : 0;
        const size_t end = quote == '\'' || quote == '"' ? s_.find(quote, i_ + 1) : i_;
        if (end == i_) fail(std::string("expected a quoted ") + what + " but found " + found(), i_);
        if (end == std::string::npos) fail(std::string("unterminated ") + what, at);
        const std::string name = s_.substr(i_ + 1, end - i_ - 1);
        i_ = end + 1;
        return name;
    }
    // range(a, b) or [a, b, ...]; *as_range (when given) tells which.
    std::vector<int> concat(bool* as_range) {
        skip_ws();
        const size_t b = i_;
        std::vector<int> v;
        if (ident() == "range") {
            expect('(');
            const int lo = integer("a number");
            expect(',');
            const int hi = integer("a number");
            expect(')');
            if (hi <= lo) fail("empty range", b);
            if (hi - lo > kMaxConcat)
                fail("range of more than " + std::to_string(kMaxConcat) + " node indices", b);
            v = range_of(lo, hi);
        } else {
            i_ = b;
            if (!accept('['))
                fail("expected range(a, b) or a list of node indices but found " + found(), i_);
            items(']', [&] { v.push_back(integer("a node index")); });
        }
        if (as_range) *as_range = s_[b] == 'r';
        return v;
    }

    const std::string& s_;
    const std::string& what_;
    const char* example_;
    size_t i_ = 0;
};

// A concat as the reference prints it: range(a, b) when `as_range` and consecutive, else a list.
inline std::string concat_text(const std::vector<int>& c, bool as_range, const char* sep) {
    const bool consecutive = !c.empty() && std::adjacent_find(c.begin(), c.end(), [](int a, int b) {
                                               return b != a + 1;
                                           }) == c.end();
    if (as_range && consecutive)
        return "range(" + std::to_string(c.front()) + sep + std::to_string(c.back() + 1) + ")";
    std::string out = "[";
    for (size_t k = 0; k < c.size(); ++k) out += (k ? sep : "") + std::to_string(c[k]);
    return out + "]";
}

// The JSON envelope both genotype readers accept. unwrap_json returns the genotype `j` holds:
// itself, or what it wraps as {"genotype": ...} (an object with that key and without `main_key`),
// unwrapped again as often as needed. keys_problem says what is wrong with the object's keys:
// "not a JSON object", "unknown key 'x' (expected a, b)", or "" when all are among `keys`.
inline const nlohmann::json& unwrap_json(const nlohmann::json& j, const char* main_key) {
    const nlohmann::json* g = &j;
    while (g->is_object() && g->contains("genotype") && !g->contains(main_key))
        g = &(*g)["genotype"];
    return *g;
}

inline std::string keys_problem(const nlohmann::json& j, std::initializer_list<const char*> keys) {
    if (!j.is_object()) return "not a JSON object";
    if (const std::optional<std::string> key = unknown_key(j, keys))
        return "unknown key '" + quote_input(*key) + "' (expected " + name_list(keys) + ")";
    return "";
}

// A --genotype argument: builtin(arg) when it names a built-in, else the text of the regular file
// it names, else the argument itself when it looks like a genotype; parse(text, what) reads it.
// Anything else: InputError "--genotype ARG: not <not_found>".
template <class Builtin, class Parse>
auto resolve_argument(const std::string& arg, const Builtin& builtin, const Parse& parse,
                      const std::string& not_found) {
    if (auto g = builtin(arg)) return *g;
    std::error_code ec;
    if (std::filesystem::is_regular_file(arg, ec)) {
        const std::vector<uint8_t> bytes = read_file(arg);
        return parse(std::string(bytes.begin(), bytes.end()), "--genotype " + arg);
    }
    if (arg.find_first_of("([{") != std::string::npos) return parse(arg, "--genotype");
    throw InputError("--genotype " + arg + ": not " + not_found);
}

}  // namespace cudarts::genotype_parse
