// Reading optional flags into an options struct: a flag that was given overrides the member, a
// flag that was not leaves the default (or a resumed run's value) alone.
#pragma once

#include <cxxopts.hpp>

namespace cudarts::apps {

template <class T>
void set_from_flag(const cxxopts::ParseResult& args, const char* flag, T& member) {
    if (args.count(flag)) member = args[flag].template as<T>();
}

}  // namespace cudarts::apps
