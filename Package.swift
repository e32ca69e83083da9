// swift-tools-version:6.0
//
// FeatureLens: which features does a contrastive encoder learn?
//
// Targets, lowest first (a target imports only those below it; the map is docs/ARCHITECTURE.md):
//   CFeatureLensKernels (SIMD micro-kernels, chosen at run time), CZlib,
//   CFeatureLensImageCodecs (C calls into system libpng and libjpeg: CPNG, CJPEG)
//   FeatureLensNumerics (tensors, GEMM, RNG, linear algebra, layer kernels; the only user of the C kernels)
//   FeatureLensIO (datasets, labels, synthetic data, file formats)
//   FeatureLensNN (layers, losses, optimizers, Trainer)   FeatureLensLinear (Gram-space engine, theory)
//   FeatureLensAudit (probes, metrics, report model)
//   FeatureLens (experiments, reports; re-exports all of the above)  →  featurelens (CLI)
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
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),  // LogHandler.log(event:)
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
        // System libpng and libjpeg(-turbo), for image folders (no hand-written decoder).
        .systemLibrary(
            name: "CPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]
        ),
        .systemLibrary(
            name: "CJPEG",
            pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg62-turbo-dev"])]
        ),
        // The C side of PNG and JPEG decoding and encoding: both libraries report errors by
        // longjmp, so every setjmp/longjmp stays inside these C functions and never crosses a
        // Swift frame; Swift sees plain status codes and messages.
        .target(
            name: "CFeatureLensImageCodecs",
            dependencies: ["CPNG", "CJPEG"],
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]
        ),
        .target(
            name: "FeatureLensNumerics",
            dependencies: ["CFeatureLensKernels"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // Datasets, label sets, synthetic data models and file formats (IDX, NPY, CIFAR, CSV labels,
        // safetensors, checkpoint headers, atomic files, PNG/JPEG image folders), image augmentations.
        .target(
            name: "FeatureLensIO",
            dependencies: ["FeatureLensNumerics", "CZlib", "CFeatureLensImageCodecs",
                           .product(name: "SwiftCSV", package: "SwiftCSV")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // Layers, encoders, losses, optimizers, initializers, the mini-batch Trainer and its checkpoints.
        .target(
            name: "FeatureLensNN",
            dependencies: ["FeatureLensIO", .product(name: "Logging", package: "swift-log")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // The linear encoder's exact Gram-space gradient descent, its checkpoints, and the theory.
        .target(
            name: "FeatureLensLinear",
            dependencies: ["FeatureLensIO"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // Probes, the representation metrics, verdicts and the report model.
        .target(
            name: "FeatureLensAudit",
            dependencies: ["FeatureLensIO"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // Experiments (presets, configs, runners, run folders) and reports (HTML, SVG, CSV).
        .target(
            name: "FeatureLens",
            dependencies: [
                "FeatureLensNumerics",
                "FeatureLensIO",
                "FeatureLensNN",
                "FeatureLensLinear",
                "FeatureLensAudit",
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
            dependencies: ["FeatureLens", "FeatureLensNumerics", "FeatureLensIO", "FeatureLensNN", "FeatureLensLinear",
                           "FeatureLensAudit", "CFeatureLensKernels"],
            resources: [.copy("Fixtures")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)
