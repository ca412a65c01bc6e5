// The `cudarts` subcommands. Each parses its own flags (cxxopts) and returns an exit code; bad
// input throws InputError, which main() turns into one line and exit code 2.
#pragma once

namespace cxxopts {
class Options;
class ParseResult;
}  // namespace cxxopts

namespace cudarts::apps {

// Adds --help, parses argv with `opts` into `out`; prints the help and returns false when --help
// was given. A stray positional argument is an InputError.
bool parse_args(cxxopts::Options& opts, int argc, char** argv, cxxopts::ParseResult& out);

int run_subcommand(int argc, char** argv);  // argv[1] names the subcommand

// The architect's order from --order 1|2 and the reference's --unrolled (same as --order 2), or
// `current` when neither is given; InputError for another order.
bool second_order_flags(const cxxopts::ParseResult& args, bool current);

int cmd_inspect(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_search(int argc, char** argv);  // apps/search_cmd.cpp
int cmd_derive(int argc, char** argv);
int cmd_visualize(int argc, char** argv);   // apps/visualize_cmd.cpp
int cmd_train(int argc, char** argv);       // apps/train_cmd.cpp
int cmd_hpsearch(int argc, char** argv);    // apps/hpsearch_cmd.cpp
int cmd_enas_trial(int argc, char** argv);  // apps/enas_trial_cmd.cpp: Katib's ENAS trial
int cmd_enas(int argc, char** argv);        // apps/enas_cmd.cpp: the ENAS search
// The flags of search and train (hpsearch checks its parameter names against them).
cxxopts::Options search_options();
cxxopts::Options train_options();
int cmd_test(int argc, char** argv);
int cmd_bench(int argc, char** argv);       // apps/bench_cmd.cpp
int cmd_rnn_search(int argc, char** argv);  // apps/rnn_cmd.cpp: search, train, test --task rnn
int cmd_rnn_train(int argc, char** argv);
int cmd_rnn_test(int argc, char** argv);

}  // namespace cudarts::apps
