#!/usr/bin/env python3
"""Golden fixtures for FeatureLens's contrastive losses, optimizers and LR schedules.

Run with the project's virtualenv (CPU PyTorch):

    /work/venv/bin/python Tools/golden/make_loss_golden.py

Writes Tests/FeatureLensTests/Fixtures/golden/losses/{spectral,infonce,supcon,joint,
optimizers,schedules}.json. All reference values are computed in float64 with PyTorch
autograd from the formulas below, written independently of the Swift code:

  spectral (SCIENCE.md §3):  L = -2 sum_ij P_ij <z1_i, z2_j> + (1/n^2) sum_ij <z1_i, z2_j>^2
  NT-Xent (SimCLR):          F.cross_entropy over cosine/tau with self masked, target = partner
  SupCon L_out (Khosla eq 2): mean over anchors with >= 1 positive of
                             -(1/|P(i)|) sum_{p in P(i)} log softmax_{a != i}(s_i)_p
Embeddings are stored row-major as flat lists; views stacked as [view 1; view 2].
The optimizer trajectories use torch.optim.{SGD, Adam, AdamW} on a small linear
least-squares model  loss = (0.5/n) sum_i ||W x_i + b - y_i||^2.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FeatureLensTests",
                   "Fixtures", "golden", "losses")


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


# ---------------------------------------------------------------- reference losses

def pairing_matrix(kind, n, labels=None, beta=None):
    ucl = torch.eye(n) / n
    if kind == "unsupervised":
        return ucl
    y = torch.tensor(labels)
    same = (y[:, None] == y[None, :]).double()
    scl = same / same.sum()
    if kind == "supervised":
        return scl
    if kind == "joint":
        return beta * scl + (1 - beta) * ucl
    raise ValueError(kind)


def spectral(z, P):
    n = z.shape[0] // 2
    z1, z2 = z[:n], z[n:]
    k = z1 @ z2.T
    return -2 * (P * k).sum() + (k ** 2).sum() / n ** 2


def ntxent(z, tau):
    v = z.shape[0]
    n = v // 2
    u = F.normalize(z, dim=1)
    s = (u @ u.T) / tau
    s = s.masked_fill(torch.eye(v, dtype=torch.bool), float("-inf"))
    target = (torch.arange(v) + n) % v
    return F.cross_entropy(s, target)


def supcon(z, view_labels, tau):
    v = z.shape[0]
    u = F.normalize(z, dim=1)
    s = (u @ u.T) / tau
    eye = torch.eye(v, dtype=torch.bool)
    lse = torch.logsumexp(s.masked_fill(eye, float("-inf")), dim=1, keepdim=True)
    log_prob = (s - lse).masked_fill(eye, 0.0)
    y = torch.tensor(view_labels)
    pos = ((y[:, None] == y[None, :]) & ~eye).double()
    npos = pos.sum(1)
    valid = npos > 0
    if not bool(valid.any()):
        return (z * 0).sum()
    mean_log_prob_pos = (pos * log_prob).sum(1)[valid] / npos[valid]
    return -mean_log_prob_pos.mean()


def value_and_grad(fn, z0):
    z = z0.clone().requires_grad_(True)
    loss = fn(z)
    loss.backward()
    return float(loss.detach()), z.grad


# ---------------------------------------------------------------- cases

def spectral_cases(g):
    specs = [
        dict(name="ucl_n1_p3", kind="unsupervised", n=1, p=3),
        dict(name="ucl_n5_p3", kind="unsupervised", n=5, p=3),
        dict(name="ucl_n3_p7", kind="unsupervised", n=3, p=7),
        dict(name="scl_n6_p4_repeated", kind="supervised", n=6, p=4, labels=[0, 1, 0, 2, 1, 0]),
        dict(name="scl_n4_p7_singletons", kind="supervised", n=4, p=7, labels=[3, 3, -1, 5]),
        dict(name="scl_n1_p2", kind="supervised", n=1, p=2, labels=[7]),
        dict(name="joint_b0.3_n5_p2", kind="joint", beta=0.3, n=5, p=2, labels=[0, 1, 1, 0, 2]),
        dict(name="joint_b0.75_n3_p6", kind="joint", beta=0.75, n=3, p=6, labels=[1, 2, 1]),
        dict(name="explicit_n4_p3", kind="explicit", n=4, p=3),
        dict(name="explicit_n3_p5", kind="explicit", n=3, p=5),
    ]
    out = []
    for s in specs:
        n, p = s["n"], s["p"]
        z = torch.randn(2 * n, p, generator=g) * 0.7
        if s["kind"] == "explicit":
            P = torch.rand(n, n, generator=g)
            P = P / P.sum()
        else:
            P = pairing_matrix(s["kind"], n, s.get("labels"), s.get("beta"))
        val, grad = value_and_grad(lambda t: spectral(t, P), z)
        case = dict(name=s["name"], pairing=s["kind"], n=n, p=p, embeddings=flat(z),
                    value=val, gradient=flat(grad))
        if "labels" in s:
            case["labels"] = s["labels"]
        if "beta" in s:
            case["beta"] = s["beta"]
        if s["kind"] == "explicit":
            case["P"] = flat(P)
        out.append(case)
    return out


def infonce_cases(g):
    specs = [
        dict(name="n1_p3_t0.5", n=1, p=3, tau=0.5, scale=1.0),
        dict(name="n3_p5_t0.5", n=3, p=5, tau=0.5, scale=1.0),
        dict(name="n6_p4_t0.1", n=6, p=4, tau=0.1, scale=2.0),
        dict(name="n4_p3_t0.01_large", n=4, p=3, tau=0.01, scale=50.0),
        dict(name="n7_p9_t0.2", n=7, p=9, tau=0.2, scale=0.3),
    ]
    out = []
    for s in specs:
        z = torch.randn(2 * s["n"], s["p"], generator=g) * s["scale"]
        val, grad = value_and_grad(lambda t: ntxent(t, s["tau"]), z)
        out.append(dict(name=s["name"], n=s["n"], p=s["p"], temperature=s["tau"],
                        embeddings=flat(z), value=val, gradient=flat(grad)))
    return out


def supcon_cases(g):
    specs = [
        dict(name="v2_n1_p3", views=2, n=1, p=3, tau=0.1, labels=[4]),
        dict(name="v2_n5_p4_singleton", views=2, n=5, p=4, tau=0.1, labels=[0, 1, 0, 1, 2]),
        dict(name="v2_n6_p3_repeated", views=2, n=6, p=3, tau=0.5, labels=[1, 1, 1, 2, 2, 3]),
        dict(name="v2_n4_p5_oneclass", views=2, n=4, p=5, tau=0.07, labels=[9, 9, 9, 9]),
        dict(name="v1_n5_p3_singleton", views=1, n=5, p=3, tau=0.1, labels=[0, 0, 1, 2, 1]),
        dict(name="v1_n3_p4_all_singletons", views=1, n=3, p=4, tau=0.2, labels=[0, 1, 2]),
        dict(name="v2_n5_p4_t0.01_large", views=2, n=5, p=4, tau=0.01, labels=[0, 1, 1, 0, 1]),
    ]
    out = []
    for s in specs:
        rows = s["views"] * s["n"]
        scale = 40.0 if s["tau"] == 0.01 else 1.0
        z = torch.randn(rows, s["p"], generator=g) * scale
        vl = s["labels"] * s["views"]
        val, grad = value_and_grad(lambda t: supcon(t, vl, s["tau"]), z)
        out.append(dict(name=s["name"], views=s["views"], n=s["n"], p=s["p"],
                        temperature=s["tau"], labels=s["labels"], embeddings=flat(z),
                        value=val, gradient=flat(grad)))
    return out


def joint_cases(g):
    out = []
    # L = L_SupCon + lambda * L_NT-Xent (shared temperature).
    z = torch.randn(8, 3, generator=g)
    labels = [0, 1, 0, 1]
    tau, lam = 0.2, 0.5
    vl = labels * 2
    val, grad = value_and_grad(lambda t: supcon(t, vl, tau) + lam * ntxent(t, tau), z)
    out.append(dict(name="supcon_plus_ntxent", kind="supConPlusNTXent", temperature=tau,
                    lam=lam, n=4, p=3, labels=labels, embeddings=flat(z), value=val,
                    gradient=flat(grad)))
    # L = beta * L_SupCon + (1 - beta) * L_NT-Xent.
    z = torch.randn(10, 4, generator=g)
    labels = [2, 2, 5, 5, 7]
    beta = 0.25
    vl = labels * 2
    val, grad = value_and_grad(lambda t: beta * supcon(t, vl, 0.3) + (1 - beta) * ntxent(t, 0.3), z)
    out.append(dict(name="beta_supcon_ntxent", kind="betaWeighted", temperature=0.3, beta=beta,
                    n=5, p=4, labels=labels, embeddings=flat(z), value=val, gradient=flat(grad)))
    return out


# ---------------------------------------------------------------- optimizers

def optimizer_cases(g):
    n, d, k = 6, 4, 3
    X = torch.randn(n, d, generator=g)
    Y = torch.randn(n, k, generator=g)
    W0 = torch.randn(k, d, generator=g) * 0.5
    b0 = torch.randn(k, generator=g) * 0.5
    configs = [
        dict(name="sgd_plain", kind="sgd", lr=0.1),
        dict(name="sgd_momentum", kind="sgd", lr=0.1, momentum=0.9),
        dict(name="sgd_nesterov", kind="sgd", lr=0.1, momentum=0.9, nesterov=True),
        dict(name="sgd_weight_decay", kind="sgd", lr=0.1, momentum=0.5, dampening=0.1, weight_decay=0.01),
        dict(name="adam", kind="adam", lr=0.05),
        dict(name="adam_weight_decay", kind="adam", lr=0.05, weight_decay=0.1),
        dict(name="adamw", kind="adamw", lr=0.05, weight_decay=0.1),
        dict(name="adamw_betas", kind="adamw", lr=0.01, betas=[0.8, 0.99], eps=1e-6, weight_decay=0.01),
    ]
    out = []
    for c in configs:
        W = W0.clone().requires_grad_(True)
        b = b0.clone().requires_grad_(True)
        if c["kind"] == "sgd":
            opt = torch.optim.SGD([W, b], lr=c["lr"], momentum=c.get("momentum", 0.0),
                                  dampening=c.get("dampening", 0.0),
                                  weight_decay=c.get("weight_decay", 0.0),
                                  nesterov=c.get("nesterov", False))
        else:
            cls = torch.optim.Adam if c["kind"] == "adam" else torch.optim.AdamW
            opt = cls([W, b], lr=c["lr"], betas=tuple(c.get("betas", [0.9, 0.999])),
                      eps=c.get("eps", 1e-8), weight_decay=c.get("weight_decay", 0.0))
        traj_w, traj_b, losses = [], [], []
        for _ in range(10):
            opt.zero_grad()
            r = X @ W.T + b - Y
            loss = 0.5 * (r ** 2).sum() / n
            loss.backward()
            losses.append(float(loss.detach()))
            opt.step()
            traj_w.append(flat(W))
            traj_b.append(flat(b))
        case = dict(c)
        case.update(weights=traj_w, biases=traj_b, losses=losses)
        out.append(case)
    return dict(n=n, d=d, k=k, X=flat(X), Y=flat(Y), W0=flat(W0), b0=flat(b0), cases=out)


def schedule_cases():
    out = []
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.4)
    sch = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    out.append(dict(name="step", lr=0.4, step_size=3, gamma=0.5, lrs=lrs))
    opt = torch.optim.SGD([p], lr=0.4)
    sch = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.01)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    out.append(dict(name="cosine_no_warmup", lr=0.4, total=10, eta_min=0.01, lrs=lrs[:11]))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(20230716)
    files = {
        "spectral.json": dict(cases=spectral_cases(g)),
        "infonce.json": dict(cases=infonce_cases(g)),
        "supcon.json": dict(cases=supcon_cases(g)),
        "joint.json": dict(cases=joint_cases(g)),
        "optimizers.json": optimizer_cases(g),
        "schedules.json": dict(cases=schedule_cases()),
    }
    for name, payload in files.items():
        payload["generator"] = "Tools/golden/make_loss_golden.py"
        payload["torch"] = torch.__version__
        path = os.path.join(OUT, name)
        with open(path + ".tmp", "w") as f:
            json.dump(payload, f, indent=1)
        os.replace(path + ".tmp", path)
        print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
