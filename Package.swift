// swift-tools-version:6.0
//
// FeatureLens: which features does a contrastive encoder learn?
//
// Layers (see README.md and docs/NUMERICS.md): featurelens (CLI) → FeatureLens (domain) → FeatureLensNumerics
// (tensors, GEMM, RNG, linear algebra) → CFeatureLensKernels (SIMD micro-kernels, chosen at run time).
import PackageDescription

let package = Package(
    name: "FeatureLens",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "FeatureLensNumerics", targets: ["FeatureLensNumerics"]),
        .library(name: "FeatureLens", targets: ["FeatureLens"]),
        .executable(name: "featurelens", targets: ["featurelens"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
    ],
    targets: [
        // Register-blocked SIMD micro-kernels in C. Each kernel carries its own
        // `__attribute__((target(...)))`, and the best one the CPU supports is chosen once at
        // run time, so a plain `swift build` works on any x86-64 or arm64 machine.
        .target(name: "CFeatureLensKernels"),
        // System zlib, for gzip-compressed IDX files (inflate only; no hand-written inflate).
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "FeatureLensNumerics",
            dependencies: ["CFeatureLensKernels"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .target(
            name: "FeatureLens",
            dependencies: [
                "FeatureLensNumerics",
                "CFeatureLensKernels",
                "CZlib",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftCSV", package: "SwiftCSV"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .executableTarget(
            name: "featurelens",
            dependencies: [
                "FeatureLens",
                "FeatureLensNumerics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "FeatureLensNumericsTests",
            dependencies: ["FeatureLensNumerics"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "featurelensTests",
            dependencies: ["featurelens", "FeatureLens"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "FeatureLensTests",
            dependencies: ["FeatureLens", "FeatureLensNumerics", "CFeatureLensKernels"],
            resources: [.copy("Fixtures")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)
