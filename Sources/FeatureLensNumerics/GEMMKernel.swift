import CFeatureLensKernels
import Foundation

/// The family of register-blocked micro-kernels a GEMM runs on.
///
/// All families are compiled into every x86-64 build (each C function carries its own
/// `__attribute__((target(...)))`, so no CPU flag is needed at build time); the best family the
/// running CPU supports is chosen once, at first use. The environment variable
/// `FEATURELENS_KERNEL=generic|avx2|avx512` overrides the choice (see docs/NUMERICS.md).
///
/// Register tiles (rows of A × columns of B per micro-kernel call):
/// - `generic`: portable C, `Float` 6×8, `Double` 6×4 (compiler-vectorized for SSE2 or NEON);
/// - `avx2`: AVX2 + FMA3, `Float` 6×16, `Double` 6×8;
/// - `avx512`: AVX-512F, `Float` 12×32, `Double` 12×16.
public enum GEMMKernel: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Portable C; runs on every CPU.
    case generic
    /// x86-64 with AVX2 and FMA3 (Haswell and later, Zen).
    case avx2
    /// x86-64 with AVX-512F (Skylake-SP and later, Zen 4).
    case avx512

    /// The environment variable that overrides the automatic choice.
    public static let environmentVariable = "FEATURELENS_KERNEL"

    var cID: Int32 {
        switch self {
        case .generic: return Int32(FL_KERNEL_GENERIC)
        case .avx2: return Int32(FL_KERNEL_AVX2)
        case .avx512: return Int32(FL_KERNEL_AVX512)
        }
    }

    /// The family's name as printed by `featurelens bench gemm` ("generic", "avx2", "avx512").
    public var description: String { rawValue }

    /// Whether this build and the running CPU can execute the family.
    public var isSupported: Bool {
        switch self {
        case .generic: return true
        case .avx2: return Self.supportTable.avx2
        case .avx512: return Self.supportTable.avx512
        }
    }

    /// CPU support, asked once per process.
    private static let supportTable: (avx2: Bool, avx512: Bool) = {
        func probe(_ kernel: GEMMKernel) -> Bool {
            var info = fl_kernel_info()
            return fl_kernel_get(kernel.cID, &info) == 1 && fl_kernel_supported(kernel.cID) == 1
        }
        return (probe(.avx2), probe(.avx512))
    }()

    /// Every family the running CPU supports, slowest first (always contains `.generic`).
    public static var supported: [GEMMKernel] { allCases.filter { $0.isSupported } }

    /// The fastest family the running CPU supports.
    public static let best: GEMMKernel = {
        switch Int(fl_kernel_best()) {
        case Int(FL_KERNEL_AVX512): return .avx512
        case Int(FL_KERNEL_AVX2): return .avx2
        default: return .generic
        }
    }()

    /// Reads the user's override from `environment[FEATURELENS_KERNEL]`.
    ///
    /// - Returns: `nil` when the variable is unset or empty, else the requested family.
    /// - Throws: `GEMMKernelError.unknownKernel` for a value other than generic/avx2/avx512,
    ///   `GEMMKernelError.unsupportedKernel` when the CPU cannot run the requested family.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> GEMMKernel? {
        guard let raw = environment[environmentVariable]?.trimmingCharacters(in: .whitespaces),
              !raw.isEmpty else { return nil }
        guard let kernel = GEMMKernel(rawValue: raw.lowercased()) else {
            throw GEMMKernelError.unknownKernel(raw)
        }
        guard kernel.isSupported else {
            throw GEMMKernelError.unsupportedKernel(kernel, best: best)
        }
        return kernel
    }

    /// The family every `sgemm`/`dgemm` call uses unless told otherwise: the override from
    /// `FEATURELENS_KERNEL` when it is valid and supported, else `best`. An invalid override is
    /// reported once on standard error and ignored (the CLI validates it up front with
    /// `fromEnvironment()` and fails with a clear message instead).
    public static let active: GEMMKernel = {
        do {
            return try fromEnvironment() ?? best
        } catch {
            FileHandle.standardError.write(Data("warning: \(error); using \(best)\n".utf8))
            return best
        }
    }()

    /// Micro-kernel table entry for this family (falls back to generic if not compiled in).
    var info: fl_kernel_info {
        var info = fl_kernel_info()
        if fl_kernel_get(cID, &info) != 1 { _ = fl_kernel_get(Int32(FL_KERNEL_GENERIC), &info) }
        return info
    }
}

/// Errors from choosing a GEMM kernel family.
public enum GEMMKernelError: Error, CustomStringConvertible, Equatable {
    /// `FEATURELENS_KERNEL` holds something other than generic, avx2 or avx512.
    case unknownKernel(String)
    /// The requested family cannot run on this CPU.
    case unsupportedKernel(GEMMKernel, best: GEMMKernel)

    public var description: String {
        switch self {
        case .unknownKernel(let value):
            return "environment variable \(GEMMKernel.environmentVariable)=\"\(value)\": expected one of generic, avx2, avx512"
        case .unsupportedKernel(let kernel, let best):
            return "environment variable \(GEMMKernel.environmentVariable)=\(kernel): this CPU does not support it (best supported: \(best))"
        }
    }
}
