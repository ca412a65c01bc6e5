// Penn Treebank-format corpus folders, batchify, segments and the seq_len draw (text_corpus.h).
// A split file is read whole (bounded by kMaxCorpusFileBytes, checked on the open descriptor before
// a byte is read) and scanned once: UTF-8 is validated code point by code point as Python's strict
// decoder does, so every file the reference accepts reads here with the same words, and every file
// it rejects is refused with the line it fails on. Allocation follows the file: the word table and
// the token stream grow with what the bytes hold, never with a count the file claims.
#include "data/text_corpus.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numbers>
#include <string_view>

#include "engine/fileio.h"
#include "kernels/check.h"
#include "kernels/philox.h"

namespace cudarts {

namespace fs = std::filesystem;

namespace {

constexpr const char* kEos = "<eos>";

// What a folder must hold, for messages.
constexpr const char* kExpectedFolder =
    "expected a folder holding train.txt, valid.txt and test.txt (or ptb.*.txt, wiki.*.tokens)";

struct Split {
    const char* name;  // "train"
    const char* what;  // "training"
};

// The first of the split's names that exists in `dir` (a directory or a FIFO there counts: the
// reader then refuses it by name); "" when none does.
std::string find_split_file(const fs::path& dir, const Split& s) {
    const std::string n = s.name;
    for (const std::string& file : {n + ".txt", "ptb." + n + ".txt", "wiki." + n + ".tokens"}) {
        std::error_code ec;
        const fs::path p = dir / file;
        if (fs::exists(p, ec)) return p.string();
    }
    return "";
}

// Decodes the code point at bytes[i] as Python's strict UTF-8 decoder does (no overlong forms, no
// surrogates, nothing above U+10FFFF); returns its length in bytes, 0 when the bytes are not UTF-8.
int utf8_decode(const uint8_t* p, size_t avail, uint32_t& cp) {
    const uint8_t b = p[0];
    if (b < 0x80) {
        cp = b;
        return 1;
    }
    int len = 0;
    uint8_t lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (b >= 0xC2 && b <= 0xDF) {
        len = 2;
        cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        len = 3;
        cp = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;  // overlong below U+0800
        if (b == 0xED) hi = 0x9F;  // U+D800..U+DFFF are surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4;
        cp = b & 0x07;
        if (b == 0xF0) lo = 0x90;  // overlong below U+10000
        if (b == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
        return 0;
    }
    if (avail < size_t(len)) return 0;
    for (int k = 1; k < len; ++k) {
        const uint8_t c = p[k];
        if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return 0;
        cp = (cp << 6) | (c & 0x3F);
    }
    return len;
}

// Python's str.isspace() minus the line ends, which the scan handles first: what str.split() splits
// at inside a line.
bool is_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string hex_byte(uint8_t b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", b);
    return buf;
}

class Tokenizer {
public:
    explicit Tokenizer(TextCorpus& c) : c_(c) {}

    // Reads `path` and appends its tokens to `out`, adding new words to the corpus's table.
    void read(const std::string& path, std::vector<int32_t>& out) {
        const uint64_t size = open_input_file(path).size();  // refuses FIFOs, devices, folders
        if (size > kMaxCorpusFileBytes) too_large(path, size);
        const std::vector<uint8_t> bytes = read_file(path);
        if (bytes.size() > kMaxCorpusFileBytes) too_large(path, bytes.size());
        if (bytes.empty())
            throw InputError(path +
                             ": empty (expected one sentence per line, words separated by "
                             "whitespace)");
        const uint8_t* p = bytes.data();
        const size_t n = bytes.size();
        int64_t line = 1;
        size_t line_start = 0, word_start = 0, i = 0;
        bool in_word = false;
        auto end_word = [&](size_t end) {
            if (in_word)
                out.push_back(add(std::string_view(reinterpret_cast<const char*>(p) + word_start,
                                                   end - word_start)));
            in_word = false;
        };
        while (i < n) {
            const uint8_t b = p[i];
            if (b == '\n' || b == '\r') {  // Python's universal newlines: \n, \r\n and \r
                end_word(i);
                out.push_back(add(kEos));
                i += (b == '\r' && i + 1 < n && p[i + 1] == '\n') ? 2 : 1;
                line_start = i;
                ++line;
                continue;
            }
            if (int64_t(i - line_start) >= kMaxCorpusLineBytes)
                throw InputError(path + ": line " + std::to_string(line) + " is longer than " +
                                 std::to_string(kMaxCorpusLineBytes) +
                                 " bytes (expected one sentence per line)");
            if (b == 0)
                throw InputError(path + ": line " + std::to_string(line) +
                                 ": NUL byte (expected text, not a binary file)");
            uint32_t cp = 0;
            const int len = utf8_decode(p + i, n - i, cp);
            if (len == 0)
                throw InputError(path + ": line " + std::to_string(line) + ", byte " +
                                 std::to_string(i - line_start + 1) + ": not UTF-8 (" +
                                 hex_byte(b) + "; expected UTF-8 text)");
            if (is_space(cp)) {
                end_word(i);
            } else if (!in_word) {
                in_word = true;
                word_start = i;
            }
            i += size_t(len);
        }
        if (line_start < n) {  // a last line without its newline still counts
            end_word(n);
            out.push_back(add(kEos));
        }
    }

private:
    int32_t add(std::string_view w) {
        const auto it = c_.ids.find(w);  // no string is built for a word already known
        if (it != c_.ids.end()) return it->second;
        const int32_t id = int32_t(c_.words.size());
        c_.words.emplace_back(w);
        c_.ids.emplace(std::string(w), id);
        return id;
    }

    [[noreturn]] static void too_large(const std::string& path, uint64_t size) {
        throw InputError(path + ": " + std::to_string(size) +
                         " bytes (expected a text corpus of at most " +
                         std::to_string(kMaxCorpusFileBytes) + " bytes)");
    }

    TextCorpus& c_;
};

bool has_splits(const fs::path& dir) {
    std::error_code ec;
    for (const char* f : {"train.txt", "valid.txt", "test.txt"})
        if (!fs::is_regular_file(dir / f, ec)) return false;
    return true;
}

}  // namespace

int32_t TextCorpus::id_of(const std::string& word) const {
    const auto it = ids.find(word);
    return it == ids.end() ? -1 : it->second;
}

TextCorpus load_text_corpus(const std::string& dir_arg) {
    std::string dir = dir_arg;
    if (dir.empty()) {
        dir = default_text_corpus_dir();
        if (dir.empty())
            throw InputError(
                "text corpus: no data directory given and the embedded default is not built "
                "(expected <build>/text-corpus, made by ./scripts/build from Debian's fortunes "
                "after ./scripts/setup)");
    }
    std::error_code ec;
    if (!fs::exists(dir, ec)) throw InputError(dir + ": missing (" + kExpectedFolder + ")");
    if (!fs::is_directory(dir, ec))
        throw InputError(dir + ": not a folder (" + kExpectedFolder + ")");

    TextCorpus c;
    c.dir = dir;
    const Split splits[3] = {{"train", "training"}, {"valid", "validation"}, {"test", "test"}};
    std::string* files[3] = {&c.train_file, &c.valid_file, &c.test_file};
    std::vector<int32_t>* streams[3] = {&c.train, &c.valid, &c.test};
    for (int s = 0; s < 3; ++s) {
        *files[s] = find_split_file(dir, splits[s]);
        if (files[s]->empty()) {
            const std::string n = splits[s].name;
            throw InputError((fs::path(dir) / (n + ".txt")).string() + ": missing (expected the " +
                             splits[s].what + " split as " + n + ".txt, ptb." + n +
                             ".txt or wiki." + n + ".tokens)");
        }
    }
    // Only once all three are known to exist: a missing test split fails before the reading.
    Tokenizer tok(c);
    for (int s = 0; s < 3; ++s) tok.read(*files[s], *streams[s]);
    return c;
}

std::string default_text_corpus_dir() {
    std::vector<fs::path> candidates;
#ifdef CUDARTS_TEXT_CORPUS_DIR
    candidates.emplace_back(CUDARTS_TEXT_CORPUS_DIR);
#endif
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) candidates.push_back(exe.parent_path() / "text-corpus");
    for (const fs::path& dir : candidates)
        if (has_splits(dir)) return dir.string();
    return "";
}

Tensor batchify(const std::vector<int32_t>& data, int64_t bsz, const std::string& what) {
    if (bsz < 1)
        throw InputError(what + ": batch size " + std::to_string(bsz) + " (expected at least 1)");
    const int64_t n = int64_t(data.size());
    const int64_t rows = n / bsz;
    if (rows < 2)
        throw InputError(what + ": " + std::to_string(n) + " tokens give " + std::to_string(rows) +
                         " rows at batch size " + std::to_string(bsz) + " (expected at least " +
                         std::to_string(2 * bsz) + " tokens: 2 rows, an input and its target)");
    Tensor t = Tensor::empty({rows, bsz}, Device::cpu(), DType::kI32);
    int32_t* out = t.i32();
    for (int64_t b = 0; b < bsz; ++b)
        for (int64_t r = 0; r < rows; ++r) out[r * bsz + b] = data[size_t(b * rows + r)];
    return t;
}

TextSegment get_batch(const Tensor& source, int64_t i, int64_t seq_len) {
    CUDARTS_CHECK(source.defined() && source.ndim() == 2 && source.dtype() == DType::kI32,
                  "get_batch: needs a batchified (rows, bsz) int32 tensor");
    const int64_t rows = source.size(0), bsz = source.size(1);
    CUDARTS_CHECK(i >= 0 && i < rows - 1 && seq_len >= 1,
                  "get_batch: row " << i << ", seq_len " << seq_len << " in " << rows << " rows");
    TextSegment seg;
    seg.len = std::min(seq_len, rows - 1 - i);
    seg.input = source.view(i * bsz, {seg.len, bsz});
    seg.target = source.view((i + 1) * bsz, {seg.len * bsz});
    return seg;
}

int64_t draw_seq_len(uint64_t seed, uint64_t offset, int64_t bptt, SeqLenRule rule,
                     int64_t max_delta) {
    CUDARTS_CHECK(bptt >= 1, "draw_seq_len: bptt " << bptt);
    const bool full = double(philox::uniform(seed, offset, 0)) < 0.95;
    if (rule == SeqLenRule::kSearch) {
        // int(bptt / 2.); a 0 (bptt = 1) makes the reference's get_batch fall back to bptt.
        const int64_t len = full ? bptt : bptt / 2;
        return len > 0 ? len : bptt;
    }
    const double base = full ? double(bptt) : double(bptt) / 2.0;
    const double u1 = philox::uniform(seed, offset, 1);
    const double u2 = philox::uniform(seed, offset, 2);
    const double z = std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * std::numbers::pi * u2);
    // int() truncates toward zero; |z| < 6 (24-bit uniforms), so the cast cannot overflow.
    const int64_t drawn = int64_t(std::trunc(base + 5.0 * z));
    return std::min(std::max<int64_t>(5, drawn), bptt + max_delta);
}

int64_t draw_seq_len(Generator& gen, int64_t bptt, SeqLenRule rule, int64_t max_delta) {
    const int64_t len = draw_seq_len(gen.seed(), gen.offset(), bptt, rule, max_delta);
    gen.set_state(gen.seed(), gen.offset() + 1);
    return len;
}

std::vector<int64_t> draw_epoch_seq_lens(Generator& gen, int64_t rows, int64_t bptt,
                                         SeqLenRule rule, int64_t max_delta) {
    std::vector<int64_t> lens;
    for (int64_t i = 0; i < rows - 2; i += lens.back())
        lens.push_back(draw_seq_len(gen, bptt, rule, max_delta));
    return lens;
}

Tensor training_rows(const TextCorpus& corpus, int64_t bsz, Device dev) {
    Tensor rows = batchify(corpus.train, bsz, corpus.train_file);
    if (rows.size(0) < 3)
        throw InputError(corpus.train_file + ": " + std::to_string(rows.size(0)) +
                         " rows at batch size " + std::to_string(bsz) +
                         " (expected at least 3 for one training step)");
    return rows.to(dev);
}

}  // namespace cudarts
