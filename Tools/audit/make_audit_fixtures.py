#!/usr/bin/env python3
"""Writes the audit test fixtures (run once; the Swift tests never need Python).

    /work/venv/bin/python Tools/audit/make_audit_fixtures.py

Outputs in Tests/FeatureLensTests/Fixtures/audit/:
  logistic_binary.json, logistic_multiclass.json
      data plus scikit-learn's LogisticRegression(C) fit on StandardScaler features:
      test predictions, test accuracy, coefficients and intercepts (standardized space).
  f32.npy, f64.npy, v2.npy, v3.npy         valid arrays written by numpy (np.save / write_array)
  fortran.npy, bigendian.npy, int64.npy    arrays the reader must refuse with a clear error
  ckpt0.npy, ckpt1.npy, ckpt2.npy, labels.csv
      an end-to-end timeline: 400 rows, 8 dims, label columns class (int), subclass (str),
      color (str). ckpt0: weak class and subclass signal (baseline); ckpt1: both strong;
      ckpt2: class strong, subclass gone. color is never encoded.
"""
import json
import os

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FeatureLensTests", "Fixtures", "audit")


def logistic_fixture(name, k, n, p, c, seed):
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1.0, size=(k, p))
    scales = np.exp(rng.normal(0, 1.0, size=p))  # unequal dimension scales: standardization matters
    y = rng.integers(0, k, size=2 * n)
    x = (means[y] + rng.normal(0, 1.3, size=(2 * n, p))) * scales + rng.normal(0, 2, size=p)
    x = np.round(x, 6)
    xtr, ytr, xte, yte = x[:n], y[:n], x[n:], y[n:]
    scaler = StandardScaler().fit(xtr)
    clf = LogisticRegression(C=c, max_iter=10000, tol=1e-10).fit(scaler.transform(xtr), ytr)
    pred = clf.predict(scaler.transform(xte))
    out = {
        "generator": "Tools/audit/make_audit_fixtures.py",
        "sklearn_version": sklearn.__version__,
        "C": c,
        "classes": k,
        "train_x": xtr.tolist(), "train_y": ytr.tolist(),
        "test_x": xte.tolist(), "test_y": yte.tolist(),
        "sklearn_test_predictions": pred.tolist(),
        "sklearn_test_accuracy": float((pred == yte).mean()),
        "sklearn_coef": clf.coef_.tolist(),          # [m, p], m = 1 for two classes
        "sklearn_intercept": clf.intercept_.tolist(),
    }
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(out, f)


def npy_fixtures():
    a = np.arange(15, dtype=np.float32).reshape(5, 3) / 4
    np.save(os.path.join(OUT, "f32.npy"), a)
    np.save(os.path.join(OUT, "f64.npy"), a.astype(np.float64) - 1)
    for ver in [(2, 0), (3, 0)]:
        with open(os.path.join(OUT, f"v{ver[0]}.npy"), "wb") as f:
            np.lib.format.write_array(f, a, version=ver)
    np.save(os.path.join(OUT, "fortran.npy"), np.asfortranarray(np.arange(12, dtype=np.float32).reshape(4, 3)))
    np.save(os.path.join(OUT, "bigendian.npy"), a.astype(">f4"))
    np.save(os.path.join(OUT, "int64.npy"), np.arange(6, dtype=np.int64).reshape(3, 2))


def e2e_fixtures():
    rng = np.random.default_rng(7)
    n, p = 400, 8
    cls = rng.integers(0, 2, size=n)
    sub = rng.integers(0, 2, size=n)
    color = rng.integers(0, 3, size=n)
    u = np.zeros(p); u[0] = 1
    v = np.zeros(p); v[1] = 1
    for i, (a_c, a_s) in enumerate([(0.25, 0.25), (3.0, 3.0), (3.0, 0.0)]):
        z = (a_c * (2 * cls - 1))[:, None] * u + (a_s * (2 * sub - 1))[:, None] * v + rng.normal(0, 1, size=(n, p))
        np.save(os.path.join(OUT, f"ckpt{i}.npy"), z.astype(np.float32))
    names = np.array(["red", "green", "blue"])
    with open(os.path.join(OUT, "labels.csv"), "w") as f:
        f.write("class,subclass,color\n")
        for i in range(n):
            f.write(f"{cls[i]},{'ab'[sub[i]]},{names[color[i]]}\n")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    logistic_fixture("logistic_binary.json", k=2, n=200, p=6, c=0.05, seed=1)
    logistic_fixture("logistic_multiclass.json", k=4, n=300, p=6, c=0.5, seed=2)
    npy_fixtures()
    e2e_fixtures()
    print("wrote fixtures to", os.path.normpath(OUT))
