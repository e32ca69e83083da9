import Foundation
import Testing
@testable import featurelens

/// `--json` output: numbers that are not finite (a label that is not measurable has NaN
/// accuracy) are written as the strings "nan", "inf", "-inf", at any depth, so the output is
/// valid JSON instead of an error at the end of a run.
@Suite struct JSONOutputTests {
    @Test func nonFiniteNumbersBecomeStringsAtAnyDepth() throws {
        let value: [String: Any] = ["a": Double.nan, "b": [1.5, Double.infinity, -Double.infinity],
                                    "c": ["d": Float.nan, "e": 2, "f": "text"]]
        let safe = jsonSafe(value) as! [String: Any]
        #expect(safe["a"] as? String == "nan")
        #expect((safe["b"] as? [Any])?.compactMap { $0 as? String } == ["inf", "-inf"])
        #expect((safe["b"] as? [Any])?.first as? Double == 1.5)
        let c = safe["c"] as? [String: Any]
        #expect(c?["d"] as? String == "nan" && c?["e"] as? Int == 2 && c?["f"] as? String == "text")
        let data = try JSONSerialization.data(withJSONObject: safe, options: [.sortedKeys])
        #expect(String(decoding: data, as: UTF8.self).contains("\"a\":\"nan\""))
        #expect(throws: (any Error).self) { try JSONSerialization.data(withJSONObject: value) }
    }
}
