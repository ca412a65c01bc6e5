// Small recurrent models for the rnn_* suites: every dropout on (except the embedding's unless
// asked), so that masks are exercised, and sizes that make central differences cheap.
#pragma once

#include <fstream>
#include <string>
#include <tuple>

#include "data/text_corpus.h"
#include "models/rnn/model.h"
#include "tests/util.h"

namespace cudarts::test {

inline RnnModelConfig small_rnn(int64_t ntoken, int nhid, int steps, float dropoute = 0.f) {
    RnnModelConfig c;
    c.ntoken = ntoken;
    c.emsize = c.nhid = nhid;
    c.steps = steps;
    c.dropout = 0.3f;
    c.dropouth = 0.2f;
    c.dropoutx = 0.25f;
    c.dropouti = 0.1f;
    c.dropoute = dropoute;
    return c;
}

// Sentences "<subject> <verb> <object> ." from small word lists, in an order fixed by k, so the
// next word is predictable from the previous one far better than from the vocabulary (23 words).
inline std::string grammar_sentences(int count, int offset) {
    const char* subjects[] = {"the cat", "a dog", "the bird", "my friend", "our teacher"};
    const char* verbs[] = {"sees", "likes", "finds", "eats"};
    const char* objects[] = {"the fish", "a ball", "the old tree", "some bread", "a red car"};
    std::string text;
    for (int k = offset; k < offset + count; ++k)
        text += std::string(subjects[k % 5]) + " " + verbs[(k / 5) % 4] + " " +
                objects[(k * 3) % 5] + " .\n";
    return text;
}

// A corpus folder in `dir` with 600 training, 80 validation and 80 test grammar sentences.
inline TextCorpus small_corpus(const TempDir& dir) {
    for (const auto& [name, count, offset] :
         {std::tuple{"train.txt", 600, 0}, {"valid.txt", 80, 600}, {"test.txt", 80, 680}}) {
        std::ofstream f(dir.file(name));
        f << grammar_sentences(count, offset);
    }
    return load_text_corpus(dir.path.string());
}

}  // namespace cudarts::test
