#!/usr/bin/env python3
"""PyTorch reference for `featurelens bench gemm --python PATH`.

Times torch.matmul on square float32 matrices (C = A @ B, preallocated output) with the
same protocol as the Swift benchmark: a warm-up of at least one run and ~0.1 s, then at
least --repeats timed runs and at least 0.5 s in total; reports the median GFLOP/s
(2*n^3 flops per product / seconds / 1e9). Prints one JSON object:

    {"torch": "2.x", "gemm": [{"m": 1024, "n": 1024, "k": 1024, "threads": 2, "gflops": ...}, ...]}
"""
import argparse
import json
import statistics
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import torch
    except ImportError as error:  # reported by the Swift side as a clear error
        print(f"torch does not import: {error}", file=sys.stderr)
        return 2

    rows = []
    for size in args.sizes:
        generator = torch.Generator().manual_seed(size)
        a = torch.rand(size, size, generator=generator, dtype=torch.float32) * 2 - 1
        b = torch.rand(size, size, generator=generator, dtype=torch.float32) * 2 - 1
        c = torch.empty(size, size, dtype=torch.float32)
        flops = 2.0 * size ** 3
        for threads in args.threads:
            torch.set_num_threads(threads)

            def once() -> float:
                start = time.perf_counter()
                torch.matmul(a, b, out=c)
                return time.perf_counter() - start

            warm = 0.0
            while True:
                warm += once()
                if warm >= 0.1:
                    break
            rates, total = [], 0.0
            while len(rates) < args.repeats or (total < 0.5 and len(rates) < 200):
                seconds = once()
                total += seconds
                rates.append(flops / seconds * 1e-9)
            rows.append({"m": size, "n": size, "k": size, "threads": threads,
                         "gflops": round(statistics.median(rates), 1)})
    print(json.dumps({"torch": torch.__version__, "gemm": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
