// Text corpora (data/text_corpus.h): small Penn Treebank-format folders written here, read back
// token by token against what the reference's data.py gives for them (ids by first occurrence over
// train, valid, test; <eos> per line; Python's line ends and whitespace); batchify and get_batch on
// streams whose every element is known; the seq_len draws against their definition; one broken
// file per rule the loader enforces, each a one-line InputError naming the file; and the embedded
// default corpus when the build generated it.
#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "data/text_corpus.h"
#include "kernels/check.h"
#include "kernels/philox.h"
#include "tests/util.h"

using namespace cudarts;
using cudarts::test::error_of;
using cudarts::test::TempDir;
namespace fs = std::filesystem;
using namespace std::string_literals;

namespace {

void write_text(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    REQUIRE(f.good());
}

// A folder with the three splits under the reference's names.
void write_corpus(const TempDir& dir, const std::string& train, const std::string& valid,
                  const std::string& test) {
    write_text(dir.file("train.txt"), train);
    write_text(dir.file("valid.txt"), valid);
    write_text(dir.file("test.txt"), test);
}

std::vector<int32_t> ints(const Tensor& t) {
    return std::vector<int32_t>(t.i32(), t.i32() + t.numel());
}

std::vector<int32_t> iota(int32_t n) {
    std::vector<int32_t> v(size_t(n), 0);
    for (int32_t k = 0; k < n; ++k) v[size_t(k)] = k;
    return v;
}

}  // namespace

TEST_SUITE("text") {
    TEST_CASE("text: ids by first occurrence over train, valid, test, and <eos> ends each line") {
        TempDir tmp("text_ids");
        // Blank lines give a lone <eos>; \r\n and a lone \r end lines (Python's universal
        // newlines); a last line without a newline counts; U+00A0 separates words, U+200B does not.
        write_corpus(tmp, "the cat sat\n\nthe  dog\n", "a dog\tran\r\nthe end",
                     "ran\rfast <unk>\ncaf\xc3\xa9\xc2\xa0x y\xe2\x80\x8bz\n");
        const TextCorpus c = load_text_corpus(tmp.path.string());
        CHECK(c.words == std::vector<std::string>{"the", "cat", "sat", "<eos>", "dog", "a", "ran",
                                                  "end", "fast", "<unk>", "caf\xc3\xa9", "x",
                                                  "y\xe2\x80\x8bz"});
        CHECK(c.vocab_size() == 13);
        CHECK(c.train == std::vector<int32_t>{0, 1, 2, 3, 3, 0, 4, 3});
        CHECK(c.valid == std::vector<int32_t>{5, 4, 6, 3, 0, 7, 3});
        CHECK(c.test == std::vector<int32_t>{6, 3, 8, 9, 3, 10, 11, 12, 3});
        CHECK(c.id_of("dog") == 4);
        CHECK(c.id_of("<unk>") == 9);
        CHECK(c.id_of("bird") == -1);
        CHECK(c.train_file == tmp.file("train.txt"));
    }

    TEST_CASE("text: ptb.*.txt and WikiText-2's wiki.*.tokens are read, train.txt preferred") {
        TempDir tmp("text_names");
        write_text(tmp.file("ptb.train.txt"), "b a\n");
        write_text(tmp.file("ptb.valid.txt"), "a c\n");
        write_text(tmp.file("wiki.test.tokens"), " = d = \n");
        TextCorpus c = load_text_corpus(tmp.path.string());
        CHECK(c.words == std::vector<std::string>{"b", "a", "<eos>", "c", "=", "d"});
        CHECK(c.test == std::vector<int32_t>{4, 5, 4, 2});
        CHECK(c.test_file == tmp.file("wiki.test.tokens"));
        write_text(tmp.file("train.txt"), "z\n");
        c = load_text_corpus(tmp.path.string());
        CHECK(c.train_file == tmp.file("train.txt"));
        CHECK(c.words.front() == "z");
    }

    TEST_CASE("text: batchify trims to a multiple of the batch and lays the stream in columns") {
        // 11 tokens at batch 3: 3 rows, token 9 and 10 dropped, column b holds [3b, 3b + 3).
        const Tensor t = batchify(iota(11), 3, "train.txt");
        CHECK(t.shape() == Shape{3, 3});
        CHECK(t.dtype() == DType::kI32);
        CHECK(ints(t) == std::vector<int32_t>{0, 3, 6, 1, 4, 7, 2, 5, 8});
        const Tensor one = batchify(iota(5), 1, "test.txt");  // the test protocol's batch 1
        CHECK(one.shape() == Shape{5, 1});
        CHECK(ints(one) == iota(5));
        CHECK(error_of([] { batchify(iota(5), 3, "valid.txt"); }) ==
              "valid.txt: 5 tokens give 1 rows at batch size 3 (expected at least 6 tokens: 2 "
              "rows, an input and its target)");
        CHECK(error_of([] { batchify(iota(5), 0, "valid.txt"); }) ==
              "valid.txt: batch size 0 (expected at least 1)");
    }

    TEST_CASE("text: get_batch cuts inputs and time-major targets, shorter at the last rows") {
        // 20 tokens at batch 2: 10 rows, columns 0..9 and 10..19, so row r is (r, r + 10).
        const Tensor src = batchify(iota(20), 2, "train.txt");
        TextSegment s = get_batch(src, 0, 4);
        CHECK(s.len == 4);
        CHECK(s.input.shape() == Shape{4, 2});
        CHECK(s.target.shape() == Shape{8});
        CHECK(ints(s.input) == std::vector<int32_t>{0, 10, 1, 11, 2, 12, 3, 13});
        CHECK(ints(s.target) == std::vector<int32_t>{1, 11, 2, 12, 3, 13, 4, 14});
        CHECK(s.input.i32() == src.i32());  // views, no copy
        CHECK(s.target.i32() == src.i32() + 2);

        s = get_batch(src, 7, 35);  // min(35, 10 - 1 - 7) = 2
        CHECK(s.len == 2);
        CHECK(ints(s.input) == std::vector<int32_t>{7, 17, 8, 18});
        CHECK(ints(s.target) == std::vector<int32_t>{8, 18, 9, 19});
        s = get_batch(src, 8, 35);  // the last segment: one row, its target the last row
        CHECK(s.len == 1);
        CHECK(ints(s.input) == std::vector<int32_t>{8, 18});
        CHECK(ints(s.target) == std::vector<int32_t>{9, 19});
        // The evaluation loop's segments at 0, 3, 6, 9 of a 10-row source cover every target once.
        int64_t covered = 0;
        for (int64_t i = 0; i < src.size(0) - 1; i += 3) covered += get_batch(src, i, 3).len;
        CHECK(covered == 9);
        CHECK_THROWS_AS(get_batch(src, 9, 1), Error);  // no target row left
        CHECK_THROWS_AS(get_batch(src, 0, 0), Error);
    }

    TEST_CASE("text: the seq_len draws follow the reference's rules and repeat from the stream") {
        constexpr uint64_t seed = 2024;
        int search_full = 0, below = 0, above = 0;
        double sum = 0;
        constexpr int n = 20000;
        for (uint64_t off = 0; off < n; ++off) {
            const bool full = double(philox::uniform(seed, off, 0)) < 0.95;
            const int64_t s = draw_seq_len(seed, off, 35, SeqLenRule::kSearch);
            CHECK(s == (full ? 35 : 17));  // int(35 / 2.) = 17
            search_full += s == 35;
            const int64_t t = draw_seq_len(seed, off, 35, SeqLenRule::kTrain);
            // max(5, int(N(base, 5))) capped at 35 + 20, from the draw's own uniforms.
            const double base = full ? 35.0 : 17.5;
            const double z =
                std::sqrt(-2.0 * std::log(1.0 - double(philox::uniform(seed, off, 1)))) *
                std::cos(2.0 * M_PI * double(philox::uniform(seed, off, 2)));
            CHECK(t == std::min<int64_t>(std::max<int64_t>(5, int64_t(base + 5.0 * z)), 55));
            CHECK(t >= 5);
            CHECK(t <= 55);
            below += t < 30;
            above += t > 40;
            sum += double(t);
        }
        // P(full) = 0.95: 19000 of 20000, sd 31.
        CHECK(search_full > 18850);
        CHECK(search_full < 19150);
        // E[int(N(base, 5))] ~ 0.95 * 35 + 0.05 * 17.5 - 0.5 (truncation) = 33.625.
        CHECK(sum / n > 33.4);
        CHECK(sum / n < 33.85);
        CHECK(below > 1000);
        CHECK(above > 1000);

        // The generator form draws at its (seed, offset) and advances it by one.
        Generator g(seed, 100);
        std::vector<int64_t> a;
        for (int k = 0; k < 50; ++k) a.push_back(draw_seq_len(g, 35, SeqLenRule::kTrain));
        CHECK(g.offset() == 150);
        Generator resumed(seed, 125);
        for (int k = 25; k < 50; ++k)
            CHECK(draw_seq_len(resumed, 35, SeqLenRule::kTrain) == a[size_t(k)]);
        CHECK(a[0] == draw_seq_len(seed, 100, 35, SeqLenRule::kTrain));

        // Small bptt: the cap bptt + 20 and the floor 5; search's int(1 / 2.) = 0 falls back to 1.
        for (uint64_t off = 0; off < 2000; ++off) {
            const int64_t t = draw_seq_len(seed, off, 2, SeqLenRule::kTrain);
            CHECK(t >= 5);
            CHECK(t <= 22);
            CHECK(draw_seq_len(seed, off, 1, SeqLenRule::kSearch) == 1);
        }
    }

    TEST_CASE("text: an epoch's lengths cover the rows as the reference's loops walk them") {
        for (const int64_t rows : {3, 4, 40, 1000}) {
            CAPTURE(rows);
            Generator g(7, 0), same(7, 0);
            const std::vector<int64_t> lens =
                draw_epoch_seq_lens(g, rows, 35, SeqLenRule::kTrain, 20);
            // The loop draws while the row reached is below rows - 2, one draw per step.
            int64_t at = 0;
            for (const int64_t len : lens) {
                CHECK(at < rows - 2);
                CHECK(len == draw_seq_len(same, 35, SeqLenRule::kTrain, 20));
                at += len;
            }
            CHECK(at >= rows - 2);
            CHECK(g.offset() == lens.size());
        }
        Generator g(7, 0);
        CHECK(draw_epoch_seq_lens(g, 2, 35, SeqLenRule::kSearch).empty());
    }

    TEST_CASE("text: the training rows must hold one training step") {
        const TempDir tmp("text_rows");
        write_corpus(tmp, "a b c d e\n", "a b\n", "a b\n");  // 6 tokens with <eos>
        const TextCorpus c = load_text_corpus(tmp.path.string());
        CHECK(training_rows(c, 2, Device::cpu()).size(0) == 3);
        CHECK(error_of([&] { training_rows(c, 3, Device::cpu()); }) ==
              c.train_file +
                  ": 2 rows at batch size 3 (expected at least 3 for one training step)");
    }

    TEST_CASE("text: every bad folder or file is one line naming it and what was expected") {
        TempDir tmp("text_bad");
        const std::string dir = tmp.path.string();
        const std::string folder =
            "expected a folder holding train.txt, valid.txt and test.txt (or ptb.*.txt, "
            "wiki.*.tokens)";
        CHECK(error_of([&] { load_text_corpus(tmp.file("nope")); }) ==
              tmp.file("nope") + ": missing (" + folder + ")");
        write_text(tmp.file("plain"), "a\n");
        CHECK(error_of([&] { load_text_corpus(tmp.file("plain")); }) ==
              tmp.file("plain") + ": not a folder (" + folder + ")");

        write_text(tmp.file("train.txt"), "a b\n");
        write_text(tmp.file("test.txt"), "a\n");
        CHECK(error_of([&] { load_text_corpus(dir); }) ==
              tmp.file("valid.txt") +
                  ": missing (expected the validation split as valid.txt, ptb.valid.txt or "
                  "wiki.valid.tokens)");

        // A FIFO (never opened for writing: a blocking open would hang) and a directory.
        REQUIRE(mkfifo(tmp.file("valid.txt").c_str(), 0600) == 0);
        CHECK(error_of([&] { load_text_corpus(dir); }) ==
              tmp.file("valid.txt") + ": not a regular file (a FIFO)");
        fs::remove(tmp.file("valid.txt"));
        fs::create_directory(tmp.file("valid.txt"));
        CHECK(error_of([&] { load_text_corpus(dir); }) ==
              tmp.file("valid.txt") + ": not a regular file (a directory)");
        fs::remove(tmp.file("valid.txt"));

        const std::string valid = tmp.file("valid.txt");
        auto with_valid = [&](const std::string& text) {
            write_text(valid, text);
            return error_of([&] { load_text_corpus(dir); });
        };
        CHECK(with_valid("") ==
              valid + ": empty (expected one sentence per line, words separated by whitespace)");
        CHECK(with_valid("a\nb\0c\n"s) ==
              valid + ": line 2: NUL byte (expected text, not a binary file)");
        CHECK(with_valid("a\n\nab c\xff\n") ==
              valid + ": line 3, byte 5: not UTF-8 (0xff; expected UTF-8 text)");
        CHECK(with_valid("\xc0\xaf\n") ==  // an overlong '/'
              valid + ": line 1, byte 1: not UTF-8 (0xc0; expected UTF-8 text)");
        CHECK(with_valid("x \xed\xa0\x80\n") ==  // a surrogate, U+D800
              valid + ": line 1, byte 3: not UTF-8 (0xed; expected UTF-8 text)");
        CHECK(with_valid("a\r\nb \xe2\x82") ==  // a code point cut off by the end of the file
              valid + ": line 2, byte 3: not UTF-8 (0xe2; expected UTF-8 text)");
        CHECK(with_valid("\xf4\x90\x80\x80\n") ==  // above U+10FFFF
              valid + ": line 1, byte 1: not UTF-8 (0xf4; expected UTF-8 text)");

        // The longest line allowed reads; one byte more is refused.
        std::string line(size_t(kMaxCorpusLineBytes), 'w');
        write_text(valid, "a\n" + line + "\n");
        CHECK(load_text_corpus(dir).valid.size() == 4);
        CHECK(with_valid("a\n" + line + "w\n") ==
              valid + ": line 2 is longer than 1048576 bytes (expected one sentence per line)");

        // Too large: refused from its size before a byte is read (a sparse file costs no disk).
        write_text(valid, "a\n");
        fs::resize_file(valid, kMaxCorpusFileBytes + 1);
        CHECK(error_of([&] { load_text_corpus(dir); }) ==
              valid + ": 1073741825 bytes (expected a text corpus of at most 1073741824 bytes)");
    }

    TEST_CASE("text: the embedded default corpus has PTB's vocabulary size and three splits") {
        const std::string dir = default_text_corpus_dir();
        if (dir.empty()) {
            MESSAGE("no default text corpus (Debian's fortunes, scripts/make-ptb-corpus): skipped");
            return;
        }
        const TextCorpus c = load_text_corpus("");
        CHECK(c.dir == dir);
        CHECK(c.vocab_size() <= 10001);
        CHECK(c.vocab_size() >= 5000);
        CHECK(c.id_of("<eos>") >= 0);
        CHECK(c.id_of("<unk>") >= 0);
        CHECK(c.id_of("N") >= 0);
        CHECK(c.id_of("the") >= 0);
        // 80/10/10 by line: train about 8 times each of the others, none empty.
        CHECK(c.train.size() > 100000);
        CHECK(c.valid.size() * 6 < c.train.size());
        CHECK(c.test.size() * 6 < c.train.size());
        CHECK(c.valid.size() * 10 > c.train.size());
        CHECK(c.test.size() * 10 > c.train.size());
        // Lower-cased, punctuation gone: no capital letters or commas in any word.
        for (const std::string& w : c.words) {
            if (w == "N") continue;
            CHECK_MESSAGE(
                w.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ,.;:!?\"()") == std::string::npos, w);
        }
        // The search's batches fit: PTB valid at batch 256 has rows to spare, as here.
        CHECK(batchify(c.valid, 256, c.valid_file).size(0) > 35);
    }
}  // TEST_SUITE
