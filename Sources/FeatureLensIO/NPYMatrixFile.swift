import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A 2-D NPY file `[n, p]` opened by memory mapping: the header is parsed and the data size
/// checked when it opens, and rows are converted to `Double` only when asked for, so a matrix
/// larger than memory (e.g. 1 000 000 × 768 float32, 3 GB) can be audited on a subsample of
/// its rows without reading the rest. The mapping is read-only and private; the file must not
/// change while it is open. Same dtypes and orders as `NPY` (float16 / float32 / float64,
/// little-endian; C or Fortran order).
public final class NPYMatrixFile: @unchecked Sendable {
    /// The file (as named in errors and notes).
    public let file: String
    /// Its parsed header.
    public let header: NPYHeader
    /// Rows n and columns p.
    public let rows: Int, columns: Int
    private let base: UnsafeRawPointer?
    private let mappedLength: Int

    /// Opens and maps `url`.
    /// - Throws: `NPYError.unreadable` (cannot open or map), the header errors of
    ///   `NPY.parseHeader`, `NPYError.sizeMismatch` when the data section does not match the
    ///   header, `NPYError.wrongRank` for any rank but 2.
    public init(_ url: URL) throws {
        file = url.path
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw NPYError.unreadable(file: file, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw NPYError.unreadable(file: file, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw NPYError.unreadable(file: file, reason: "not a regular file") }
        let length = Int(st.st_size)
        guard length > 0 else { throw NPYError.notNPY(file: file) }
        guard let map = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw NPYError.unreadable(file: file, reason: "cannot map the file: \(String(cString: strerror(errno)))")
        }
        let bytes = UnsafeRawPointer(map)
        do {
            let head = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: bytes), count: min(length, 1 << 20), deallocator: .none)
            let h = try NPY.parseHeader(head, file: file)
            guard h.shape.count == 2 else { throw NPYError.wrongRank(file: file, expected: 2, shape: h.shape) }
            let expected = h.shape[0] * h.shape[1] * h.dtype.itemSize
            guard length - h.dataOffset == expected else {
                throw NPYError.sizeMismatch(file: file, expectedBytes: expected, actualBytes: length - h.dataOffset)
            }
            header = h
            rows = h.shape[0]
            columns = h.shape[1]
        } catch {
            munmap(map, length)
            throw error
        }
        base = bytes
        mappedLength = length
    }

    deinit { if let base { munmap(UnsafeMutableRawPointer(mutating: base), mappedLength) } }

    /// The sentence to report when the values are converted on reading (float16, Fortran
    /// order), as `NPYHeader.conversionNote` with target float64.
    public var conversionNote: String? { header.conversionNote(file: file, target: "float64") }

    /// Rows `indices` (each in 0..<rows, any order, repeats allowed) as `[indices.count, p]`
    /// Doubles (float16 and float32 widened exactly), in the order given.
    /// - Precondition: every index is in range.
    public func gatherRows(_ indices: [Int]) -> Tensor<Double> {
        let p = columns, n = rows
        var out = [Double](repeating: 0, count: indices.count * p)
        guard let base, p > 0 else { return Tensor(shape: [indices.count, p], scalars: out) }
        let data = base + header.dataOffset
        let item = header.dtype.itemSize
        let fortran = header.fortranOrder
        let dtype = header.dtype
        let file = self.file
        // Chunks of at least 4096 rows; each row is converted on its own, so the split does not
        // change a value.
        let chunks = min(max(1, indices.count / 4096), Parallel.threadCount * 4)
        out.withUnsafeMutableBufferPointer { o in
            let dst = o.baseAddress!
            Parallel.forEach(chunks: chunks) { chunk in
                let r0 = chunk * indices.count / chunks, r1 = (chunk + 1) * indices.count / chunks
                for r in r0..<r1 {
                    let i = indices[r]
                    precondition(i >= 0 && i < n, "\(file): row \(i) out of 0..<\(n)")
                    let row = dst + r * p
                    for j in 0..<p {
                        let offset = (fortran ? j * n + i : i * p + j) * item
                        switch dtype {
                        case .float16:
                            row[j] = NPY.halfToDouble(UInt16(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
                        case .float32:
                            row[j] = Double(Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt32.self))))
                        case .float64:
                            row[j] = Double(bitPattern: UInt64(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
                        }
                    }
                }
            }
        }
        return Tensor(shape: [indices.count, p], scalars: out)
    }

    /// Every row, `[n, p]` Doubles in C order.
    public func allRows() -> Tensor<Double> { gatherRows(Array(0..<rows)) }
}
