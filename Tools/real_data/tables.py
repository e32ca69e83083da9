#!/usr/bin/env python3
"""Markdown tables of docs/REAL_DATA.md from the report.json files of the Fashion-MNIST presets.

Usage:
    python3 Tools/real_data/tables.py --collapse RUN_s0 RUN_s1 RUN_s2 --randbits RUN_s0 RUN_s1 RUN_s2
    python3 Tools/real_data/tables.py --class-collapse RUN_s0 RUN_s1 RUN_s2
    python3 Tools/real_data/tables.py --defects RUN_s0 RUN_s1 RUN_s2

Each RUN is the --out folder of `featurelens run fashion-collapse --seed S` (or fashion-randbits,
fashion-class-collapse, or `featurelens run defects --set data=parts-sS --seed S`);
give them in seed order. Standard library only; nothing is rounded except for printing.
"""
import argparse
import json
import os
import sys


def load(folder):
    path = os.path.join(folder, "report.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"{path}: {e}")


def seed_of(report, fallback):
    return report.get("config", {}).get("seed", fallback)


def collapse_tables(folders):
    rows, ranks, steps = [], {}, None
    for i, folder in enumerate(folders):
        report = load(folder)
        seed = seed_of(report, i)
        for run in report["runs"]:
            loss = run["settings"].get("loss", "?")
            layer = run.get("layer", "?")
            timeline = run["timeline"]
            run_steps = [t["step"] for t in timeline]
            steps = steps or run_steps
            fine = [t["probes"].get("class") for t in timeline]
            coarse = timeline[-1]["probes"].get("coarse")
            verdict = run.get("verdicts", {}).get("class", "")
            rows.append((seed, loss, layer, fine, coarse, verdict))
            ranks.setdefault((seed, loss), {})[layer] = timeline[-1].get("metrics", {}).get("effective_rank")
    out = ["| seed | loss | layer | " + " | ".join(f"step {s}" for s in steps) + " | coarse (final) | verdict |",
           "|---|---|---|" + "---|" * len(steps) + "---|---|"]
    for seed, loss, layer, fine, coarse, verdict in rows:
        cells = " | ".join("—" if v is None else f"{v:.3f}" for v in fine)
        out.append(f"| {seed} | {loss} | {layer} | {cells} | {coarse:.3f} | {verdict} |")
    out += ["", "Effective rank of the test embeddings at the last audit (backbone / head):", ""]
    losses = sorted({loss for (_, loss) in ranks}, key=lambda l: ["supcon", "spectral-scl", "joint"].index(l)
                    if l in ["supcon", "spectral-scl", "joint"] else 9)
    out.append("| seed | " + " | ".join(losses) + " |")
    out.append("|---|" + "---|" * len(losses))
    for seed in sorted({s for (s, _) in ranks}):
        cells = []
        for loss in losses:
            r = ranks.get((seed, loss), {})
            cells.append(" / ".join("—" if r.get(l) is None else f"{r[l]:.1f}" for l in ("backbone", "head")))
        out.append(f"| {seed} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def randbits_table(folders):
    by_setting, seeds = {}, []
    for i, folder in enumerate(folders):
        report = load(folder)
        seed = seed_of(report, i)
        seeds.append(seed)
        for run in report["runs"]:
            s = run["settings"]
            k = s.get("bits", 0)
            mode = "—" if k == 0 else s.get("bits_mode", "shared")
            key = (-s.get("embedding", 0), {"—": 0, "shared": 1}.get(mode, 2), mode, k)
            first, last = run["timeline"][0]["probes"], run["timeline"][-1]["probes"]
            bits = [v for name, v in last.items() if name.startswith("bit")]
            by_setting.setdefault(key, {})[seed] = (last.get("class"), first.get("class"),
                                                   sum(bits) / len(bits) if bits else None)
    out = ["| p | bits | k | " + " | ".join(f"seed {s} class (baseline)" for s in seeds) + " | "
           + " | ".join(f"seed {s} bits" for s in seeds) + " |",
           "|---|---|---|" + "---|" * (2 * len(seeds))]
    for key in sorted(by_setting):
        p, mode, k = -key[0], key[2], key[3]
        vals = by_setting[key]
        cls = " | ".join(f"{vals[s][0]:.3f} ({vals[s][1]:.3f})" if s in vals else "—" for s in seeds)
        bits = " | ".join("—" if s not in vals or vals[s][2] is None else f"{vals[s][2]:.3f}" for s in seeds)
        out.append(f"| {p} | {mode} | {k} | {cls} | {bits} |")
    return "\n".join(out)


def fmt_se(value, se):
    if value is None or value == "nan":
        return "—"
    if se is None or se == "nan":
        return f"{value:.3f}"
    return f"{value:.3f} ± {se:.3f}"


def class_collapse_table(folders):
    """fashion-class-collapse: per seed, loss and layer, `class` within `coarse` at step 0,
    its peak and the end (± standard error), the fall in standard errors, the coarse groups'
    within-group variance share at step 0 and at the end, and the verdict."""
    out = ["| seed | loss (augmentation) | layer | step 0 | peak (step) | end | fall (SE) | "
           "coarse variance share: step 0 → end | verdict |",
           "|---|---|---|---|---|---|---|---|---|"]
    for i, folder in enumerate(folders):
        report = load(folder)
        seed = seed_of(report, i)
        for run in report["runs"]:
            f = next(x for x in run["features"] if x["label"] == "class")
            settings = run["settings"]
            first, last = run["timeline"][0], run["timeline"][-1]
            share = lambda e: (e.get("geometry") or {}).get("variance_share", {}).get("coarse")
            s0, s1 = share(first), share(last)
            sp, sf = f.get("peak_standard_error"), f.get("final_standard_error")
            fall = "—"
            if sp not in (None, "nan") and sf not in (None, "nan") and (sp * sp + sf * sf) > 0:
                fall = f"{(f['peak'] - f['final']) / (sp * sp + sf * sf) ** 0.5:.1f}"
            shares = "—" if s0 is None or s1 is None else f"{s0:.2f} → {s1:.2f}"
            out.append(f"| {seed} | {settings.get('loss')} ({settings.get('augmentation')}) | {settings.get('layer', '')} | "
                       f"{fmt_se(f.get('baseline'), f.get('baseline_standard_error'))} | "
                       f"{fmt_se(f['peak'], sp)} ({f['peak_step']}) | {fmt_se(f['final'], sf)} | {fall} | {shares} | "
                       f"{f['verdict']} |")
    return "\n".join(out)


def defects_table(folders):
    """defects: per seed and loss, the end of training ± standard error with step 0 in brackets,
    of `status` (head), `type` within `status` (backbone, head) and `lighting` within `type`
    (backbone, head)."""
    names = {"supcon": "SupCon", "ntxent": "NT-Xent", "joint": "SupCon + NT-Xent"}
    columns = [("status", "head"), ("type", "backbone"), ("type", "head"), ("lighting", "backbone"), ("lighting", "head")]
    out = ["| seed | loss (views) | status, head | type within defect, backbone | type, head | "
           "lighting within type, backbone | lighting, head |",
           "|---|---|---|---|---|---|---|"]
    for i, folder in enumerate(folders):
        report = load(folder)
        seed = seed_of(report, i)
        by_loss = {}
        for run in report["runs"]:
            settings = run["settings"]
            key = (settings.get("loss"), settings.get("augmentation"))
            by_loss.setdefault(key, {})[settings.get("layer", run.get("layer"))] = \
                {f["label"]: f for f in run["features"]}
        for (loss, views), layers in by_loss.items():
            cells = []
            for label, layer in columns:
                f = layers.get(layer, {}).get(label)
                cells.append("—" if f is None else
                             f"{fmt_se(f.get('final'), f.get('final_standard_error'))} [{f.get('baseline', float('nan')):.3f}]")
            out.append(f"| {seed} | {names.get(loss, loss)} ({views}) | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collapse", nargs="*", default=[], help="fashion-collapse run folders, seed order")
    ap.add_argument("--randbits", nargs="*", default=[], help="fashion-randbits run folders, seed order")
    ap.add_argument("--class-collapse", nargs="*", default=[], help="fashion-class-collapse run folders, seed order")
    ap.add_argument("--defects", nargs="*", default=[], help="defects run folders, seed order")
    args = ap.parse_args()
    if not args.collapse and not args.randbits and not args.class_collapse and not args.defects:
        ap.error("give --collapse, --randbits, --class-collapse and/or --defects run folders")
    if args.defects:
        print("### defects: end of training ± standard error [step 0] (balanced accuracy)\n")
        print(defects_table(args.defects))
        print()
    if args.class_collapse:
        print("### fashion-class-collapse: `class` within `coarse` (balanced accuracy ± standard error)\n")
        print(class_collapse_table(args.class_collapse))
        print()
    if args.collapse:
        print("### fashion-collapse: `class` within `coarse` over training\n")
        print(collapse_tables(args.collapse))
        print()
    if args.randbits:
        print("### fashion-randbits: `class` accuracy against k\n")
        print(randbits_table(args.randbits))


if __name__ == "__main__":
    main()
