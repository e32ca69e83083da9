import Testing
@testable import FeatureLens

@Suite struct SmokeTests {
    @Test func versionIsSet() { #expect(!FeatureLensInfo.version.isEmpty) }
}
