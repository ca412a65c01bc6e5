// The recurrent DARTS language model; see models/rnn/model.h and reference/darts.md 7.1-7.2.
#include "models/rnn/model.h"

#include "kernels/check.h"
#include "models/nn/setting.h"

namespace cudarts {

namespace {

constexpr float kInitRange = 0.04f;  // INITRANGE of rnn/model.py

// The fused highway update's activation for a genotype's op name (kRnnPrimitives without none).
RnnAct act_of(const std::string& op) {
    for (size_t k = 1; k < kRnnPrimitives.size(); ++k)
        if (op == kRnnPrimitives[k]) return RnnAct(k - 1);
    CUDARTS_CHECK(false, "recurrent op '" << op << "'");
    return RnnAct::kIdentity;
}

// x * mask with one (rows x cols) mask for each of `repeats` consecutive blocks (a locked mask);
// x unchanged when there is no mask.
Var masked(const Var& x, const Tensor& mask, int64_t repeats = 1) {
    if (!mask.defined()) return x;
    return mask_mul(x, mask, {repeats, mask.numel(), 1});
}

// A dropout mask of n elements with drop probability p, or none (eval mode, p = 0).
Tensor draw_mask(int64_t n, float p, bool training, Device dev, Generator& gen) {
    if (!training || p == 0.f) return Tensor();
    Tensor mask = Tensor::empty({n}, dev);
    gen.dropout_mask_(mask, p);
    return mask;
}

// (T) tensors of shape (B, D) stacked time-major into (T * B, D).
Var stack_steps(const std::vector<Var>& steps) {
    std::vector<Var> rows;
    rows.reserve(steps.size());
    for (const Var& s : steps) rows.push_back(reshape(s, {1, s.numel()}));
    const int64_t b = steps[0].size(0), d = steps[0].size(1);
    return reshape(concat_channels(rows), {int64_t(steps.size()) * b, d});
}

}  // namespace

void RnnModelConfig::validate() const {
    require(ntoken >= 2 && ntoken <= 10'000'000, "ntoken", "a vocabulary of 2..10000000 words",
            ntoken);
    require(nhid >= 1 && nhid <= 4096, "nhid", "1..4096", nhid);
    require(emsize == nhid, "emsize", "equal to nhid (the tied decoder needs it)", emsize);
    if (genotype) {
        require(genotype->steps() >= 1 && genotype->steps() <= kRnnMaxSteps, "genotype",
                "1.." + std::to_string(kRnnMaxSteps) + " nodes", genotype->steps());
    } else {
        require(steps >= 1 && steps <= kRnnMaxSteps, "steps", "1.." + std::to_string(kRnnMaxSteps),
                steps);
    }
    for (const auto& [name, p] : {std::pair{"dropout", dropout}, std::pair{"dropouth", dropouth},
                                  std::pair{"dropoutx", dropoutx}, std::pair{"dropouti", dropouti},
                                  std::pair{"dropoute", dropoute}})
        require(p >= 0.f && p < 1.f, name, "in [0, 1)", p);
}

// The cell's tensors and its step; registered under rnns.0.
struct RnnModel::Cell {
    int nhid, nodes;
    int w0;
    std::vector<int> ws;             // W_i per node
    std::optional<BatchNormRef> bn;  // search only
    std::optional<RecurrentGenotype> genotype;

    Cell(const RnnModelConfig& cfg, ModelBuilder& b)
        : nhid(cfg.nhid),
          nodes(cfg.genotype ? cfg.genotype->steps() : cfg.steps),
          genotype(cfg.genotype) {
        w0 = b.uniform("rnns.0._W0", {cfg.emsize + nhid, 2 * nhid}, kInitRange);
        for (int i = 0; i < nodes; ++i)
            ws.push_back(
                b.uniform("rnns.0._Ws." + std::to_string(i), {nhid, 2 * nhid}, kInitRange));
        if (!genotype) bn = b.batch_norm("rnns.0.bn", nhid, false);
    }

    // h_t from x_t (B, ninp) and h_{t-1} (B, nhid). Every state is a highway update of an
    // earlier one s by its gates [c | h] = (s * h_mask) W_i (kernels/rnn_cell.h, fused).
    Var step(const Var& x, const Var& h_prev, const Tensor& x_mask, const Tensor& h_mask,
             const Var& alphas, const Forward& f) const {
        const Var ch0 =
            matmul(concat_channels({masked(x, x_mask), masked(h_prev, h_mask)}), f.w(w0));
        Var s0 = rnn_highway(ch0, h_prev, RnnAct::kTanh);
        if (bn) s0 = f.bn(s0, *bn);
        std::vector<Var> states{s0};
        for (int i = 0; i < nodes; ++i) {
            const Var& w = f.w(ws[size_t(i)]);
            if (genotype) {
                const RecurrentGene& gene = genotype->recurrent[size_t(i)];
                const Var& s = states[size_t(gene.input)];
                states.push_back(rnn_highway(matmul(masked(s, h_mask), w), s, act_of(gene.op)));
                continue;
            }
            // Search: every earlier state j, mixed over the primitives by softmax(alpha row).
            constexpr int64_t k = int64_t(kRnnPrimitives.size());
            const int64_t row0 = int64_t(i) * (i + 1) / 2;
            Var node;
            for (int j = 0; j <= i; ++j) {
                const Var& s = states[size_t(j)];
                const Var edge = rnn_highway_mix(matmul(masked(s, h_mask), w), s,
                                                 narrow(alphas, (row0 + j) * k, {k}));
                node = node.defined() ? add(node, edge) : edge;
            }
            states.push_back(f.bn(node, *bn));
        }
        // The output: the mean of the concat states (search: the nodes, s0 excluded).
        std::vector<int> concat;
        if (genotype) {
            concat = genotype->concat;
        } else {
            for (int i = 1; i <= nodes; ++i) concat.push_back(i);
        }
        Var sum;
        for (int c : concat) sum = sum.defined() ? add(sum, states[size_t(c)]) : states[size_t(c)];
        return scale(sum, 1.f / float(concat.size()));
    }
};

RnnModel::RnnModel(RnnModelConfig cfg, Device dev, uint64_t seed)
    : ModelStores(dev), cfg_(std::move(cfg)) {
    cfg_.validate();
    ModelBuilder b(weights_, buffers_);
    encoder_ = b.uniform("encoder.weight", {cfg_.ntoken, cfg_.emsize}, kInitRange);
    cell_ = std::make_unique<Cell>(cfg_, b);
    decoder_bias_ = b.constant("decoder.bias", {cfg_.ntoken}, 0.f);
    Generator gen(seed);
    b.finalize(dev, gen);
    if (cfg_.search()) {
        alphas_.add("alphas", {rnn_edges_for(cfg_.steps), int64_t(kRnnPrimitives.size())});
        alphas_.finalize(dev);
        Tensor a = alphas_.flat_values();
        gen.normal_(a, 0.f, 1e-3f);
    }
}

RnnModel::~RnnModel() = default;

Tensor RnnModel::init_hidden(int64_t batch) const {
    return Tensor::zeros({batch, cfg_.nhid}, dev_);
}

RnnModel::Output RnnModel::forward(const Tensor& input, const Tensor& hidden, ForwardMode mode,
                                   Generator& gen) {
    CUDARTS_CHECK(input.dtype() == DType::kI32 && input.ndim() == 2 && input.device() == dev_,
                  "rnn forward: input " << input << ", expected int32 (T, B) on " << dev_);
    const int64_t steps = input.size(0), batch = input.size(1);
    const int64_t ninp = cfg_.emsize, nhid = cfg_.nhid;
    CUDARTS_CHECK(
        hidden.shape() == (Shape{batch, nhid}) && hidden.device() == dev_,
        "rnn forward: hidden " << hidden << ", expected (" << batch << ", " << nhid << ")");
    const Forward f{weights_, buffers_, mode};
    const bool train = mode.training;
    // Masks, in the reference's order: embedding rows, input, the cell's x and h, the output.
    const Tensor row_mask = draw_mask(cfg_.ntoken, cfg_.dropoute, train, dev_, gen);
    const Tensor in_mask = draw_mask(batch * ninp, cfg_.dropouti, train, dev_, gen);
    const Tensor x_mask = draw_mask(batch * ninp, cfg_.dropoutx, train, dev_, gen);
    const Tensor h_mask = draw_mask(batch * nhid, cfg_.dropouth, train, dev_, gen);
    const Tensor out_mask = draw_mask(batch * nhid, cfg_.dropout, train, dev_, gen);

    const Var& table = f.w(encoder_);
    const Var table_in = row_mask.defined()
                             ? mask_mul(table, row_mask, {1, cfg_.ntoken, int64_t(cfg_.emsize)})
                             : table;
    const Var emb = masked(embedding(input, table_in), in_mask, steps);  // (T, B, ninp)
    const Var alphas = cfg_.search() ? alphas_[0] : Var();
    std::vector<Var> outputs;
    Var h(hidden);
    for (int64_t t = 0; t < steps; ++t) {
        const Var x = narrow(emb, t * batch * ninp, {batch, ninp});
        h = cell_->step(x, h, x_mask, h_mask, alphas, f);
        outputs.push_back(h);
    }
    Output out;
    out.raw_output = stack_steps(outputs);
    const Var dropped = masked(out.raw_output, out_mask, steps);
    out.log_probs = log_softmax(linear(dropped, table, f.w(decoder_bias_)));
    out.hidden = h.value().clone();
    return out;
}

RecurrentGenotype RnnModel::genotype() const {
    CUDARTS_CHECK(cfg_.search(), "an evaluation model has no α to derive a genotype from");
    const Tensor a = alphas_[0].value().to(Device::cpu());
    return derive_recurrent_genotype(a.f32(), cfg_.steps);
}

Var rnn_training_loss(const RnnModel::Output& out, const Tensor& targets, int64_t batch,
                      float tar_beta) {
    Var loss = nll_loss(out.log_probs, targets);
    const int64_t per_step = batch * out.raw_output.size(1);
    const int64_t steps = out.raw_output.numel() / per_step;
    if (steps < 2 || tar_beta == 0.f) return loss;
    const Shape rest{(steps - 1) * per_step};
    const Var diff =
        add(narrow(out.raw_output, per_step, rest), scale(narrow(out.raw_output, 0, rest), -1.f));
    return add(loss, scale(mean(mul(diff, diff)), tar_beta));
}

}  // namespace cudarts
