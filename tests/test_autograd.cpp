// The tape: gradient checks through every autograd op (central differences of a random weighted
// sum of the op's output), accumulation for reused values, gradients for a subset of leaves,
// no-grad scopes, and the zeroing of wanted leaves the loss does not reach.
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "kernels/check.h"
#include "tests/grad_cases.h"
#include "tests/util.h"

using namespace cudarts;
using cudarts::test::away_from_zero;
using cudarts::test::expect_ok;
using cudarts::test::leaf;
using cudarts::test::probe;
using cudarts::test::uniform;

namespace {

Var leaf_away(const Shape& shape, uint64_t seed) {
    return Var(Tensor::from_vector(away_from_zero(shape_numel(shape), seed), shape), true, "x");
}
// Distinct values (a scaled permutation) so that max-pool windows have no ties.
Var leaf_distinct(const Shape& shape, uint64_t seed) {
    const int64_t n = shape_numel(shape);
    std::vector<float> u = uniform(n, seed);
    std::vector<std::pair<float, int64_t>> order;
    for (int64_t i = 0; i < n; ++i) order.push_back({u[size_t(i)], i});
    std::sort(order.begin(), order.end());
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r)  // spacing 0.05 > 2 eps: no window changes its argmax
        v[size_t(order[size_t(r)].second)] = 0.05f * float(r - n / 2);
    return Var(Tensor::from_vector(v, shape), true, "x");
}

}  // namespace

TEST_SUITE("autograd") {
    TEST_CASE("autograd grad_check: conv2d through data and weight, odd shapes") {
        Var x = leaf({3, 5, 7, 7}, 1), wd = leaf({5, 1, 3, 3}, 2, "w"),
            wg = leaf({6, 5, 3, 3}, 3, "w");
        expect_ok(grad_check([&] { return probe(conv2d(x, wd, 2, 2, 2, 5)); }, {x, wd}));
        expect_ok(grad_check([&] { return probe(conv2d(x, wg, 1, 1)); }, {x, wg}));
    }

    TEST_CASE("autograd conv2d_group: each output and gradient is its own conv2d's") {
        // Depthwise 3x3 at dilation 2, one input shared by two items (its gradients add up).
        Var x0 = leaf({2, 4, 6, 6}, 41), x1 = leaf({2, 4, 6, 6}, 42);
        Var w0 = leaf({4, 1, 3, 3}, 43, "w"), w1 = leaf({4, 1, 3, 3}, 44, "w"),
            w2 = leaf({4, 1, 3, 3}, 45, "w");
        const auto loss = [](const std::vector<Var>& y) {
            return add(add(probe(y[0], 1), probe(y[1], 2)), probe(y[2], 3));
        };
        expect_ok(grad_check(
            [&] {
                return loss(conv2d_group({x0, x1, x0}, {w0, w1, w2}, 1, 2, 2, 4));
            },
            {x0, x1, w0, w1, w2}));
        const std::vector<Var> y = conv2d_group({x0, x1, x0}, {w0, w1, w2}, 1, 2, 2, 4);
        CHECK(y[1].value().to_vector() == conv2d(x1, w1, 1, 2, 2, 4).value().to_vector());
        CHECK(y[2].value().to_vector() == conv2d(x0, w2, 1, 2, 2, 4).value().to_vector());
        // Only the weights wanted: x's gradients are not written, the weights' are.
        backward(loss(conv2d_group({x0, x1, x0}, {w0, w1, w2}, 1, 2, 2, 4)), {w1});
        CHECK(w1.has_grad());
        CHECK_FALSE(x0.has_grad());
        CHECK_THROWS_AS(conv2d_group({x0, x1}, {w0}, 1, 2, 2, 4), Error);
        CHECK_THROWS_AS(conv2d_group({x0, leaf({2, 4, 5, 5}, 46)}, {w0, w1}, 1, 2, 2, 4), Error);
    }

    TEST_CASE("autograd grad_check: pools, global pool and subsample") {
        Var x = leaf_distinct({3, 5, 7, 7}, 4);
        expect_ok(grad_check([&] { return probe(max_pool2d(x, 3, 2, 1)); }, {x}));
        expect_ok(grad_check([&] { return probe(avg_pool2d(x, 3, 1, 1)); }, {x}));
        expect_ok(grad_check([&] { return probe(global_avg_pool(x)); }, {x}));
        expect_ok(grad_check([&] { return probe(subsample(x, 2, 1)); }, {x}));
    }

    TEST_CASE("autograd grad_check: batch norm, affine and not, train and eval") {
        Var x = leaf({3, 5, 4, 4}, 5), g = leaf({5}, 6, "gamma"), b = leaf({5}, 7, "beta");
        Tensor rm = Tensor::zeros({5}), rv = Tensor::full({5}, 1.f);
        expect_ok(grad_check([&] { return probe(batch_norm(x, g, b, rm, rv, true)); }, {x, g, b}));
        expect_ok(
            grad_check([&] { return probe(batch_norm(x, Var(), Var(), rm, rv, true)); }, {x}));
        rv.fill_(0.5f);
        expect_ok(grad_check([&] { return probe(batch_norm(x, g, b, rm, rv, false)); }, {x, g, b}));
    }

    TEST_CASE("autograd batch_norm_group: each output and gradient is its own batch norm's") {
        // Three inputs, one used twice (its gradient accumulates), the second tracking no stats.
        Var x0 = leaf({3, 5, 4, 4}, 11), x1 = leaf({3, 5, 4, 4}, 12), x2 = leaf({3, 5, 4, 4}, 13);
        const auto stats = [] {
            return std::vector<Tensor>{Tensor::zeros({5}), Tensor(), Tensor::zeros({5})};
        };
        const auto loss = [&](const std::vector<Var>& y) {
            return add(add(probe(y[0], 1), probe(y[1], 2)), add(probe(y[2], 3), probe(y[3], 4)));
        };
        const std::vector<Tensor> rm = stats(),
                                  rv = {Tensor::full({5}, 1.f), Tensor(), Tensor::full({5}, 1.f)};
        std::vector<Tensor> rm4 = rm, rv4 = rv;
        rm4.push_back(rm[0]);  // the reused input updates the same statistics twice
        rv4.push_back(rv[0]);
        expect_ok(grad_check(
            [&] {
                return loss(batch_norm_group({x0, x1, x2, x0}, rm4, rv4));
            },
            {x0, x1, x2}));
        // With the ReLU fused into some: relu(norm) there and the gradient of relu(norm), bit for
        // bit (a central difference would straddle the kink: some normalised values sit near 0).
        const auto grads_of = [&](bool fuse) {
            const std::vector<bool> flags = {true, false, true, true};
            std::vector<Var> y =
                batch_norm_group({x0, x1, x2, x0}, rm4, rv4, fuse ? flags : std::vector<bool>{});
            if (!fuse)
                for (size_t i = 0; i < y.size(); ++i)
                    if (flags[i]) y[i] = relu(y[i]);
            backward(loss(y));
            return std::vector<std::vector<float>>{x0.grad().to_vector(), x1.grad().to_vector(),
                                                   x2.grad().to_vector()};
        };
        CHECK(grads_of(true) == grads_of(false));
        const std::vector<Var> fused =
            batch_norm_group({x0, x1}, {Tensor(), Tensor()}, {Tensor(), Tensor()}, {true, false});
        CHECK(fused[0].value().to_vector() ==
              relu(batch_norm(x0, Var(), Var(), Tensor(), Tensor(), true)).value().to_vector());
        CHECK_THROWS_AS(
            batch_norm_group({x0, x1}, {Tensor(), Tensor()}, {Tensor(), Tensor()}, {true}), Error);
        // The same numbers as one batch_norm per input, running statistics included.
        const std::vector<Tensor> rm_a = stats(), rm_b = stats();
        const std::vector<Tensor> rv_a = {Tensor::full({5}, 1.f), Tensor(), Tensor::full({5}, 1.f)};
        const std::vector<Tensor> rv_b = {Tensor::full({5}, 1.f), Tensor(), Tensor::full({5}, 1.f)};
        const std::vector<Var> grouped = batch_norm_group({x0, x1, x2}, rm_a, rv_a);
        backward(add(add(probe(grouped[0], 1), probe(grouped[1], 2)), probe(grouped[2], 3)));
        const std::vector<float> g0 = x0.grad().to_vector(), g2 = x2.grad().to_vector();
        std::vector<Var> single;
        for (size_t i = 0; i < 3; ++i)
            single.push_back(
                batch_norm(std::vector<Var>{x0, x1, x2}[i], Var(), Var(), rm_b[i], rv_b[i], true));
        backward(add(add(probe(single[0], 1), probe(single[1], 2)), probe(single[2], 3)));
        for (size_t i = 0; i < 3; ++i) {
            CAPTURE(i);
            CHECK(grouped[i].value().to_vector() == single[i].value().to_vector());
            if (rm_a[i].defined()) {
                CHECK(rm_a[i].to_vector() == rm_b[i].to_vector());
                CHECK(rv_a[i].to_vector() == rv_b[i].to_vector());
                CHECK(rm_a[i].to_vector() != std::vector<float>(5, 0.f));  // updated
            }
        }
        CHECK(x0.grad().to_vector() == g0);
        CHECK(x2.grad().to_vector() == g2);
        CHECK_THROWS_AS(batch_norm_group({x0, leaf({3, 5, 2, 8}, 14)}, {Tensor(), Tensor()},
                                         {Tensor(), Tensor()}),
                        Error);
        CHECK_THROWS_AS(batch_norm_group({x0}, {}, {}), Error);
    }

    TEST_CASE("autograd record_paired: output i is wanted only downstream of a wanted input i") {
        // batch_norm_group pairs its inputs and outputs: with only `a` wanted, b's output gets no
        // gradient and the relu behind it does not run (it would write b's output gradient).
        Var a = leaf({2, 3, 2, 2}, 21), b = leaf({2, 3, 2, 2}, 22);
        const std::vector<Var> y =
            batch_norm_group({a, b}, {Tensor(), Tensor()}, {Tensor(), Tensor()});
        const Var loss = add(probe(relu(y[0]), 1), probe(relu(y[1]), 2));
        backward(loss, {a});
        CHECK(y[0].has_grad());
        CHECK_FALSE(y[1].has_grad());
        CHECK(a.has_grad());
        CHECK_FALSE(b.has_grad());
        // With both wanted, both are reached.
        const std::vector<Var> z =
            batch_norm_group({a, b}, {Tensor(), Tensor()}, {Tensor(), Tensor()});
        backward(add(probe(relu(z[0]), 1), probe(relu(z[1]), 2)));
        CHECK(z[1].has_grad());
        CHECK(b.has_grad());
        CHECK_THROWS_AS(record_paired("t", {a, b, a}, {z[0], z[1]}, [] {}), Error);
        CHECK_THROWS_AS(record_paired("t", {}, {}, [] {}), Error);
    }

    TEST_CASE("autograd grad_check: elementwise ops") {
        Var a = leaf_away({3, 7}, 8), b = leaf({3, 7}, 9, "b");
        expect_ok(grad_check([&] { return probe(relu(a)); }, {a}));
        expect_ok(grad_check([&] { return probe(tanh(a)); }, {a}));
        expect_ok(grad_check([&] { return probe(sigmoid(a)); }, {a}));
        expect_ok(grad_check([&] { return probe(add(a, b)); }, {a, b}));
        expect_ok(grad_check([&] { return probe(mul(a, b)); }, {a, b}));
        expect_ok(grad_check([&] { return probe(mul(a, a)); }, {a}));  // reuse: 2 a
        expect_ok(grad_check([&] { return probe(scale(a, -1.5f)); }, {a}));
        expect_ok(grad_check([&] { return mean(mul(a, b)); }, {a, b}));
    }

    TEST_CASE("autograd grad_check: masks, dropout and drop path use a fixed mask per check") {
        Var x = leaf({3, 5, 2, 2}, 10);
        Tensor mask = Tensor::from_vector(std::vector<float>{0.f, 2.f, 2.f}, {3});
        expect_ok(grad_check([&] { return probe(mask_mul(x, mask, {1, 3, 20})); }, {x}));
        // dropout draws a new mask per call: reseed the generator inside f to fix it.
        expect_ok(grad_check(
            [&] {
                Generator gen(3);
                return probe(dropout(x, 0.3f, gen));
            },
            {x}));
        expect_ok(grad_check(
            [&] {
                Generator gen(4);
                return probe(drop_path(x, 0.5f, gen));
            },
            {x}));
        Generator gen(5);
        CHECK(dropout(x, 0.3f, gen, /*training=*/false).same_node(x));
    }

    TEST_CASE("autograd grad_check: concat, slice, reshape and narrow") {
        Var a = leaf({3, 2, 3, 3}, 11), b = leaf({3, 5, 3, 3}, 12, "b");
        expect_ok(grad_check([&] { return probe(concat_channels({a, b, a})); }, {a, b}));
        expect_ok(grad_check([&] { return probe(slice_channels(b, 1, 3)); }, {b}));
        expect_ok(grad_check([&] { return probe(reshape(b, {3, 45})); }, {b}));
        expect_ok(grad_check([&] { return probe(narrow(b, 7, {2, 4})); }, {b}));
    }

    TEST_CASE("autograd grad_check: linear, matmul and embedding") {
        Var x = leaf({3, 5}, 13), w = leaf({4, 5}, 14, "w"), bias = leaf({4}, 15, "b");
        expect_ok(grad_check([&] { return probe(linear(x, w, bias)); }, {x, w, bias}));
        expect_ok(grad_check([&] { return probe(linear(x, w, Var())); }, {x, w}));
        Var m = leaf({5, 6}, 16, "m");
        expect_ok(grad_check([&] { return probe(matmul(x, m)); }, {x, m}));
        Var table = leaf({7, 3}, 17, "table");
        Tensor ids = Tensor::from_vector(std::vector<int32_t>{1, 6, 1, 0}, {2, 2});
        expect_ok(grad_check([&] { return probe(embedding(ids, table)); }, {table}));
    }

    TEST_CASE("autograd grad_check: softmax family, losses and the mixed sum") {
        Var x = leaf({3, 7}, 18);
        Tensor lab = Tensor::from_vector(std::vector<int32_t>{0, 6, 3}, {3});
        expect_ok(grad_check([&] { return probe(softmax(x)); }, {x}));
        expect_ok(grad_check([&] { return probe(log_softmax(x)); }, {x}));
        expect_ok(grad_check([&] { return nll_loss(log_softmax(x), lab); }, {x}));
        expect_ok(grad_check([&] { return cross_entropy(x, lab); }, {x}));
        expect_ok(grad_check([&] { return cross_entropy(x, lab, 0.1f); }, {x}));
        Var y0 = leaf({3, 4}, 19, "y0"), y2 = leaf({3, 4}, 20, "y2"), w = leaf({3}, 21, "w");
        expect_ok(grad_check([&] { return probe(mixed_sum({y0, Var(), y2}, w)); }, {y0, y2, w}));
        expect_ok(grad_check(
            [&] {
                return probe(mixed_softmax_sum({y0, Var(), y2}, w));
            },
            {y0, y2, w}));
        // The same Var as two candidates gets both contributions.
        expect_ok(grad_check(
            [&] {
                return probe(mixed_softmax_sum({y0, y0, y2}, w));
            },
            {y0, y2, w}));
        // Windows of one weight matrix (the search cell's softmax(alphas) rows): two edges read
        // rows 1 and 3 of a (4, 3) w in place; row 0 and 2 get zero gradient, not garbage.
        Var wm = leaf({4, 3}, 22, "w"), y1 = leaf({3, 4}, 23, "y1");
        expect_ok(grad_check(
            [&] {
                return add(probe(mixed_sum({y0, Var(), y2}, wm, 3), 1),
                           probe(mixed_sum({y1, y0, y2}, wm, 9), 2));
            },
            {y0, y1, y2, wm}));
        backward(probe(mixed_sum({y1, y0, y2}, wm, 9), 2));
        const std::vector<float> g = wm.grad().to_vector();
        for (int i = 0; i < 9; ++i) CHECK(g[size_t(i)] == 0.f);
        const std::vector<float> all = wm.value().to_vector();
        const Var row3(Tensor::from_vector(std::vector<float>(all.begin() + 9, all.end()), {3}));
        CHECK(mixed_sum({y1, y0, y2}, wm, 9).value().to_vector() ==
              mixed_sum({y1, y0, y2}, row3).value().to_vector());
        CHECK_THROWS_AS(mixed_sum({y1, y0, y2}, wm, 10), Error);
        CHECK_THROWS_AS(mixed_sum({y1, y0, y2}, wm, -1), Error);
        CHECK_THROWS_AS(mixed_sum({y1, y0}, wm), Error);  // the whole-w form wants K = numel
        // A node of two edges, rows 1 and 2 of wm: the edges' mixed sums added, and their
        // gradients; the candidates of the first edge include the second's (a shared state).
        const auto node = [&] { return mixed_node({y0, Var(), y2, y1, y0, y2}, wm, 3, 3); };
        CHECK(node().value().to_vector() ==
              add(mixed_sum({y0, Var(), y2}, wm, 3), mixed_sum({y1, y0, y2}, wm, 6))
                  .value()
                  .to_vector());
        expect_ok(grad_check([&] { return probe(node()); }, {y0, y1, y2, wm}));
        CHECK_THROWS_AS(mixed_node({y0, y1, y2}, wm, 0, 2), Error);  // 3 candidates, edges of 2
        CHECK_THROWS_AS(mixed_node({y0, y1}, wm, 0, 0), Error);
    }

    TEST_CASE("autograd mixed_node: past one launch's table, the same as edge by edge") {
        // 9 edges of 8 candidates (72 > cuda::kMaxCandidates): the fallback composes mixed_sum and
        // add, and the table's largest node (64) is one op: both equal the composition.
        Var w = leaf({9, 8}, 60, "w");
        std::vector<Var> ys;
        for (int k = 0; k < 72; ++k)
            ys.push_back(k % 8 == 0 ? Var() : leaf({2, 3}, uint64_t(61 + k)));
        for (const int edges : {9, 8}) {
            CAPTURE(edges);
            const std::vector<Var> cands(ys.begin(), ys.begin() + 8 * edges);
            Var want;
            for (int e = 0; e < edges; ++e) {
                const std::vector<Var> edge(ys.begin() + 8 * e, ys.begin() + 8 * e + 8);
                const Var m = mixed_sum(edge, w, 8 * e);
                want = want.defined() ? add(want, m) : m;
            }
            CHECK(mixed_node(cands, w, 0, 8).value().to_vector() == want.value().to_vector());
        }
    }

    TEST_CASE("autograd: a reused value accumulates both contributions") {
        Var x(Tensor::from_vector(std::vector<float>{2.f, -3.f}, {2}), true, "x");
        backward(sum(add(mul(x, x), scale(x, 3.f))));  // d/dx (x^2 + 3x) = 2x + 3
        CHECK(x.grad().to_vector() == std::vector<float>{7.f, -3.f});
        // A second backward overwrites (as zero_grad + backward would), it does not add.
        backward(sum(scale(x, 2.f)));
        CHECK(x.grad().to_vector() == std::vector<float>{2.f, 2.f});
    }

    TEST_CASE("autograd: gradients for a chosen subset of leaves only") {
        Var w(Tensor::from_vector(std::vector<float>{1.f, 2.f}, {2}), true, "w");
        Var a(Tensor::from_vector(std::vector<float>{3.f, 4.f}, {2}), true, "alpha");
        Var loss = sum(mul(w, a));
        backward(loss, {a});
        CHECK(a.grad().to_vector() == std::vector<float>{1.f, 2.f});
        CHECK_FALSE(w.grad().defined());  // never computed
        CHECK(tape_size() == 0);
        // A wanted leaf the loss does not depend on gets zeros.
        Var unused(Tensor::from_vector(std::vector<float>{5.f}, {1}), true, "unused");
        backward(sum(mul(w, a)), {a, unused});
        CHECK(unused.grad().to_vector() == std::vector<float>{0.f});
        CHECK_THROWS_AS(backward(sum(w), {loss}), Error);  // not a leaf
    }

    TEST_CASE("autograd: no-grad scope records nothing and constants need no gradient") {
        clear_tape();  // a failed backward (an earlier case) leaves its tape for the caller
        Var x(Tensor::from_vector(std::vector<float>{1.f, 2.f}, {2}), true, "x");
        {
            NoGradGuard guard;
            Var y = relu(x);
            CHECK(tape_size() == 0);
            CHECK_FALSE(y.requires_grad());
        }
        Var c(Tensor::from_vector(std::vector<float>{1.f, 2.f}, {2}));
        Var y = relu(c);
        CHECK(tape_size() == 0);
        CHECK_FALSE(y.requires_grad());
        CHECK_THROWS_AS(backward(Var(Tensor::zeros({2}))), Error);  // not one element
    }

    TEST_CASE("autograd: ops reject mismatched shapes with a message naming them") {
        Var a = leaf({2, 3}, 1), b = leaf({3, 2}, 2);
        CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("shapes differ"), Error);
        CHECK_THROWS_AS(conv2d(a, b), Error);
        clear_tape();
    }
}
