// Progress bar or plain progress lines; see apps/progress.h.
#include "apps/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace cudarts::apps {

std::string format_duration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) return "?";
    const long s = std::lround(seconds);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

Progress::Progress(int every, const char* figure)
    : tty_(isatty(STDERR_FILENO) != 0), every_(every < 1 ? 1 : every), figure_(figure) {}

void Progress::start_epoch(int epoch, int epochs, int steps) {
    epoch_ = epoch;
    epochs_ = epochs;
    steps_ = steps;
    start_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::step(int step, double loss, double figure) {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const int done = step + 1;
    const double rate = elapsed > 0 ? done / elapsed : 0;
    const double eta = rate > 0 ? (steps_ - done) / rate : NAN;
    if (tty_) {
        // Redraw at most 10 times a second, and always at the last step.
        if (done < steps_ && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
        last_draw_ = now;
        constexpr int kWidth = 20;
        const int filled = steps_ > 0 ? done * kWidth / steps_ : kWidth;
        std::string bar(size_t(filled), '#');
        bar.resize(kWidth, '.');
        std::fprintf(stderr,
                     "\r\033[Kepoch %d/%d [%s] %d/%d  %.2f step/s  ETA %s  loss %.4f  %s %.4f",
                     epoch_ + 1, epochs_, bar.c_str(), done, steps_, rate,
                     format_duration(eta).c_str(), loss, figure_, figure);
        std::fflush(stderr);
        return;
    }
    if (done % every_ != 0 && done != steps_ && step != 0) return;
    std::printf("epoch %d/%d step %d/%d  %.2f step/s  eta %s  loss %.4f  %s %.4f\n", epoch_ + 1,
                epochs_, done, steps_, rate, format_duration(eta).c_str(), loss, figure_, figure);
    std::fflush(stdout);
}

void Progress::end_epoch() {
    if (tty_) {
        std::fprintf(stderr, "\r\033[K");
        std::fflush(stderr);
    }
}

}  // namespace cudarts::apps
