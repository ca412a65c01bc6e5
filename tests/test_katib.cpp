// Katib trial inputs (apps/katib.h): the command line of katib.md 1.2 as the trial receives it
// (single-quoted JSON, with and without the surrounding double quotes that survive a plain
// `docker run`), Python int()/float() semantics on numbers and numeric strings, null meaning the
// default, the search space mapped to official names with none appended last, and one
// InputError naming the flag (and key) for each malformed value.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "apps/katib.h"
#include "kernels/check.h"
#include "tests/util.h"

using namespace cudarts;
using cudarts::test::error_of;

namespace {

// The --algorithm-settings value of katib.md 1.2 with the elided middle filled in from the
// defaults of 1.4, as Katib's suggestion service writes it (json.dumps, then " -> ').
const std::string kSettings =
    "{'num_epochs': '3', 'w_lr': 0.025, 'w_lr_min': 0.001, 'w_momentum': 0.9, "
    "'w_weight_decay': 0.0003, 'w_grad_clip': 5.0, 'alpha_lr': 0.0003, "
    "'alpha_weight_decay': 0.001, 'batch_size': 128, 'num_workers': 4, 'init_channels': 16, "
    "'print_step': 50, 'num_nodes': 4, 'stem_multiplier': 3}";
const std::string kSearchSpace =
    "['separable_convolution_3x3', 'dilated_convolution_3x3', 'dilated_convolution_5x5', "
    "'avg_pooling_3x3', 'max_pooling_3x3', 'skip_connection']";

bool has(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

}  // namespace

TEST_SUITE("katib") {
    TEST_CASE(
        "katib: the example --algorithm-settings parses with and without outer double quotes") {
        for (const std::string& arg : {kSettings, "\"" + kSettings + "\""}) {
            CAPTURE(arg);
            const std::map<std::string, std::string> s = parse_algorithm_settings(arg);
            CHECK(s.size() == 14);
            CHECK(s.at("num_epochs") == "3");
            CHECK(s.at("w_lr") == "0.025");
            CHECK(s.at("w_weight_decay") == "0.0003");
            CHECK(katib_int(s, "num_epochs", 50) == 3);
            CHECK(katib_int(s, "batch_size", 64) == 128);
            CHECK(katib_int(s, "stem_multiplier", 1) == 3);
            CHECK(katib_float(s, "w_lr", 0) == 0.025);
            CHECK(katib_float(s, "w_weight_decay", 0) == 3e-4);
            CHECK(katib_float(s, "w_grad_clip", 0) == 5.0);
            CHECK(katib_float(s, "alpha_lr", 0) == 3e-4);
            CHECK(unknown_katib_settings(s).empty());
        }
        CHECK(parse_katib_json("\"['a']\"", "--x") == nlohmann::json::array({"a"}));
    }

    TEST_CASE("katib: numbers and numeric strings read alike, null keeps the default") {
        const auto s = parse_algorithm_settings(
            "{'a': '0.5', 'b': 0.5, 'c': '3', 'd': 3, 'e': ' 7 ', 'f': '3e-4', 'g': '-2', "
            "'h': '+4', 'batch_size': null, 'first_order': 'True', 'seed': true, 'colour': 'red'}");
        CHECK(s.count("batch_size") == 0);
        CHECK(katib_int(s, "batch_size", 64) == 64);
        CHECK(katib_float(s, "missing", 1.5) == 1.5);
        CHECK(katib_float(s, "a", 0) == 0.5);
        CHECK(katib_float(s, "b", 0) == 0.5);
        CHECK(katib_int(s, "c", 0) == 3);
        CHECK(katib_int(s, "d", 0) == 3);
        CHECK(katib_float(s, "d", 0) == 3.0);
        CHECK(katib_int(s, "e", 0) == 7);
        CHECK(katib_float(s, "f", 0) == 3e-4);
        CHECK(katib_int(s, "g", 0) == -2);
        CHECK(katib_int(s, "h", 0) == 4);
        CHECK(katib_bool(s, "first_order", false));
        CHECK(katib_bool(s, "seed", false));
        CHECK(!katib_bool(s, "missing", false));
        CHECK(unknown_katib_settings(s) ==
              std::vector<std::string>{"a", "b", "c", "colour", "d", "e", "f", "g", "h"});
        // int('0.5') fails in Python, and so here, naming the key and the flag.
        const std::string msg = error_of([&] { katib_int(s, "a", 0); });
        CHECK(msg == "--algorithm-settings: a is '0.5'; expected an integer like '3'");
        for (const char* bad : {"'x'", "'nan'", "'inf'", "'0x10'", "'1.5.2'", "''", "'+-1'"}) {
            CAPTURE(bad);
            const auto t = parse_algorithm_settings(std::string("{'k': ") + bad + "}");
            CHECK(has(error_of([&] { katib_float(t, "k", 0); }), "--algorithm-settings: k is"));
            CHECK(has(error_of([&] { katib_int(t, "k", 0); }), "--algorithm-settings: k is"));
        }
        CHECK(has(error_of([&] { katib_bool(s, "colour", false); }), "expected true or false"));
        CHECK(has(
            error_of([] { katib_int(parse_algorithm_settings("{'k': '99999999999'}"), "k", 0); }),
            "k is '99999999999'"));
    }

    TEST_CASE("katib: malformed --algorithm-settings fail naming the flag") {
        for (const char* bad : {"", "{'num_epochs': '3'", "{num_epochs: 3}", "\"{'a': 1}"}) {
            CAPTURE(bad);
            const std::string msg = error_of([&] { parse_algorithm_settings(bad); });
            CHECK_MESSAGE(msg.rfind("--algorithm-settings: expected a JSON object like "
                                    "{'num_epochs': '3', ...}: parse error",
                                    0) == 0,
                          msg);
        }
        CHECK(has(error_of([] { parse_algorithm_settings("['a']"); }), "got array"));
        CHECK(error_of([] { parse_algorithm_settings("{'a': [1]}"); }) ==
              "--algorithm-settings: a is '[1]'; expected a number or a string");
    }

    TEST_CASE("katib: --search-space maps to official names in order with none appended last") {
        const std::vector<std::string> want = {"sep_conv_3x3", "dil_conv_3x3", "dil_conv_5x5",
                                               "avg_pool_3x3", "max_pool_3x3", "skip_connect",
                                               "none"};
        CHECK(parse_search_space(kSearchSpace) == want);
        CHECK(parse_search_space("\"" + kSearchSpace + "\"") == want);
        CHECK(parse_search_space("['max_pooling_3x3']") ==
              std::vector<std::string>{"max_pool_3x3", "none"});
        // Official names work too; a listed none stays where it is.
        CHECK(parse_search_space("['sep_conv_3x3', 'none', 'skip_connection']") ==
              std::vector<std::string>{"sep_conv_3x3", "none", "skip_connect"});
        const std::string msg = error_of([] { parse_search_space("['max_pooling_5x5']"); });
        CHECK(msg.rfind("--search-space: unknown primitive 'max_pooling_5x5'", 0) == 0);
        CHECK(has(msg, "separable_convolution_3x3"));
        for (const char* bad : {"['skip_connection', 'skip_connect']", "[]", "['none']", "{'a': 1}",
                                "[3]", "", "['a'"}) {
            CAPTURE(bad);
            CHECK(error_of([&] { parse_search_space(bad); }).rfind("--search-space: ", 0) == 0);
        }
    }

    TEST_CASE("katib: --num-layers takes a positive integer, quoted or not") {
        CHECK(parse_num_layers("3") == 3);
        CHECK(parse_num_layers("\"3\"") == 3);
        CHECK(parse_num_layers("'8'") == 8);
        CHECK(parse_num_layers(" 20 ") == 20);
        CHECK(parse_num_layers("1") == 1);
        for (const char* bad : {"0", "-1", "3.5", "", "\"\"", "abc", "3 layers"}) {
            CAPTURE(bad);
            CHECK(error_of([&] { parse_num_layers(bad); }) ==
                  "--num-layers: expected a positive integer like 3, got '" + std::string(bad) +
                      "'");
        }
    }

}  // TEST_SUITE
