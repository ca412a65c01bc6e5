// Penn Treebank-format text for the recurrent search (reference/darts.md 7.5): a folder with a
// training, a validation and a test split, one sentence per line, words separated by whitespace.
// Each line becomes its words plus `<eos>`; ids are given by first occurrence while reading train,
// then valid, then test, exactly as the reference's data.py (Dictionary, Corpus.tokenize), so a
// checkpoint's embedding rows line up with the reference's on the same files. Lines end at "\n",
// "\r\n" or "\r" and words are split at the characters Python's str.split() splits at (ASCII
// whitespace, U+001C..U+001F, U+0085, U+00A0 and the Unicode spaces); a byte-order mark stays part
// of the first word, as it does there. Batchify and segments follow 7.5; the training seq_len draw
// follows 7.4, from the Philox stream so that a resumed run draws the same lengths.
// Every problem with a file is one InputError naming the file (and line) and what was expected.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace cudarts {

// word -> id, looked up by std::string_view without building a string.
struct WordHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using WordIds = std::unordered_map<std::string, int32_t, WordHash, std::equal_to<>>;

struct TextCorpus {
    std::string dir;                                // the folder read
    std::string train_file, valid_file, test_file;  // the paths read, for messages
    std::vector<std::string> words;                 // id -> word, in first-occurrence order
    WordIds ids;                                    // word -> id
    std::vector<int32_t> train, valid, test;        // the token streams
    int32_t vocab_size() const { return int32_t(words.size()); }
    // The id of `word`, or -1 when the corpus never uses it.
    int32_t id_of(const std::string& word) const;
};

// Largest split file read (the default corpus's train.txt is 2 MB, WikiText-103's 540 MB) and
// longest line (WikiText's longest paragraph is some 30 KB): beyond them the file is refused as not
// a corpus before anything else is allocated.
constexpr uint64_t kMaxCorpusFileBytes = uint64_t(1) << 30;
constexpr int64_t kMaxCorpusLineBytes = int64_t(1) << 20;

// Reads `dir`: each split from the first of `<split>.txt`, `ptb.<split>.txt` (the reference's and
// Mikolov's names) and `wiki.<split>.tokens` (WikiText-2's) that exists, split in train, valid,
// test. An empty `dir` reads default_text_corpus_dir(). InputError (one line) for: a folder that
// is missing or not a folder, a split with none of its names, a file that is not a regular file
// (engine/fileio.h), empty, larger than kMaxCorpusFileBytes, holding a NUL byte, a line longer
// than kMaxCorpusLineBytes or bytes that are not UTF-8 (each naming the line).
TextCorpus load_text_corpus(const std::string& dir);

// The folder the build generates from Debian's fortunes (scripts/make-ptb-corpus, CMakeLists.txt):
// <build>/text-corpus as configured, else text-corpus/ beside the running executable (a build
// folder that moved); "" when neither holds train.txt, valid.txt and test.txt.
std::string default_text_corpus_dir();

// The reference's batchify(data, bsz): the stream truncated to rows * bsz tokens, rows =
// size / bsz, laid out as bsz contiguous columns of an int32 (rows, bsz) CPU tensor, so that
// element (r, b) is data[b * rows + r] (PyTorch's data.view(bsz, -1).t()). InputError naming
// `what` when fewer than 2 rows result: no segment (input and target) could be cut from it.
Tensor batchify(const std::vector<int32_t>& data, int64_t bsz, const std::string& what);

// get_batch(source, i, seq_len): len = min(seq_len, rows - 1 - i); input is rows [i, i + len) as a
// (len, bsz) tensor and target rows [i + 1, i + 1 + len) flattened time-major, (len * bsz). Both
// are views of `source` (no copy). 0 <= i < rows - 1 and seq_len >= 1, else Error (a caller bug).
struct TextSegment {
    Tensor input, target;
    int64_t len = 0;
};
TextSegment get_batch(const Tensor& source, int64_t i, int64_t seq_len);

// The per-batch training sequence length (reference/darts.md 7.4):
//   kSearch (train_search.py): bptt with probability 0.95, else int(bptt / 2).
//   kTrain (train.py): base = bptt with probability 0.95, else bptt / 2 (a real number);
//     seq_len = max(5, int(N(base, 5))) and at most bptt + max_delta (the reference's 20).
// A pure function of the Philox stream (seed, offset): u_0 = philox::uniform(seed, offset, 0)
// decides (u_0 < 0.95 keeps bptt), z = sqrt(-2 log(1 - u_1)) cos(2 pi u_2) in double is the normal.
enum class SeqLenRule { kSearch, kTrain };
int64_t draw_seq_len(uint64_t seed, uint64_t offset, int64_t bptt, SeqLenRule rule,
                     int64_t max_delta = 20);
// The same draw at the generator's current (seed, offset), which it then advances by one, so a
// checkpoint of the generator's state resumes the sequence of lengths exactly.
int64_t draw_seq_len(Generator& gen, int64_t bptt, SeqLenRule rule, int64_t max_delta = 20);
// One epoch's segment lengths over a training stream of `rows` rows, as both reference loops walk
// it: drawn from `gen` while the rows covered so far are fewer than rows - 2.
std::vector<int64_t> draw_epoch_seq_lens(Generator& gen, int64_t rows, int64_t bptt,
                                         SeqLenRule rule, int64_t max_delta = 20);

// The training split batchified at `bsz` on `dev`, with at least the 3 rows one training step needs
// (InputError naming the file otherwise).
Tensor training_rows(const TextCorpus& corpus, int64_t bsz, Device dev);

}  // namespace cudarts
