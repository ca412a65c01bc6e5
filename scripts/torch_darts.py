"""The DARTS search network and architect in PyTorch, written from ../shared/reference/darts.md
(sections 1, 2 and 4), for the reference timings (bench/pytorch_reference.py) and cross-checks.

Search network: 8 primitives per MixedOp in the canonical order, affine=False BN everywhere except
the stem, a BN after each pool, 14 edges per 4-node cell, reduction cells at L//3 and 2L//3.
Architect: first order (one validation backward) or second order (virtual SGD step with momentum
and weight decay, gradients at w', finite-difference Hessian-vector product around w).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

PRIMITIVES = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
              "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]


class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class ReLUConvBN(nn.Module):
    def __init__(self, c_in, c_out, affine):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, 1, bias=False),
                                nn.BatchNorm2d(c_out, affine=affine))

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    def __init__(self, c, k, stride, pad, dil, affine):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, k, stride, pad, dilation=dil, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine))

    def forward(self, x):
        return self.op(x)


class SepConv(nn.Module):
    def __init__(self, c, k, stride, pad, affine):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False), nn.Conv2d(c, c, k, stride, pad, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine),
            nn.ReLU(inplace=False), nn.Conv2d(c, c, k, 1, pad, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine))

    def forward(self, x):
        return self.op(x)


class FactorizedReduce(nn.Module):
    def __init__(self, c_in, c_out, affine):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x):
        y = self.relu(x)
        return self.bn(torch.cat([self.conv_1(y), self.conv_2(y[:, :, 1:, 1:])], dim=1))


def make_op(name, c, stride, affine):
    if name == "none":
        return Zero(stride)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride, 1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)
    if name == "sep_conv_3x3":
        return SepConv(c, 3, stride, 1, affine)
    if name == "sep_conv_5x5":
        return SepConv(c, 5, stride, 2, affine)
    if name == "dil_conv_3x3":
        return DilConv(c, 3, stride, 2, 2, affine)
    if name == "dil_conv_5x5":
        return DilConv(c, 5, stride, 4, 2, affine)
    raise ValueError(f"unknown primitive {name!r}")


class MixedOp(nn.Module):
    def __init__(self, c, stride):
        super().__init__()
        self._ops = nn.ModuleList()
        for name in PRIMITIVES:
            op = make_op(name, c, stride, affine=False)
            if "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm2d(c, affine=False))
            self._ops.append(op)

    def forward(self, x, weights):
        return sum(w * op(x) for w, op in zip(weights, self._ops))


class SearchCell(nn.Module):
    def __init__(self, steps, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(c_pp, c, False) if reduction_prev
                            else ReLUConvBN(c_pp, c, False))
        self.preprocess1 = ReLUConvBN(c_p, c, False)
        self._steps = steps
        self._ops = nn.ModuleList()
        for i in range(steps):
            for j in range(2 + i):
                self._ops.append(MixedOp(c, 2 if reduction and j < 2 else 1))

    def forward(self, s0, s1, weights):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for i in range(self._steps):
            s = sum(self._ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[-self._steps:], dim=1)


class SearchNetwork(nn.Module):
    """model_search.Network: C=16, 8 layers and 10 classes give 1,930,618 weights."""

    def __init__(self, c=16, num_classes=10, layers=8, steps=4, stem_multiplier=3):
        super().__init__()
        self._c, self._num_classes, self._layers, self._steps = c, num_classes, layers, steps
        c_curr = stem_multiplier * c
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            self.cells.append(SearchCell(steps, c_pp, c_p, c_curr, reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, steps * c_curr
        self.classifier = nn.Linear(c_p, num_classes)
        k = sum(2 + i for i in range(steps))
        # Plain tensors, not registered parameters: outside parameters() and the state_dict.
        self.alphas_normal = (1e-3 * torch.randn(k, len(PRIMITIVES))).requires_grad_()
        self.alphas_reduce = (1e-3 * torch.randn(k, len(PRIMITIVES))).requires_grad_()

    def to(self, *args, **kwargs):
        super().to(*args, **kwargs)
        self.alphas_normal = self.alphas_normal.detach().to(*args, **kwargs).requires_grad_()
        self.alphas_reduce = self.alphas_reduce.detach().to(*args, **kwargs).requires_grad_()
        return self

    def arch_parameters(self):
        return [self.alphas_normal, self.alphas_reduce]

    def forward(self, x):
        s0 = s1 = self.stem(x)
        wn = F.softmax(self.alphas_normal, dim=-1)
        wr = F.softmax(self.alphas_reduce, dim=-1)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, wr if cell.reduction else wn)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))

    def new(self):
        """A network of the same shape with copies of the current alphas (the unrolled model)."""
        other = SearchNetwork(self._c, self._num_classes, self._layers, self._steps)
        other.to(self.alphas_normal.device)
        with torch.no_grad():
            for a, b in zip(other.arch_parameters(), self.arch_parameters()):
                a.copy_(b)
        return other


def count_weights(model):
    return sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name)


class Architect:
    """architect.py: Adam on alpha (3e-4, betas 0.5/0.999, wd 1e-3); first or second order."""

    def __init__(self, model, momentum=0.9, weight_decay=3e-4):
        self.model = model
        self.momentum, self.weight_decay = momentum, weight_decay
        self.optimizer = torch.optim.Adam(model.arch_parameters(), lr=3e-4, betas=(0.5, 0.999),
                                          weight_decay=1e-3)

    def step(self, x_t, y_t, x_v, y_v, eta, w_optimizer, order):
        self.optimizer.zero_grad()
        if order == 1:
            F.cross_entropy(self.model(x_v), y_v).backward()
        else:
            self._backward_step_unrolled(x_t, y_t, x_v, y_v, eta, w_optimizer)
        self.optimizer.step()

    def _backward_step_unrolled(self, x_t, y_t, x_v, y_v, eta, w_optimizer):
        model = self.model
        params = list(model.parameters())
        loss = F.cross_entropy(model(x_t), y_t)
        grads = torch.autograd.grad(loss, params)
        unrolled = model.new()  # a fresh model every step, as the reference builds one
        with torch.no_grad():
            for p, g, q in zip(params, grads, unrolled.parameters()):
                state = w_optimizer.state.get(p, {})
                buf = state.get("momentum_buffer")
                m = self.momentum * buf if buf is not None else torch.zeros_like(p)
                q.copy_(p - eta * (m + g + self.weight_decay * p))
            for a, b in zip(unrolled.arch_parameters(), model.arch_parameters()):
                a.copy_(b)
                a.grad = None
            for qb, pb in zip(unrolled.buffers(), model.buffers()):
                qb.copy_(pb)
        u_params = list(unrolled.parameters())
        u_alphas = unrolled.arch_parameters()
        loss_v = F.cross_entropy(unrolled(x_v), y_v)
        grads = torch.autograd.grad(loss_v, u_alphas + u_params, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, u_alphas + u_params)]
        d_alpha, dw = grads[:len(u_alphas)], grads[len(u_alphas):]
        h = self._hessian_vector_product(dw, x_t, y_t)
        for a, da, hv in zip(model.arch_parameters(), d_alpha, h):
            a.grad = da - eta * hv

    @staticmethod
    def _alpha_grads(model, x, y):
        alphas = model.arch_parameters()
        grads = torch.autograd.grad(F.cross_entropy(model(x), y), alphas, allow_unused=True)
        return [torch.zeros_like(a) if g is None else g for g, a in zip(grads, alphas)]

    def _hessian_vector_product(self, vector, x, y, r=1e-2):
        model = self.model
        params = list(model.parameters())
        R = r / torch.cat([v.flatten() for v in vector]).norm()
        saved = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p, v in zip(params, vector):
                p.add_(R * v)
        g_pos = self._alpha_grads(model, x, y)
        with torch.no_grad():
            for p, s, v in zip(params, saved, vector):
                p.copy_(s - R * v)
        g_neg = self._alpha_grads(model, x, y)
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)
        return [(gp - gn) / (2 * R) for gp, gn in zip(g_pos, g_neg)]


def search_step(model, architect, w_optimizer, x_t, y_t, x_v, y_v, eta, order):
    """One train_search.py step: the alpha step first, then the weight step on the same batch."""
    architect.step(x_t, y_t, x_v, y_v, eta, w_optimizer, order)
    w_optimizer.zero_grad()
    loss = F.cross_entropy(model(x_t), y_t)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    w_optimizer.step()
    return loss


def weight_optimizer(model, lr=0.025):
    return torch.optim.SGD(model.parameters(), lr, momentum=0.9, weight_decay=3e-4)
