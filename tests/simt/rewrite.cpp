// simt_rewrite IN OUT: turns a CUDA source into C++ for the SIMT emulator, keeping every line
// where it was (the output starts with a #line naming IN, so __FILE__, __LINE__ and the
// emulator's reports point at the .cu file). Two rewrites, nothing else:
//  - a launch `kernel<T><<<grid, block, smem, stream>>>(args)` becomes
//    `::simt::launch(::simt::Site{__FILE__, __LINE__}, ATTRS, "kernel<T>", kernel<T>, grid,
//    block, smem, stream)(args)`, where ATTRS are the __launch_bounds__ and __cluster_dims__ of
//    that kernel's definition earlier in the same file, so the launch checks them;
//  - `extern __shared__ T name[];` (dynamic shared memory) becomes
//    `T* const name = ::simt::dynamic_smem<T>();`.
// The rest (__global__, __shared__, builtins) is left to the forced-include header.
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

struct Attrs {
    std::string max_threads = "0";
    std::string cluster = "1, 1, 1";
};

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Whether position i is inside a // comment of its line.
bool in_line_comment(const std::string& s, size_t i) {
    const size_t bol = s.rfind('\n', i);
    const size_t start = bol == std::string::npos ? 0 : bol + 1;
    const size_t slashes = s.find("//", start);
    return slashes != std::string::npos && slashes < i;
}

// Index one past the ')' matching the '(' at open.
size_t match_paren(const std::string& s, size_t open) {
    int depth = 0;
    for (size_t i = open; i < s.size(); ++i) {
        if (s[i] == '(') ++depth;
        if (s[i] == ')' && --depth == 0) return i + 1;
    }
    throw std::runtime_error("unbalanced parenthesis");
}

size_t skip_space(const std::string& s, size_t i) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    return i;
}

// The kernels defined in s, by name, with the launch attributes written on them.
std::map<std::string, Attrs> kernel_attrs(const std::string& s) {
    std::map<std::string, Attrs> out;
    const std::string key = "__global__";
    for (size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + 1)) {
        if (in_line_comment(s, at)) continue;
        size_t i = skip_space(s, at + key.size());
        if (s.compare(i, 4, "void") != 0) continue;
        i += 4;
        Attrs a;
        for (;;) {
            i = skip_space(s, i);
            size_t j = i;
            while (j < s.size() && ident_char(s[j])) ++j;
            const std::string word = s.substr(i, j - i);
            if (word == "__launch_bounds__" || word == "__cluster_dims__") {
                const size_t open = s.find('(', j);
                const size_t close = match_paren(s, open);
                const std::string args = s.substr(open + 1, close - open - 2);
                if (word == "__launch_bounds__")
                    a.max_threads =
                        std::string("(").append(args.substr(0, args.find(','))).append(")");
                else
                    a.cluster = args;
                i = close;
                continue;
            }
            if (!word.empty()) out[word] = a;
            break;
        }
    }
    return out;
}

// Start of the kernel expression that ends just before position end: an identifier, optionally
// qualified, optionally followed by template arguments.
size_t kernel_start(const std::string& s, size_t end) {
    size_t i = end;
    while (i > 0 && std::isspace(static_cast<unsigned char>(s[i - 1]))) --i;
    if (i > 0 && s[i - 1] == '>') {
        int depth = 0;
        while (i > 0) {
            --i;
            if (s[i] == '>') ++depth;
            if (s[i] == '<' && --depth == 0) break;
        }
    }
    while (i > 0 && (ident_char(s[i - 1]) || s[i - 1] == ':')) --i;
    return i;
}

std::string rewrite_launches(const std::string& s, const std::map<std::string, Attrs>& attrs) {
    std::string out;
    size_t copied = 0;
    for (size_t at = s.find("<<<"); at != std::string::npos; at = s.find("<<<", at + 3)) {
        if (in_line_comment(s, at)) continue;
        const size_t start = kernel_start(s, at);
        const size_t close = s.find(">>>", at);
        if (start < copied || close == std::string::npos)
            throw std::runtime_error("cannot parse the launch at offset " + std::to_string(at));
        std::string expr = s.substr(start, at - start);
        while (!expr.empty() && std::isspace(static_cast<unsigned char>(expr.back())))
            expr.pop_back();
        std::string name = expr.substr(0, expr.find('<'));
        const auto found =
            attrs.find(name.substr(name.rfind(':') == std::string::npos ? 0 : name.rfind(':') + 1));
        const Attrs a = found == attrs.end() ? Attrs{} : found->second;
        out += s.substr(copied, start - copied);
        out += "::simt::launch(::simt::Site{__FILE__, __LINE__}, ::simt::KernelAttrs{" +
               a.max_threads + ", {" + a.cluster + "}}, \"" + expr + "\", " + expr + ", ";
        out += s.substr(at + 3, close - at - 3);
        out += ")";
        copied = close + 3;
    }
    out += s.substr(copied);
    return out;
}

std::string rewrite_dynamic_shared(const std::string& s) {
    const std::string key = "extern __shared__";
    std::string out;
    size_t copied = 0;
    for (size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + 1)) {
        if (in_line_comment(s, at)) continue;
        const size_t semi = s.find(';', at);
        const std::string decl = s.substr(at + key.size(), semi - at - key.size());
        const size_t bracket = decl.rfind('[');
        size_t name_end = bracket;
        while (name_end > 0 && std::isspace(static_cast<unsigned char>(decl[name_end - 1])))
            --name_end;
        size_t name_begin = name_end;
        while (name_begin > 0 && ident_char(decl[name_begin - 1])) --name_begin;
        if (bracket == std::string::npos || name_begin == name_end)
            throw std::runtime_error("cannot parse the dynamic shared array at offset " +
                                     std::to_string(at));
        const std::string type = decl.substr(0, name_begin);
        const std::string name = decl.substr(name_begin, name_end - name_begin);
        out += s.substr(copied, at - copied);
        out += type + "* const " + name + " = ::simt::dynamic_smem<" + type + ">()";
        copied = semi;
    }
    out += s.substr(copied);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: simt_rewrite IN.cu OUT.cpp\n";
        return 2;
    }
    try {
        std::ifstream in(argv[1], std::ios::binary);
        if (!in) throw std::runtime_error("cannot read the input");
        std::ostringstream text;
        text << in.rdbuf();
        const std::string src = text.str();
        const std::string result = rewrite_dynamic_shared(rewrite_launches(src, kernel_attrs(src)));
        const std::string tmp = std::string(argv[2]) + ".tmp";
        {
            std::ofstream out(tmp, std::ios::binary);
            out << "#line 1 \"" << argv[1] << "\"\n" << result;
            if (!out) throw std::runtime_error("cannot write the output");
        }
        if (std::rename(tmp.c_str(), argv[2]) != 0) throw std::runtime_error("cannot rename");
    } catch (const std::exception& e) {
        std::cerr << "simt_rewrite " << argv[1] << ": " << e.what() << "\n";
        return 1;
    }
    return 0;
}
