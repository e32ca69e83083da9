"""Writes the tiny example of `featurelens run tabular` (README, "Train on your own feature
matrix"): features.csv, 400 rows x 16 columns, and labels.csv with two nested label sets.

  coarse in {0, 1}         encoded along feature 0 with amplitude 2.0 (a strong direction)
  fine   in {0, 1, 2, 3}   fine = 2 * coarse + sub, sub in {0, 1} encoded along feature 1
                           with amplitude 0.8 (a weaker direction), so fine is nested in coarse
  every feature            + N(0, 1) noise; features 2..15 are noise only

Standard library only (no NumPy); deterministic (seed 0). Run from the repository root:
    python3 examples/tabular/make_example.py
"""
import os
import random

ROWS, COLUMNS = 400, 16
COARSE_AMPLITUDE, FINE_AMPLITUDE = 2.0, 0.8

rng = random.Random(0)
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "features.csv"), "w") as f, open(os.path.join(here, "labels.csv"), "w") as g:
    f.write(",".join(f"x{j + 1}" for j in range(COLUMNS)) + "\n")
    g.write("coarse,fine\n")
    for i in range(ROWS):
        coarse, sub = i % 2, (i // 2) % 2
        x = [rng.gauss(0.0, 1.0) for _ in range(COLUMNS)]
        x[0] += COARSE_AMPLITUDE * (2 * coarse - 1)
        x[1] += FINE_AMPLITUDE * (2 * sub - 1)
        f.write(",".join(f"{v:.5f}" for v in x) + "\n")
        g.write(f"{coarse},{2 * coarse + sub}\n")
