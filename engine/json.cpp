// engine/json.h over nlohmann's callback parser. That parser keeps its open containers on a heap
// stack rather than recursing, and it calls back on every container start with the current depth,
// so the depth cap fires before a deep value is built. Refusals from the callback leave through
// a private exception type, caught here and turned into the one-line InputError.
#include "engine/json.h"

#include <algorithm>
#include <set>
#include <vector>

#include "kernels/check.h"

namespace cudarts {

namespace {

using nlohmann::json;

struct Refused {
    std::string problem;
};

// nlohmann's message without its "[json.exception.parse_error.101] " tag, with the quoted token
// ("last read: '...'", "parsing '...'") cut to kMaxQuoted characters: a token can be the whole
// input.
std::string library_message(std::string msg) {
    const size_t tag = msg.find("] ");
    if (msg.rfind("[json.exception.", 0) == 0 && tag != std::string::npos) msg.erase(0, tag + 2);
    const size_t open = msg.find('\''), close = msg.rfind('\'');
    if (open != std::string::npos && close > open)
        msg = msg.substr(0, open + 1) + quote_input(msg.substr(open + 1, close - open - 1)) +
              msg.substr(close);
    return msg;
}

}  // namespace

std::string quote_input(std::string_view text) {
    std::string out(text.substr(0, kMaxQuoted));
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    if (text.size() > kMaxQuoted) out += "...";
    return out;
}

std::string quote_json(const json& v) { return quote_input(v.dump()); }

std::optional<std::string> unknown_key(const json& obj,
                                       std::initializer_list<const char*> allowed) {
    if (!obj.is_object()) return std::nullopt;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        const std::string& key = it.key();  // a plain name: clang 14 cannot capture a binding
        if (std::none_of(allowed.begin(), allowed.end(), [&](const char* k) { return key == k; }))
            return key;
    }
    return std::nullopt;
}

std::string name_list(std::initializer_list<const char*> names) {
    std::string s;
    for (const char* n : names) s += std::string(s.empty() ? "" : ", ") + n;
    return s;
}

json parse_json(std::string_view text, const std::string& what, const std::string& expected) {
    // One set of keys per open object, to see the duplicates that parsing would merge.
    std::vector<std::set<std::string>> open;
    const json::parser_callback_t watch = [&](int depth, json::parse_event_t ev, json& parsed) {
        switch (ev) {
            case json::parse_event_t::object_start:
            case json::parse_event_t::array_start:
                if (depth >= kMaxJsonDepth)
                    throw Refused{"nests deeper than " + std::to_string(kMaxJsonDepth) + " levels"};
                if (ev == json::parse_event_t::object_start) open.emplace_back();
                break;
            case json::parse_event_t::object_end:
                open.pop_back();
                break;
            case json::parse_event_t::key:
                if (!open.back().insert(parsed.get<std::string>()).second)
                    throw Refused{"has the key '" + quote_input(parsed.get<std::string>()) +
                                  "' twice in one object"};
                break;
            default:
                break;
        }
        return true;
    };
    std::string problem;
    try {
        return json::parse(text.begin(), text.end(), watch);
    } catch (const Refused& r) {
        problem = r.problem;
    } catch (const json::parse_error& e) {
        if (!expected.empty())
            throw InputError(what + ": expected " + expected + ": " + library_message(e.what()));
        problem = "is not valid JSON (" + library_message(e.what()) + ")";
    } catch (const json::out_of_range& e) {  // 406: a number beyond double's range
        const std::string msg = library_message(e.what());
        const size_t quote = msg.find('\'');
        problem = "holds a number out of range (" +
                  (quote == std::string::npos ? msg : msg.substr(quote)) + ")";
    } catch (const json::exception& e) {
        problem = "is not valid JSON (" + library_message(e.what()) + ")";
    }
    throw InputError(what + " " + problem);
}

}  // namespace cudarts
