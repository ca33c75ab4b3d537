"""A word-level recurrent language model in the style of pytorch/examples'
word_language_model, written once against the PyTorch API: an embedding, a multi-layer LSTM (or
GRU), a linear decoder with log-softmax and NLLLoss, truncated backpropagation through time
with the hidden state detached between batches, gradient-norm clipping and a hand-written SGD
update (``p.data.add_(p.grad, alpha=-lr)``), as that example does.

``run(torch, ...)`` takes the framework module: PyTorch itself, or micrograd imported as torch.
"""

from __future__ import annotations

import time

import numpy as np

WORDS = ("the cat sat on the mat and the dog ran to the park while a bird sang in the old "
         "tree near the river where the children played with a red ball until the sun went "
         "down behind the hills").split()


def run(torch, *, device: str, steps: int, init: dict | None = None, rnn_type: str = "LSTM",
        emsize: int = 16, nhid: int = 24, nlayers: int = 2, bptt: int = 8, batch_size: int = 4,
        lr: float = 2.0, clip: float = 0.25):
    nn, F = torch.nn, torch.nn.functional

    vocab = {w: i for i, w in enumerate(dict.fromkeys(WORDS))}
    corpus_rng = np.random.default_rng(0)
    ids = np.concatenate([[vocab[w] for w in WORDS], corpus_rng.integers(0, len(vocab), 400)])
    ntokens = len(vocab)

    class RNNModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.0)
            self.encoder = nn.Embedding(ntokens, emsize)
            self.rnn = getattr(nn, rnn_type)(emsize, nhid, nlayers, dropout=0.0)
            self.decoder = nn.Linear(nhid, ntokens)
            self.init_weights()

        def init_weights(self):
            initrange = 0.1
            nn.init.uniform_(self.encoder.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, input, hidden):
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            output = self.drop(output)
            decoded = self.decoder(output).view(-1, ntokens)
            return F.log_softmax(decoded, dim=1), hidden

        def init_hidden(self, bsz):
            weight = next(self.parameters())
            if rnn_type == "LSTM":
                return (weight.new_zeros(nlayers, bsz, nhid), weight.new_zeros(nlayers, bsz, nhid))
            return weight.new_zeros(nlayers, bsz, nhid)

    def batchify(data, bsz):
        nbatch = data.size(0) // bsz
        data = data.narrow(0, 0, nbatch * bsz)
        return data.view(bsz, -1).t().contiguous().to(device)

    def repackage_hidden(h):
        if isinstance(h, torch.Tensor):
            return h.detach()
        return tuple(repackage_hidden(v) for v in h)

    def get_batch(source, i):
        seq_len = min(bptt, len(source) - 1 - i)
        return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].view(-1)

    torch.manual_seed(1111)
    model = RNNModel()
    if init is not None:
        model.load_state_dict({k: torch.tensor(v) for k, v in init.items()})
    start = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    model.to(device)
    criterion = nn.NLLLoss()
    train_data = batchify(torch.tensor(ids, dtype=torch.long), batch_size)

    model.train()
    hidden = model.init_hidden(batch_size)
    losses, seconds = [], []
    positions = range(0, train_data.size(0) - 1, bptt)
    for step in range(steps):
        t0 = time.perf_counter()
        i = positions[step % len(positions)]
        if i == 0:
            hidden = model.init_hidden(batch_size)
        data, targets = get_batch(train_data, i)
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        losses.append(loss.item())
        seconds.append(time.perf_counter() - t0)
    return losses, seconds, start
