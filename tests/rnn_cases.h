// Small recurrent models for the rnn_* suites: every dropout on (except the embedding's unless
// asked), so that masks are exercised, and sizes that make central differences cheap.
#pragma once

#include "models/rnn/model.h"

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

}  // namespace cudarts::test
