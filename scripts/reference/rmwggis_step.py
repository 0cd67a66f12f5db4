#!/usr/bin/env python3
"""PyTorch twin of one rmbench training step, written for this project after the RMwGGIS reference
code (divelab/RMwGGIS: model.py, main_rm_synthetic.py, main_ggis_synthetic.py).

Model: MLP d -> H x L -> 1 with Swish x*sigmoid(beta*x), ONE beta shared by the hidden layers
(the reference puts a single Swish() instance in its NONLINEARITIES dict). Energy E(x) = net(x).
Step (as the reference):
  rm            all d flipped copies, loss = mean_x sum_i exp(2(E(x) - E(x_-i)))
  ggis-basic    autograd input gradient, q ∝ exp(2(2x-1)·g), s draws WITHOUT replacement
                (torch.multinomial(replacement=False), as the reference), ratios / sqrt(s·q)
  ggis-advanced same draws, unweighted
then clip_grad_norm_(1) and Adam(lr 5e-4, weight_decay 1e-4).
Prints one JSON line per configuration: median and quartiles of ms per step over --steps timed
steps after --warmup steps, and the process's peak RSS (MB).
"""
import argparse, json, resource, statistics, time
import torch
from torch import nn


class Swish(nn.Module):
    def __init__(self):
        super().__init__()
        self.beta = nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        return x * torch.sigmoid(self.beta * x)


def mlp(d, hidden, layers):
    sw = Swish()
    dims = [d] + [hidden] * layers + [1]
    mods = []
    for k in range(len(dims) - 1):
        mods.append(nn.Linear(dims[k], dims[k + 1]))
        if k != len(dims) - 2:
            mods.append(sw)
    return nn.Sequential(*mods)


def step(model, opt, x, objective, s):
    if objective == "rm":
        n, d = x.shape
        e = model(x)
        flips = x.unsqueeze(0).repeat(d, 1, 1)
        idx = torch.arange(d)
        flips[idx, :, idx] = 1 - flips[idx, :, idx]
        exp_ = model(flips.reshape(d * n, d)).reshape(d, n).t()
        loss = (torch.exp(e - exp_) ** 2).sum(-1).mean()
    else:
        x = x.clone().requires_grad_(True)
        e = model(x)
        g = torch.autograd.grad(e.sum(), x, create_graph=True)[0]
        w = torch.exp(2 * (2 * x - 1) * g)
        dims = torch.multinomial(w, s, replacement=False)
        rows = torch.arange(x.shape[0])
        flips = []
        for j in range(s):
            f = x.clone()
            f[rows, dims[:, j]] = 1 - f[rows, dims[:, j]]
            flips.append(f)
        exp_ = model(torch.cat(flips, 0)).reshape(s, -1).t()
        ratios = torch.exp(e - exp_)
        if objective == "ggis-basic":
            probs = w / w.sum(-1, keepdim=True)
            q = torch.gather(probs, 1, dims)
            ratios = ratios / (q * s) ** 0.5
        loss = (ratios ** 2).sum(-1).mean()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, nargs="+", default=[32])
    ap.add_argument("--objective", nargs="+", default=["rm", "ggis-basic", "ggis-advanced"])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    for d in a.dim:
        for obj in a.objective:
            model = mlp(d, a.hidden, a.layers)
            opt = torch.optim.Adam(model.parameters(), lr=5e-4, weight_decay=1e-4)
            x = torch.randint(0, 2, (a.batch, d)).float()
            times = []
            for k in range(a.warmup + a.steps):
                t = time.perf_counter()
                step(model, opt, x, obj, a.samples)
                if k >= a.warmup:
                    times.append((time.perf_counter() - t) * 1e3)
            q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
            print(json.dumps({
                "impl": "pytorch", "torch": torch.__version__, "dim": d, "objective": obj,
                "batch": a.batch, "samples": a.samples, "threads": a.threads,
                "step_ms_median": statistics.median(times), "step_ms_q1": q[0], "step_ms_q3": q[2],
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }), flush=True)


if __name__ == "__main__":
    main()
