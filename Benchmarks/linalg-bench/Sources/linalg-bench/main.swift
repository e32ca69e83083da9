import Foundation
import FeatureLensNumerics

// Times SymmetricEigen (all pairs and top-10), the SVD and the pseudo-inverse, and checks the
// eigen residuals. Usage: linalg-bench [n ...] (default 500 1000 2000).

func now() -> Double { Date().timeIntervalSinceReferenceDate }
/// CPU time of the whole process (all threads), seconds.
func cpu() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
if let t = ProcessInfo.processInfo.environment["LA_THREADS"], let v = Int(t) { Parallel.threadCount = v }

func frob(_ t: Tensor<Double>) -> Double { t.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot() }

let args = CommandLine.arguments.dropFirst()
let sizes = args.isEmpty ? [500, 1000, 2000] : args.compactMap { Int($0) }
print("threads: \(Parallel.threadCount)")
for n in sizes {
    var g = SeededGenerator(seed: UInt64(n))
    let r = Tensor<Double>(randomNormal: [n, n], using: &g)
    var a = r
    for i in 0..<n { for j in 0..<n { a.scalars[i * n + j] = r.scalars[i * n + j] + r.scalars[j * n + i] } }
    var t0 = now()
    let c0 = cpu()
    let e = try SymmetricEigen(a)
    let tAll = now() - t0
    let cAll = cpu() - c0
    t0 = cpu()
    _ = try SymmetricEigen(a, topK: 10)
    let tTop = cpu() - t0
    t0 = cpu()
    _ = try SymmetricEigen.eigenvalues(of: a)
    let tVals = cpu() - t0
    // Residuals (not timed; skipped above 1000 while dgemm is the naive reference).
    if n > 1000 {
        print(String(format: "eigen n=%d: all pairs %.3f s wall (%.3f s CPU), top-10 %.3f s CPU, values only %.3f s CPU", n, tAll, cAll, tTop, tVals))
        continue
    }
    let av = a.matmul(e.vectors)
    var res = 0.0
    for i in 0..<n { for j in 0..<n {
        let d = av.scalars[i * n + j] - e.vectors.scalars[i * n + j] * e.values[j]; res += d * d } }
    let vtv = e.vectors.matmul(e.vectors, transposeSelf: true)
    var orth = 0.0
    for i in 0..<n { for j in 0..<n { let d = vtv.scalars[i * n + j] - (i == j ? 1 : 0); orth += d * d } }
    print(String(format: "eigen n=%d: all pairs %.3f s wall (%.3f s CPU), top-10 %.3f s CPU, values only %.3f s CPU; ‖AV−VΛ‖/‖A‖ = %.2e, ‖VᵀV−I‖ = %.2e",
                 n, tAll, cAll, tTop, tVals, res.squareRoot() / frob(a), orth.squareRoot()))
    if n <= 1000 {
        let x = Tensor<Double>(randomNormal: [2 * n, n / 2], using: &g)
        t0 = now()
        _ = try SVD(x)
        let tSvd = now() - t0
        t0 = now()
        _ = try pseudoInverse(x)
        print(String(format: "svd [%d, %d]: %.3f s, pinv %.3f s", 2 * n, n / 2, tSvd, now() - t0))
    }
}
