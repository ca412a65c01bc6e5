// The `cudarts` subcommands. Each parses its own flags (cxxopts) and returns an exit code; bad
// input throws InputError, which main() turns into one line and exit code 2.
#pragma once

namespace cudarts::apps {

int run_subcommand(int argc, char** argv);  // argv[1] names the subcommand

int cmd_demo(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_info(int argc, char** argv);

}  // namespace cudarts::apps
