"""scikit-learn side of `featurelens bench audit`.

Usage: python sklearn_audit_bench.py DIR C

Reads DIR/train_x.npy, DIR/train_y.npy, DIR/test_x.npy, DIR/test_y.npy (written by
`featurelens bench audit`), standardizes with StandardScaler fit on the training rows, fits
LogisticRegression(C=C, solver="lbfgs", max_iter=1000) (multinomial; the default tolerance
1e-4), predicts the test rows, and prints one JSON object: {"seconds": wall time of the
scaling, fit and prediction, "balanced_accuracy": ..., "iterations": ..., "threads": ...}.
"""
import json
import os
import sys
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.preprocessing import StandardScaler


def main():
    folder, c = sys.argv[1], float(sys.argv[2])
    xtr = np.load(os.path.join(folder, "train_x.npy"))
    ytr = np.load(os.path.join(folder, "train_y.npy")).astype(np.int64)
    xte = np.load(os.path.join(folder, "test_x.npy"))
    yte = np.load(os.path.join(folder, "test_y.npy")).astype(np.int64)
    start = time.perf_counter()
    scaler = StandardScaler().fit(xtr)
    clf = LogisticRegression(C=c, solver="lbfgs", max_iter=1000).fit(scaler.transform(xtr), ytr)
    pred = clf.predict(scaler.transform(xte))
    seconds = time.perf_counter() - start
    threads = None
    try:
        from threadpoolctl import threadpool_info
        threads = max((i.get("num_threads") or 0) for i in threadpool_info()) or None
    except Exception:
        pass
    print(json.dumps({"seconds": seconds, "balanced_accuracy": float(balanced_accuracy_score(yte, pred)),
                      "iterations": int(np.max(clf.n_iter_)), "threads": threads}))


if __name__ == "__main__":
    main()
