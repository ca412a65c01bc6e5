"""The recurrent DARTS language model (evaluation form) in PyTorch, written from
../shared/reference/darts.md (sections 7.1, 7.2, 7.5 and 7.6), for cross-checks with cudarts.

Eval mode only: no dropout masks. The module tree gives the reference's state_dict keys:
encoder.weight (ntoken x ninp), rnns.0._W0 ((ninp+nhid) x 2*nhid), rnns.0._Ws.0 .. rnns.0._Ws.7
(nhid x 2*nhid), decoder.weight (the same tensor as encoder.weight) and decoder.bias.
Also here: the PTB-format corpus reader (ids by first occurrence over train, valid, test),
batchify and the reference's evaluation protocol (evaluate).
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

# Genotype(recurrent, concat) as dicts; DARTS = DARTS_V2.
DARTS_V1 = {"recurrent": [("relu", 0), ("relu", 1), ("tanh", 2), ("relu", 3), ("relu", 4),
                          ("identity", 1), ("relu", 5), ("relu", 1)],
            "concat": list(range(1, 9))}
DARTS_V2 = {"recurrent": [("sigmoid", 0), ("relu", 1), ("relu", 1), ("identity", 1),
                          ("tanh", 2), ("sigmoid", 5), ("tanh", 3), ("relu", 5)],
            "concat": list(range(1, 9))}
GENOTYPES = {"DARTS_V1": DARTS_V1, "DARTS_V2": DARTS_V2, "DARTS": DARTS_V2}

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid,
               "identity": lambda x: x}


class DARTSCell(nn.Module):
    """The evaluation cell: s0 from [x_t, h_{t-1}], then one highway node per gene."""

    def __init__(self, ninp, nhid, genotype):
        super().__init__()
        self.nhid = nhid
        self.genes = list(genotype["recurrent"])
        self.concat = list(genotype["concat"])
        for act, pred in self.genes:
            if act not in ACTIVATIONS:
                raise ValueError("unknown recurrent activation %r" % act)
        for i, (_, pred) in enumerate(self.genes):
            if not 0 <= pred <= i:
                raise ValueError("node %d reads state %d, which is not computed yet" % (i, pred))
        self._W0 = nn.Parameter(torch.empty(ninp + nhid, 2 * nhid).uniform_(-0.04, 0.04))
        self._Ws = nn.ParameterList([nn.Parameter(torch.empty(nhid, 2 * nhid).uniform_(-0.04, 0.04))
                                     for _ in self.genes])

    def step(self, x, h_prev):
        """x: B x ninp, h_prev: B x nhid -> the new hidden state (B x nhid)."""
        n = self.nhid
        ch = torch.cat([x, h_prev], dim=1) @ self._W0
        c0, h0 = torch.sigmoid(ch[:, :n]), torch.tanh(ch[:, n:])
        states = [h_prev + c0 * (h0 - h_prev)]
        for (act, pred), w in zip(self.genes, self._Ws):
            s = states[pred]
            ch = s @ w
            c, h = torch.sigmoid(ch[:, :n]), ACTIVATIONS[act](ch[:, n:])
            states.append(s + c * (h - s))
        return torch.stack([states[i] for i in self.concat], dim=0).mean(dim=0)

    def forward(self, inputs, hidden):
        """inputs: T x B x ninp, hidden: B x nhid -> (T x B x nhid outputs, last hidden)."""
        outputs = []
        h = hidden
        for t in range(inputs.shape[0]):
            h = self.step(inputs[t], h)
            outputs.append(h)
        return torch.stack(outputs, dim=0), h


class RNNModel(nn.Module):
    """Embedding (tied with the decoder), one DARTS cell, decoder, log-softmax."""

    def __init__(self, ntoken, ninp, nhid, genotype):
        super().__init__()
        if ninp != nhid:
            raise ValueError("the reference's tied model needs ninp == nhid")
        self.ntoken, self.nhid = ntoken, nhid
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnns = nn.ModuleList([DARTSCell(ninp, nhid, genotype)])
        self.decoder = nn.Linear(ninp, ntoken)
        self.decoder.weight = self.encoder.weight  # tied: one tensor, two state_dict keys
        with torch.no_grad():
            self.encoder.weight.uniform_(-0.04, 0.04)
            self.decoder.bias.zero_()

    def init_hidden(self, batch):
        w = self.encoder.weight
        return torch.zeros(batch, self.nhid, dtype=w.dtype, device=w.device)

    def forward(self, tokens, hidden):
        """tokens: T x B ids -> (T*B x ntoken log-probabilities, time-major; last hidden)."""
        out, hidden = self.rnns[0](self.encoder(tokens), hidden)
        logits = self.decoder(out.reshape(-1, out.shape[-1]))
        return F.log_softmax(logits, dim=-1), hidden


# ----------------------------------------------------------------------------- data
def read_corpus(folder):
    """PTB folder -> (vocabulary list, {split: LongTensor of ids}). Each line is its words plus
    <eos>; ids by first occurrence reading train, then valid, then test."""
    vocab, index, splits = [], {}, {}
    for split in ("train", "valid", "test"):
        ids = []
        with open(os.path.join(folder, split + ".txt"), encoding="utf-8") as f:
            for line in f:
                for w in line.split() + ["<eos>"]:
                    if w not in index:
                        index[w] = len(vocab)
                        vocab.append(w)
                    ids.append(index[w])
        splits[split] = torch.tensor(ids, dtype=torch.long)
    return vocab, splits


def batchify(tokens, batch):
    """Truncate to a multiple of batch; rows x batch, column b = tokens[b*rows:(b+1)*rows]."""
    rows = tokens.numel() // batch
    return tokens[:rows * batch].reshape(batch, rows).t().contiguous()


@torch.no_grad()
def evaluate(model, tokens, batch, bptt):
    """The reference's evaluation: mean NLL per segment weighted by its length, divided by the
    number of rows (not rows - 1); the hidden state starts at zeros and is carried."""
    model.eval()
    data = batchify(tokens, batch)
    rows = data.shape[0]
    hidden = model.init_hidden(batch)
    total = 0.0
    i = 0
    while i < rows - 1:
        length = min(bptt, rows - 1 - i)
        inputs, targets = data[i:i + length], data[i + 1:i + 1 + length].reshape(-1)
        logp, hidden = model(inputs, hidden)
        total += F.nll_loss(logp, targets).item() * length
        i += bptt
    return total / rows
