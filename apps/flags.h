// Reading optional flags into an options struct: a flag that was given overrides the member, a
// flag that was not leaves the default (or a resumed run's value) alone.
#pragma once

#include <cxxopts.hpp>

namespace cudarts::apps {

template <class T>
void set_from_flag(const cxxopts::ParseResult& args, const char* flag, T& member) {
    if (args.count(flag)) member = args[flag].template as<T>();
}

// The data flags of the ENAS commands: --dataset, --data, --subset (no default: RunData reads them
// only when given) and --device.
inline void add_data_flags(cxxopts::Options& opts) {
    // clang-format off
    opts.add_options("data")
        ("dataset", "cifar10, cifar100, mnist, fashion-mnist, synthetic or folder (env CUDARTS_DATASET)",
         cxxopts::value<std::string>())
        ("data", "directory with the data set's files (env CUDARTS_DATA)", cxxopts::value<std::string>())
        ("subset", "use only the first N images of each split (0 = all)", cxxopts::value<int64_t>())
        ("device", "cpu, cuda, cuda:N or auto", cxxopts::value<std::string>()->default_value("auto"));
    // clang-format on
}

}  // namespace cudarts::apps
