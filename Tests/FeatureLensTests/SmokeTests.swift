import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

@Suite struct SmokeTests {
    @Test func versionIsSet() { #expect(!FeatureLensInfo.version.isEmpty) }
}
