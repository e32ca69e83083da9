#!/usr/bin/env python3
"""Writes the audit test fixtures (run once; the Swift tests never need Python).

    /work/venv/bin/python Tools/audit/make_audit_fixtures.py [--agreement-only]

Outputs in Tests/FeatureLensTests/Fixtures/audit/:
  logistic_binary.json, logistic_multiclass.json
      data plus scikit-learn's LogisticRegression(C) fit on StandardScaler features:
      test predictions, test accuracy, coefficients and intercepts (standardized space).
  logistic_agreement.json.gz
      agreement cases for the default (logistic) probe, each with data rounded to 0.01 and
      scikit-learn's test balanced accuracy of LogisticRegression(C) on StandardScaler
      features (and its test predictions): "ordinal" (4000 x 16, noise sigma 0.3, a 3-valued
      label b laid along one direction: Z[:, 1] += 2 b), "ten_class", "imbalance_1_20" (two
      classes at 1:20) and "missing_test_class" (4 train classes, class 3 absent from test).
  f32.npy, f64.npy, v2.npy, v3.npy         valid arrays written by numpy (np.save / write_array)
  fortran.npy                              a Fortran-order array the reader rearranges into C order
  bigendian.npy, int64.npy                 arrays the reader must refuse with a clear error
  ckpt0.npy, ckpt1.npy, ckpt2.npy, labels.csv
      an end-to-end timeline: 400 rows, 8 dims, label columns class (int), subclass (str),
      color (str). ckpt0: weak class and subclass signal (baseline); ckpt1: both strong;
      ckpt2: class strong, subclass gone. color is never encoded.
"""
import gzip
import json
import os

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
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


def agreement_case(name, x, y, n_train, c):
    """One agreement case: rows [0, n_train) train, the rest test; x rounded to 0.01 first so
    that scikit-learn and the Swift test read the same numbers."""
    x = np.round(x, 2)
    xtr, ytr, xte, yte = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    scaler = StandardScaler().fit(xtr)
    clf = LogisticRegression(C=c, max_iter=10000, tol=1e-10).fit(scaler.transform(xtr), ytr)
    pred = clf.predict(scaler.transform(xte))
    return {
        "name": name, "C": c, "classes": int(len(np.unique(ytr))),
        "train_x": xtr.tolist(), "train_y": ytr.tolist(),
        "test_x": xte.tolist(), "test_y": yte.tolist(),
        "sklearn_test_predictions": pred.tolist(),
        "sklearn_balanced_accuracy": float(balanced_accuracy_score(yte, pred)),
    }


def agreement_fixtures():
    cases = []
    # Ordinal: a 3-valued label along one direction; one-vs-rest least squares cannot single
    # out the middle value, multinomial logistic regression can.
    rng = np.random.default_rng(11)
    n, p = 4000, 16
    b = rng.integers(0, 3, size=n)
    z = rng.normal(0, 0.3, size=(n, p))
    z[:, 1] += 2 * b
    cases.append(agreement_case("ordinal", z, b, n_train=2000, c=1.0))
    # Ten classes, Gaussian means, unequal dimension scales.
    rng = np.random.default_rng(12)
    n, p, k = 2000, 12, 10
    means = rng.normal(0, 1.0, size=(k, p))
    scales = np.exp(rng.normal(0, 0.7, size=p))
    y = rng.integers(0, k, size=n)
    x = (means[y] + rng.normal(0, 0.8, size=(n, p))) * scales
    cases.append(agreement_case("ten_class", x, y, n_train=1000, c=0.1))
    # Class imbalance 1:20 (class 1 is every 21st row), a weak shift along two directions.
    rng = np.random.default_rng(13)
    n, p = 4200, 6
    y = (np.arange(n) % 21 == 20).astype(int)
    x = rng.normal(0, 1, size=(n, p))
    x[:, 0] += 2.0 * y
    x[:, 3] -= 1.5 * y
    cases.append(agreement_case("imbalance_1_20", x, y, n_train=2100, c=1.0))
    # A class missing from the test split: 4 classes in train, classes 0-2 in test.
    rng = np.random.default_rng(14)
    n_train, n_test, p, k = 400, 300, 8, 4
    means = rng.normal(0, 1.0, size=(k, p))
    ytr = rng.integers(0, k, size=n_train)
    yte = rng.integers(0, k - 1, size=n_test)
    y = np.concatenate([ytr, yte])
    x = means[y] + rng.normal(0, 1.0, size=(n_train + n_test, p))
    cases.append(agreement_case("missing_test_class", x, y, n_train=n_train, c=0.5))
    out = {"generator": "Tools/audit/make_audit_fixtures.py", "sklearn_version": sklearn.__version__,
           "cases": cases}
    path = os.path.join(OUT, "logistic_agreement.json.gz")
    with open(path, "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as g:
            g.write(json.dumps(out).encode())
    for c in cases:
        print(f"{c['name']}: C={c['C']} sklearn balanced accuracy {c['sklearn_balanced_accuracy']:.4f}")
    print(f"{path}: {os.path.getsize(path)} bytes")


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
    import sys
    os.makedirs(OUT, exist_ok=True)
    if sys.argv[1:] == ["--agreement-only"]:
        agreement_fixtures()
        sys.exit(0)
    logistic_fixture("logistic_binary.json", k=2, n=200, p=6, c=0.05, seed=1)
    logistic_fixture("logistic_multiclass.json", k=4, n=300, p=6, c=0.5, seed=2)
    agreement_fixtures()
    npy_fixtures()
    e2e_fixtures()
    print("wrote fixtures to", os.path.normpath(OUT))
