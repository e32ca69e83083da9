#!/usr/bin/env python3
"""PyTorch reference for `featurelens bench train`.

The same work as the Swift benchmark, step for step: a linear encoder z = W x (d = 512,
p = 64, no bias) trained with NT-Xent (tau = 0.5) on shuffled batches of 512 examples drawn
from a fixed data set of 4096 standard-normal inputs; the two views of a batch are
x + N(0, 0.1^2) noise, drawn independently; plain SGD with learning rate 0.1. One step:

    views = cat([x + 0.1 * randn, x + 0.1 * randn])          [2N, d]
    z     = views @ W.T                                        [2N, p]
    u     = normalize(z);  s = u @ u.T / tau;  s_ii = -inf     [2N, 2N]
    loss  = cross_entropy(s, partner)   (partner of i = i + N mod 2N)
    zero_grad; loss.backward(); sgd.step()

Modes:
    --seconds S   time steps for S seconds (after a warm-up) and print one JSON object
                  {"torch": version, "threads": t, "steps": k, "seconds": s, "steps_per_s": r}
    --serve       print {"ready": true, "torch": version} and then, for every line "run S" read
                  on stdin, time steps for S seconds and print the same JSON object; stop on
                  "quit" or end of input. The Swift benchmark uses this to interleave the runs.
Exit status 2 when torch does not import.
"""
import argparse
import json
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--examples", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--p", type=int, default=64)
    parser.add_argument("--tau", type=float, default=0.5)
    parser.add_argument("--sigma", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=float, default=0.5, help="warm-up seconds")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--seconds", type=float, default=3.0)
    group.add_argument("--serve", action="store_true")
    args = parser.parse_args()
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as error:
        print(f"torch does not import: {error}", file=sys.stderr)
        return 2

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = torch.randn(args.examples, args.d)
    encoder = torch.nn.Linear(args.d, args.p, bias=False)
    optimizer = torch.optim.SGD(encoder.parameters(), lr=args.lr)
    n = args.batch
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    diagonal = torch.eye(2 * n, dtype=torch.bool)
    state = {"perm": torch.randperm(args.examples), "pos": 0}

    def next_batch():
        if state["pos"] + n > args.examples:  # drop the last partial batch, reshuffle
            state["perm"] = torch.randperm(args.examples)
            state["pos"] = 0
        idx = state["perm"][state["pos"]:state["pos"] + n]
        state["pos"] += n
        return data[idx]

    def step():
        x = next_batch()
        views = torch.cat([x + args.sigma * torch.randn_like(x), x + args.sigma * torch.randn_like(x)])
        z = encoder(views)
        u = F.normalize(z, dim=1)
        s = (u @ u.T) / args.tau
        s = s.masked_fill(diagonal, float("-inf"))
        loss = F.cross_entropy(s, partner)
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        optimizer.step()
        return loss

    def timed(seconds):
        steps, start = 0, time.perf_counter()
        while True:
            step()
            steps += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        return {"torch": torch.__version__, "threads": torch.get_num_threads(), "steps": steps,
                "seconds": elapsed, "steps_per_s": steps / elapsed}

    timed(args.warmup)
    if not args.serve:
        print(json.dumps(timed(args.seconds)))
        return 0
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "run" and len(words) == 2:
            print(json.dumps(timed(float(words[1]))), flush=True)
        else:
            print(json.dumps({"error": f"unknown command {line.strip()!r}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
