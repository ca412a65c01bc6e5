// Progress reporting for long runs (search, train). On a terminal, one line on stderr redrawn in
// place: "epoch 3/50 [#####.....] 120/391  4.1 step/s  ETA 1:06  loss 1.234"; otherwise plain
// lines every `every` steps and at the last step, to stdout, so that logs and Katib's collector
// read them in order. Neither form contains `name=value` text: Katib's metric filter would take it
// for a metric (reference/katib.md 1.10).
#pragma once

#include <chrono>
#include <string>

namespace cudarts::apps {

class Progress {
public:
    // `every` is the plain-line interval in steps; `figure` names the second running figure
    // ("acc" for the image tasks, "ppl" for language models).
    explicit Progress(int every = 50, const char* figure = "acc");
    bool interactive() const { return tty_; }

    void start_epoch(int epoch, int epochs, int steps);
    void step(int step, double loss, double figure);  // step is 0-based
    void end_epoch();                                 // clears the bar

private:
    bool tty_;
    int every_, epoch_ = 0, epochs_ = 0, steps_ = 0;
    const char* figure_;
    std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1:06", "12:03:59"
std::string format_duration(double seconds);

}  // namespace cudarts::apps
