// swift-tools-version:6.0
//
// libFuzzer harnesses for FeatureLens's file parsers. A separate package so
// the sanitizer flags never touch the main build. Build and run with `Fuzz/run.sh SECONDS`
// (see docs/RELIABILITY.md); one executable per parser. Each `main.swift` hands its
// `fuzzOne` callback to libFuzzer's `LLVMFuzzerRunDriver` (declared in CFuzzDriver), so the
// package builds with plain `swift build -Xswiftc -sanitize=fuzzer,address`.
import PackageDescription

let harnesses = [
    "fuzz-idx",            // IDX raw (and corrupt gzip streams that start with 1f 8b)
    "fuzz-idx-gzip",       // IDX through the streaming gzip inflater (input compressed first)
    "fuzz-cifar",          // CIFAR-10 / CIFAR-100 binary records
    "fuzz-csv-features",   // CSV feature matrices (TabularFeatures.parseCSV)
    "fuzz-safetensors",    // safetensors decode, re-encode round trip, checkpoint restore
    "fuzz-label-grouping", // label-grouping config JSON
    "fuzz-npy",            // NumPy .npy header and data, encode/decode round trip
    "fuzz-labels-csv",     // CSV label tables (LabelTable)
    "fuzz-config",         // experiment config JSON (full and flat forms, --set keys, validate)
    "fuzz-image",          // PNG and JPEG decoding (libpng, libjpeg behind the C shim), resize
]

// A path dependency's identity is its folder name (e.g. "main" or a worktree's name), not
// its manifest name, so compute it from where this package lives.
let mainPackage = String(Context.packageDirectory.split(separator: "/").dropLast().last ?? "FeatureLens").lowercased()

let package = Package(
    name: "FeatureLensFuzz",
    dependencies: [.package(path: "..")],
    targets: [.target(name: "CFuzzDriver")] + harnesses.map { name in
        .executableTarget(
            name: name,
            dependencies: ["CFuzzDriver", .product(name: "FeatureLens", package: mainPackage)],
            path: "Sources/\(name)",
            swiftSettings: [.swiftLanguageMode(.v5)]
        )
    }
)
