import CFeatureLensKernels

/// Process-wide memory settings for training runs.
public enum ProcessMemory {
    /// Keeps freed memory in the process for reuse (glibc: no `mmap` for large blocks, no heap
    /// trimming; `fl_keep_freed_memory`). A training step frees and reallocates the same large
    /// activation and gradient tensors every step; glibc serves blocks above its mmap threshold
    /// (at most 32 MB, and ResNet-18's first stage at batch 256 has 51 MB tensors) with fresh
    /// mappings whose pages the kernel zero-fills on first touch, about 4.5 % of a ResNet-18
    /// training step (`featurelens bench conv`). Results do not change; the process keeps its
    /// peak heap until it exits. Call once, early (the CLI does, before parsing its arguments).
    /// - Returns: whether the setting took effect (false on other C libraries).
    @discardableResult
    public static func keepFreedMemory() -> Bool { fl_keep_freed_memory() == 1 }
}
