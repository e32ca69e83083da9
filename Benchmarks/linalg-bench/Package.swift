// swift-tools-version:6.0
// Timing harness for the Double linear algebra of FeatureLensNumerics (not part of the tests).
// Run: cd Benchmarks/linalg-bench && swift run -c release linalg-bench [sizes...]
import Foundation
import PackageDescription

// SwiftPM names a path dependency after its folder (e.g. "FeatureLens" or a worktree's name).
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().standardizedFileURL

let package = Package(
    name: "linalg-bench",
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(
            name: "linalg-bench",
            dependencies: [.product(name: "FeatureLensNumerics", package: root.lastPathComponent)],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)
