/// A dense tensor: a shape plus contiguous row-major storage, with value semantics
/// (copy on write through the underlying `Array`).
///
/// Rank 2 (`[n, d]`) for feature and embedding matrices, rank 4 (`[n, c, h, w]`) for images.
/// Shape errors are programmer errors and trap with a message naming both shapes.
public struct Tensor<Scalar: TensorScalar>: Equatable, Sendable {
    /// Extent of each axis. A rank-0 tensor has shape `[]` and one element.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.reduce(1, *)`.
    public var scalars: [Scalar]

    // MARK: Construction

    /// A tensor of the given shape holding `scalars` in row-major order.
    public init(shape: [Int], scalars: [Scalar]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor filled with `value`.
    @inlinable
    public init(repeating value: Scalar, shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.init(shape: shape, scalars: Array(repeating: value, count: shape.reduce(1, *)))
    }

    /// A tensor of zeros.
    @inlinable
    public init(zeros shape: [Int]) { self.init(repeating: 0, shape: shape) }

    /// A rank-2 tensor from nested rows (all rows must have equal length).
    @inlinable
    public init(rows: [[Scalar]]) {
        let c = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == c }, "ragged rows")
        self.init(shape: [rows.count, c], scalars: rows.flatMap { $0 })
    }

    /// The n×n identity.
    @inlinable
    public static func identity(_ n: Int) -> Tensor {
        var t = Tensor(zeros: [n, n])
        for i in 0..<n { t.scalars[i * n + i] = 1 }
        return t
    }

    /// I.i.d. N(mean, std²) entries drawn in row-major order from `generator`.
    @inlinable
    public init(randomNormal shape: [Int], mean: Double = 0, standardDeviation: Double = 1,
                using generator: inout SeededGenerator) {
        var s = [Scalar](repeating: 0, count: shape.reduce(1, *))
        generator.fillNormal(&s, mean: mean, standardDeviation: standardDeviation)
        self.init(shape: shape, scalars: s)
    }

    /// I.i.d. uniform entries in [low, high) drawn in row-major order from `generator`.
    @inlinable
    public init(randomUniform shape: [Int], low: Double = 0, high: Double = 1,
                using generator: inout SeededGenerator) {
        let count = shape.reduce(1, *)
        var s = [Scalar](repeating: 0, count: count)
        for i in 0..<count { s[i] = Scalar(low + (high - low) * generator.nextUniform()) }
        self.init(shape: shape, scalars: s)
    }

    /// Converts element type (e.g. `Float` ↔ `Double`).
    @inlinable
    public init<Other: TensorScalar>(_ other: Tensor<Other>) {
        self.init(shape: other.shape, scalars: other.scalars.map { Scalar($0.doubleValue) })
    }

    // MARK: Shape

    /// Number of axes.
    @inlinable
    public var rank: Int { shape.count }
    /// Total number of elements.
    @inlinable
    public var count: Int { scalars.count }
    /// Extent of axis 0 (the batch / row count).
    @inlinable
    public var rowCount: Int { shape.first ?? 1 }
    /// Elements per row: the product of all axes after the first.
    @inlinable
    public var rowWidth: Int { shape.count <= 1 ? 1 : shape.dropFirst().reduce(1, *) }

    /// The same elements with a new shape (one extent may be −1, inferred).
    @inlinable
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let inferred = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != inferred }.map { $0.element }.reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            s[inferred] = count / known
        }
        precondition(s.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(shape: s, scalars: scalars)
    }

    /// Materialized transpose of a rank-2 tensor: `[m, n]` → `[n, m]`.
    @inlinable
    public func transposed() -> Tensor {
        precondition(rank == 2, "transposed() needs rank 2, got shape \(shape)")
        let m = shape[0], n = shape[1]
        var out = [Scalar](repeating: 0, count: count)
        scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                // Blocked for cache locality.
                let bs = 32
                var i0 = 0
                while i0 < m {
                    let i1 = min(i0 + bs, m)
                    var j0 = 0
                    while j0 < n {
                        let j1 = min(j0 + bs, n)
                        for i in i0..<i1 { for j in j0..<j1 { dst[j * m + i] = src[i * n + j] } }
                        j0 = j1
                    }
                    i0 = i1
                }
            }
        }
        return Tensor(shape: [n, m], scalars: out)
    }

    // MARK: Element access

    /// Element (i, j) of a rank-2 tensor.
    @inlinable
    public subscript(i: Int, j: Int) -> Scalar {
        get { scalars[i * shape[1] + j] }
        set { scalars[i * shape[1] + j] = newValue }
    }

    /// Row `i` (all axes after the first, flattened) as an array.
    @inlinable
    public func row(_ i: Int) -> [Scalar] {
        let w = rowWidth
        return Array(scalars[(i * w)..<((i + 1) * w)])
    }

    /// Rows `range` as a new tensor (axis 0 slice).
    @inlinable
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= rowCount,
                     "row range \(range) out of bounds for shape \(shape)")
        let w = rowWidth
        var s = shape
        s[0] = range.count
        return Tensor(shape: s, scalars: Array(scalars[(range.lowerBound * w)..<(range.upperBound * w)]))
    }

    /// The rows at `indices`, in that order (a gather along axis 0).
    @inlinable
    public func gatherRows(_ indices: [Int]) -> Tensor {
        let w = rowWidth, n = rowCount
        var out = [Scalar](repeating: 0, count: indices.count * w)
        scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (r, i) in indices.enumerated() {
                    precondition(i >= 0 && i < n, "row index \(i) out of bounds for \(n) rows")
                    for j in 0..<w { dst[r * w + j] = src[i * w + j] }
                }
            }
        }
        var s = shape
        if s.isEmpty { s = [1] }
        s[0] = indices.count
        return Tensor(shape: s, scalars: out)
    }

    /// Stacks tensors along axis 0 (all must share the trailing shape).
    @inlinable
    public static func concatenateRows(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty, "nothing to concatenate")
        let tail = Array(parts[0].shape.dropFirst())
        var rows = 0
        var s: [Scalar] = []
        s.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for p in parts {
            precondition(Array(p.shape.dropFirst()) == tail,
                         "cannot stack shapes \(parts[0].shape) and \(p.shape)")
            rows += p.rowCount
            s.append(contentsOf: p.scalars)
        }
        return Tensor(shape: [rows] + tail, scalars: s)
    }

    /// Calls `body` with the storage.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Scalar>) throws -> R) rethrows -> R {
        try scalars.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with mutable storage.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Scalar>) throws -> R) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer(body)
    }
}
