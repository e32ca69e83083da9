"""Save a model's embeddings at chosen checkpoints in the layout `featurelens audit` reads.

    from featurelens_export import EmbeddingExporter
    exporter = EmbeddingExporter("fl-export", labels={"coarse": y_coarse, "fine": y_fine})
    exporter.save(step, model, x_eval)          # at each checkpoint you choose (PyTorch)

The folder then holds

    labels.csv                   header row, one column per label set, one row per input row
    step-000000.npy, ...         one [n, p] float32 C-order array per checkpoint (np.save)
    audit.txt                    the `featurelens audit` command that reads them, steps in order

and `exporter.audit_command(within=["fine:coarse"])` returns that command with `--within`.
Row i of every array is the embedding of input row i, the same row as line i + 1 of
labels.csv, so save every checkpoint from the same inputs in the same order (a held-out set,
not a shuffled loader). Save the untrained model first (step 0): the audit reads the first
checkpoint as its baseline.

Only NumPy is imported with this module. PyTorch is imported inside `save`, the only function
that needs it; `save_array` writes embeddings computed any other way (JAX, scikit-learn, ...).
Standard library and NumPy otherwise; Python 3.8 or later.
"""
import csv
import os
import re

import numpy as np

__all__ = ["EmbeddingExporter"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _atomic_write(path, write):
    """Writes `path` through a temporary file in the same folder and a rename, so a reader
    never sees half a file."""
    tmp = path + ".tmp"
    write(tmp)
    os.replace(tmp, path)


class EmbeddingExporter:
    """Writes embeddings, one file per checkpoint, and their labels for `featurelens audit`.

    Parameters
    ----------
    folder : str or os.PathLike
        Output folder, created if missing. Files of earlier exports with the same prefix are
        left alone; a checkpoint saved again at the same step is replaced.
    labels : mapping of str to 1-D array-like
        Label sets by name, each of length n (the rows of every embedding), with integer or
        string values. Names are the CSV header: letters, digits, `_`, `.` and `-` only.
        Written at once to `labels.csv`.
    prefix : str
        File name prefix of the checkpoints (default "step": `step-000100.npy`). Use another
        prefix per layer, e.g. "backbone" and "head", in the same folder.

    Raises
    ------
    ValueError
        A label set that is not 1-D, has a length other than the first one's, holds an empty
        value or a line break, or a name or prefix that is not a plain word; the message names it.
    """

    def __init__(self, folder, labels, prefix="step"):
        if not isinstance(prefix, str) or not _NAME.match(prefix):
            raise ValueError(f"prefix: {prefix!r} is not a plain word (letters, digits, _ . -)")
        if not labels:
            raise ValueError("labels: give at least one label set, e.g. labels={'class': y}")
        self.folder = os.fspath(folder)
        self.prefix = prefix
        self.names = []
        columns = []
        for name, values in labels.items():
            if not isinstance(name, str) or not _NAME.match(name):
                raise ValueError(f"labels: name {name!r} is not a plain word (letters, digits, _ . -)")
            column = np.asarray(values)
            if column.ndim != 1:
                raise ValueError(f"labels[{name!r}]: expected a 1-D array, got shape {column.shape}")
            if column.dtype.kind == "f":
                if not np.all(np.isfinite(column)) or not np.all(column == np.round(column)):
                    raise ValueError(f"labels[{name!r}]: float values must be whole numbers "
                                     "(class indices); pass integers or strings")
                column = column.astype(np.int64)
            text = [str(v.item() if hasattr(v, "item") else v) for v in column]
            for i, v in enumerate(text):
                if v.strip() == "" or "\n" in v or "\r" in v:
                    raise ValueError(f"labels[{name!r}]: row {i} is empty or holds a line break ({v!r})")
            if columns and len(text) != len(columns[0]):
                raise ValueError(f"labels[{name!r}]: {len(text)} rows, but labels[{self.names[0]!r}] "
                                 f"has {len(columns[0])}")
            self.names.append(name)
            columns.append(text)
        self.rows = len(columns[0])
        if self.rows == 0:
            raise ValueError(f"labels[{self.names[0]!r}]: no rows")
        self.steps = []
        os.makedirs(self.folder, exist_ok=True)

        def write_labels(path):
            with open(path, "w", newline="") as f:
                writer = csv.writer(f, lineterminator="\n")
                writer.writerow(self.names)
                writer.writerows(zip(*columns))

        _atomic_write(self.labels_path, write_labels)

    @property
    def labels_path(self):
        """The path of `labels.csv`."""
        return os.path.join(self.folder, "labels.csv")

    def path(self, step):
        """The file of checkpoint `step`: `<folder>/<prefix>-<step, 6 digits>.npy`."""
        return os.path.join(self.folder, f"{self.prefix}-{int(step):06d}.npy")

    def save_array(self, step, embeddings):
        """Saves one checkpoint's embeddings.

        Parameters
        ----------
        step : int
            Training step (or epoch) of the checkpoint, >= 0; steps must be saved in
            increasing order.
        embeddings : array-like, shape [n, p]
            Row i embeds input row i. Stored as float32 in C order; a 1-D array is refused,
            higher ranks are flattened to [n, -1].

        Returns
        -------
        str : the path written.

        Raises
        ------
        ValueError
            `step` negative or not after the previous one, a row count other than the labels',
            no columns, or a value that is not finite (NaN or infinity); the message names it.
        """
        if isinstance(step, bool) or int(step) != step or step < 0:
            raise ValueError(f"step: expected an integer >= 0, got {step!r}")
        step = int(step)
        if self.steps and step <= self.steps[-1]:
            raise ValueError(f"step: {step} is not after the previous checkpoint's step {self.steps[-1]}")
        z = np.asarray(embeddings)
        if z.ndim < 2:
            raise ValueError(f"embeddings: expected shape [n, p], got {z.shape}")
        z = z.reshape(z.shape[0], -1)
        if z.shape[0] != self.rows:
            raise ValueError(f"embeddings: {z.shape[0]} rows at step {step}, but labels.csv has {self.rows}")
        if z.shape[1] == 0:
            raise ValueError(f"embeddings: no columns at step {step}")
        z = np.ascontiguousarray(z, dtype=np.float32)
        bad = ~np.isfinite(z)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise ValueError(f"embeddings: a value that is not finite at step {step} (first in row {row}); "
                             "the model diverged or the inputs hold NaN")
        path = self.path(step)

        def write(tmp):
            with open(tmp, "wb") as f:
                np.save(f, z)

        _atomic_write(path, write)
        self.steps.append(step)
        command = self.audit_command()

        def write_command(tmp):
            with open(tmp, "w") as f:
                f.write(command + "\n")

        _atomic_write(os.path.join(self.folder, "audit.txt"), write_command)
        return path

    def save(self, step, model, inputs, batch_size=512, device=None, forward=None):
        """Runs `model` on `inputs` without gradients and saves the outputs as checkpoint `step`.

        PyTorch is imported here, not with the module.

        Parameters
        ----------
        step : int
            As in `save_array`.
        model : torch.nn.Module (or any callable on a batch)
            Put in evaluation mode for the pass (BatchNorm uses its running statistics,
            dropout is off) and returned to its previous mode afterwards.
        inputs : torch.Tensor or numpy.ndarray, shape [n, ...]
            The same rows, in the same order, at every checkpoint.
        batch_size : int
            Rows per forward pass.
        device : torch.device or str, optional
            Where to send each batch (default: the device of the model's first parameter, or
            the CPU).
        forward : callable(model, batch) -> Tensor, optional
            Which layer to read, e.g. `lambda m, x: m.backbone(x)` for the features before a
            projection head (default: `model(batch)`).

        Returns
        -------
        str : the path written.
        """
        import torch  # only here: the module itself needs NumPy alone

        if batch_size < 1:
            raise ValueError(f"batch_size: expected at least 1, got {batch_size}")
        x = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
        if x.shape[0] != self.rows:
            raise ValueError(f"inputs: {x.shape[0]} rows, but labels.csv has {self.rows}")
        if device is None:
            params = list(model.parameters()) if hasattr(model, "parameters") else []
            device = params[0].device if params else torch.device("cpu")
        call = forward if forward is not None else (lambda m, b: m(b))
        was_training = getattr(model, "training", None)
        if was_training is not None:
            model.eval()
        try:
            with torch.no_grad():
                parts = []
                for start in range(0, x.shape[0], batch_size):
                    out = call(model, x[start:start + batch_size].to(device))
                    if not isinstance(out, torch.Tensor):
                        raise ValueError("model output: expected one tensor per batch; pass "
                                         "forward=lambda m, x: ... to pick the embedding")
                    parts.append(out.detach().float().cpu().reshape(out.shape[0], -1).numpy())
        finally:
            if was_training:
                model.train()
        return self.save_array(step, np.concatenate(parts, axis=0))

    def audit_command(self, within=(), out=None):
        """The `featurelens audit` command that reads the checkpoints saved so far, in step
        order, with their steps; paths as given to the constructor (relative paths are relative
        to the working folder the export ran in).

        Parameters
        ----------
        within : iterable of str
            `LABEL:GROUP` pairs, each a `--within` option (e.g. "fine:coarse").
        out : str, optional
            The audit's output folder (`--out`).
        """
        if not self.steps:
            raise ValueError("audit_command: no checkpoint saved yet")
        words = ["featurelens", "audit"]
        for s in self.steps:
            words += ["--embeddings", self.path(s)]
        words += ["--steps", ",".join(str(s) for s in self.steps), "--labels", self.labels_path]
        for w in within:
            words += ["--within", w]
        if out is not None:
            words += ["--out", os.fspath(out)]
        return " ".join(_quote(w) for w in words)


def _quote(word):
    """A shell word: as is when plain, else in single quotes."""
    if re.match(r"^[A-Za-z0-9_./:,=+-]+$", word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"
