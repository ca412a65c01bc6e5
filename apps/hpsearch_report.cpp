// The table and the SVG of a `cudarts hpsearch`; see apps/hpsearch.h.
#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

#include "apps/hpsearch.h"
#include "apps/hpsearch_parts.h"
#include "engine/format.h"

namespace cudarts::apps {

using hpsearch_parts::kInf;
using hpsearch_parts::kNaN;

std::string trials_table(const HpSearchConfig& config, const std::vector<HpTrial>& trials) {
    std::vector<int> width;
    std::string out = "trial";
    for (const HyperParameter& p : config.box) {
        width.push_back(std::max<int>(12, static_cast<int>(p.name.size())));
        out += "  " + std::string(width.back() - p.name.size(), ' ') + p.name;
    }
    out += "  valid_loss  valid_acc  status\n";
    const size_t best = best_trial(trials);
    for (const HpTrial& t : trials) {
        out += format_number("%5.0f", static_cast<double>(t.index));
        for (size_t i = 0; i < config.box.size(); ++i) {
            const std::string v = flag_value(config.box[i], t.values[i]);
            out += "  " +
                   std::string(std::max<int>(0, width[i] - static_cast<int>(v.size())), ' ') + v;
        }
        out += format_number("  %10.4f", t.result.valid_loss) +
               format_number("  %9.4f", t.result.valid_acc) + "  " + t.result.status +
               (static_cast<size_t>(t.index) == best ? "  (best)" : "") + "\n";
    }
    return out;
}

std::string hpsearch_svg(const std::vector<HpTrial>& trials) {
    constexpr double kWidth = 640, kPanel = 260, kLeft = 64, kRight = 20, kTop = 34, kBottom = 40;
    const size_t n = trials.size();
    std::ostringstream svg;
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\""
        << 2 * kPanel << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
        << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    // One panel: the trials' values against their index, the best so far as a step line.
    const auto panel = [&](double y0, const char* title, bool lower_better,
                           const std::function<double(const HpTrial&)>& value) {
        double lo = kInf, hi = -kInf;
        for (const HpTrial& t : trials)
            if (std::isfinite(value(t))) lo = std::min(lo, value(t)), hi = std::max(hi, value(t));
        if (!(lo <= hi)) lo = 0, hi = 1;
        if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;
        const double plot_w = kWidth - kLeft - kRight, plot_h = kPanel - kTop - kBottom;
        const auto px = [&](double i) { return kLeft + (n > 1 ? i / (n - 1) : 0.5) * plot_w; };
        const auto py = [&](double v) { return y0 + kTop + (hi - v) / (hi - lo) * plot_h; };
        svg << "<text x=\"" << kLeft << "\" y=\"" << y0 + 20 << "\" font-weight=\"bold\">" << title
            << "</text>\n"
            << "<rect x=\"" << kLeft << "\" y=\"" << y0 + kTop << "\" width=\"" << plot_w
            << "\" height=\"" << plot_h << "\" fill=\"none\" stroke=\"#888\"/>\n";
        for (const double v : {lo, hi})
            svg << "<text x=\"" << kLeft - 6 << "\" y=\"" << py(v) + 4 << "\" text-anchor=\"end\">"
                << format_number("%.4g", v) << "</text>\n";
        for (size_t i = 0; i < n; i += std::max<size_t>(1, n / 10))
            svg << "<text x=\"" << px(static_cast<double>(i)) << "\" y=\""
                << y0 + kPanel - kBottom + 16 << "\" text-anchor=\"middle\">" << i << "</text>\n";
        svg << "<text x=\"" << kLeft + plot_w / 2 << "\" y=\"" << y0 + kPanel - 6
            << "\" text-anchor=\"middle\">trial</text>\n";
        std::string steps;
        double best = kNaN;
        for (size_t i = 0; i < n; ++i) {
            const double v = value(trials[i]);
            if (std::isfinite(v) && (!std::isfinite(best) || (lower_better ? v < best : v > best)))
                best = v;
            if (std::isfinite(best))
                steps += format_number("%.1f,", px(static_cast<double>(i))) +
                         format_number("%.1f ", py(best));
            if (std::isfinite(v))
                svg << "<circle cx=\"" << px(static_cast<double>(i)) << "\" cy=\"" << py(v)
                    << "\" r=\"3.5\" fill=\"" << (i < 2 ? "#2a7" : "#37c") << "\"/>\n";
            else  // a diverged or failed trial, at the top edge
                svg << "<text x=\"" << px(static_cast<double>(i)) << "\" y=\"" << y0 + kTop + 4
                    << "\" text-anchor=\"middle\" fill=\"#c33\">x</text>\n";
        }
        if (!steps.empty())
            svg << "<polyline points=\"" << steps
                << "\" fill=\"none\" stroke=\"#e80\" stroke-width=\"1.5\"/>\n";
    };
    panel(0, "validation loss (green: the two fixed points; orange: best so far)", true,
          [](const HpTrial& t) { return t.result.valid_loss; });
    panel(kPanel, "validation accuracy", false,
          [](const HpTrial& t) { return t.result.valid_acc; });
    svg << "</svg>\n";
    return svg.str();
}

}  // namespace cudarts::apps
