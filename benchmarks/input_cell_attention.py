"""Speed of our batched input-cell attention LSTM against the reference's per-step loop.

[ICA] Ismail et al. (NeurIPS 2019). The authors' cell recomputes the attention over x_1..x_t in
a Python loop over t and steps a hand-written LSTM cell. Ours computes every M_t at once with a
causal mask and runs ``nn.LSTM`` over them (exactly the same function: the script checks the
logits agree). Both use the same weights; timed: forward + backward to the input, eval mode
(what saliency methods do), and the two outputs are compared.

Usage:
    .venv/bin/python benchmarks/input_cell_attention.py
    .venv/bin/python benchmarks/input_cell_attention.py --time 100 --features 100 --device cuda
"""

from __future__ import annotations

import argparse
import time

import torch

from saliencylab.models import build_model
from saliencylab.models.input_cell_attention import LSTMInputCellAttention


def reference_forward(model: LSTMInputCellAttention, x: torch.Tensor) -> torch.Tensor:
    """The authors' algorithm: per step, attend over x[:, :t+1], then one LSTM cell step."""
    att, rnn = model.attention, model.rnn
    hs = rnn.hidden_size
    h = x.new_zeros(x.shape[0], hs)
    c = x.new_zeros(x.shape[0], hs)
    for t in range(x.shape[1]):
        past = x[:, : t + 1]
        a = torch.softmax(att.w2(torch.tanh(att.w1(past))), dim=1)  # over time
        m = (a.transpose(1, 2) @ past).sum(1) / att.hops
        gates = m @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0
        i, f, g, o = gates.split(hs, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
    return model.fc(h)


def timed(fn, x: torch.Tensor, repeats: int) -> tuple[float, torch.Tensor]:
    def step() -> torch.Tensor:
        xi = x.detach().requires_grad_(True)
        out = fn(xi)
        out[:, 1].sum().backward()
        return out.detach()

    step()  # warm-up
    if x.is_cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        out = step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeats, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--time", type=int, default=50)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="a tiny setting (seconds), for tests")
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.time, args.features, args.repeats = 4, 10, 10, 1
    torch.set_num_threads(args.threads)

    model = build_model("lstm_ica", args.features, args.time, seed=0).to(args.device).eval()
    x = torch.rand(args.batch, args.time, args.features, device=args.device)
    t_ours, out_ours = timed(model, x, args.repeats)
    t_ref, out_ref = timed(lambda xi: reference_forward(model, xi), x, args.repeats)
    diff = (out_ours - out_ref).abs().max().item()
    print(
        f"lstm_ica, batch {args.batch}, T {args.time}, F {args.features}, device {args.device}, "
        f"{torch.get_num_threads()} threads; forward + input backward, eval mode\n"
    )
    print("| implementation | seconds per batch | speed-up |")
    print("|---|---|---|")
    print(f"| reference per-step loop | {t_ref:.4f} | 1.0x |")
    print(f"| saliencylab (causal mask + nn.LSTM) | {t_ours:.4f} | {t_ref / t_ours:.1f}x |")
    print(f"\nmax |logit difference| = {diff:.2e}")


if __name__ == "__main__":
    main()
