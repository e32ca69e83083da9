// `featurelens bench decode` on a small folder: the JSON report's keys and image counts, the
// temporary folder removed, bad options named; next to Pillow where a Python with PIL and NumPy
// is found (FEATURELENS_PYTHON, else `python3` on PATH). No test checks a speed.
import Foundation
import Testing
import FeatureLens

enum PillowPython {
    /// A Python 3 interpreter that imports PIL and NumPy, or nil.
    static let interpreter: String? = {
        let env = ProcessInfo.processInfo.environment
        for python in [env["FEATURELENS_PYTHON"], "python3"].compactMap({ $0 }) {
            if let (code, _, _) = try? ExportPython.run(python, ["-c", "import PIL, numpy"]), code == 0 { return python }
        }
        return nil
    }()
}

@Suite("featurelens bench decode", .serialized)
struct BenchDecodeCLITests {
    /// Runs `bench decode --json` with `extra` options and TMPDIR set to a new folder; returns
    /// the `decode` object and whether the temporary folder was left empty.
    func decode(_ extra: [String]) throws -> (report: [String: Any], tmpEmpty: Bool) {
        let tmp = try tempFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let (code, out, err) = try runCLI(["bench", "decode", "--json", "--threads", "2", "--repeats", "2"] + extra,
                                          environment: ["TMPDIR": tmp.path])
        #expect(code == 0, "stderr: \(err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "stdout: \(out)")
        #expect(Array(object.keys) == ["decode"])
        let left = try FileManager.default.contentsOfDirectory(atPath: tmp.path)
        return (try #require(object["decode"] as? [String: Any]), left.isEmpty)
    }

    @Test func reportsBothFormatsAndSkipsPillowWithoutIt() throws {
        let (report, tmpEmpty) = try decode(["--images", "20", "--size", "8", "--python", "/nonexistent/python"])
        #expect(tmpEmpty, "the generated folders must be removed")
        #expect(report["images_per_format"] as? Int == 20 && report["size"] as? Int == 8)
        #expect(report["threads"] as? Int == 2 && report["repeats"] as? Int == 2 && report["pillow_threads"] as? Int == 1)
        #expect(report["statistic"] as? String == "best")
        #expect(report["pillow_version"] is NSNull)
        let skipped = try #require(report["pillow_skipped"] as? String)
        #expect(skipped.contains("/nonexistent/python"), "\(skipped)")
        for format in ["png", "jpeg"] {
            let r = try #require(report[format] as? [String: Any], "\(format) missing in \(report)")
            #expect(Set(r.keys) == ["images", "featurelens_images_per_s", "featurelens_cache_hit_images_per_s", "identical",
                                    "pillow_images", "pillow_images_per_s", "speedup", "max_pixel_difference"])
            #expect(r["images"] as? Int == 20, "\(format)")
            let rates = try #require(r["featurelens_images_per_s"] as? [String: NSNumber])
            #expect(Set(rates.keys) == ["1", "2"] && rates.values.allSatisfy { $0.doubleValue > 0 }, "\(format): \(rates)")
            #expect(((r["featurelens_cache_hit_images_per_s"] as? NSNumber)?.doubleValue ?? 0) > 0)
            #expect(r["identical"] as? Bool == true, "\(format): the loads on 1 and 2 threads and the cache hit differ")
            for key in ["pillow_images", "pillow_images_per_s", "speedup", "max_pixel_difference"] {
                #expect(r[key] is NSNull, "\(format).\(key) without Pillow: \(String(describing: r[key]))")
            }
        }
    }

    @Test func textReportSaysPillowWasNotMeasured() throws {
        let (code, out, err) = try runCLI(["bench", "decode", "--images", "20", "--size", "4", "--repeats", "1",
                                           "--python", "/nonexistent/python"])
        #expect(code == 0, "stderr: \(err)")
        #expect(out.contains("Pillow: not measured (PIL or numpy does not import in /nonexistent/python"), "\(out)")
        #expect(out.contains("PNG: 20 images") && out.contains("JPEG: 20 images"), "\(out)")
    }

    @Test(arguments: [(["--images", "25"], "--images"), (["--images", "0"], "--images"),
                      (["--size", "0"], "--size"), (["--repeats", "0"], "--repeats")])
    func badOptionsAreNamed(_ options: [String], _ name: String) throws {
        let (code, _, err) = try runCLI(["bench", "decode", "--python", "/nonexistent/python"] + options)
        #expect(code != 0)
        #expect(err.contains(name), "\(err)")
    }

    @Test(.enabled(if: PillowPython.interpreter != nil,
                   "no Python with PIL and NumPy (set FEATURELENS_PYTHON or put python3 with Pillow on PATH)"))
    func pillowReadsTheSameImagesAndPixels() throws {
        let python = try #require(PillowPython.interpreter)
        let (report, tmpEmpty) = try decode(["--images", "30", "--size", "8", "--python", python])
        #expect(tmpEmpty, "the generated folders and Pillow's saved arrays must be removed")
        #expect(report["pillow_skipped"] is NSNull)
        #expect(report["pillow_version"] is String)
        for format in ["png", "jpeg"] {
            let r = try #require(report[format] as? [String: Any])
            #expect(r["images"] as? Int == 30)
            #expect(r["pillow_images"] as? Int == r["images"] as? Int, "\(format): \(r)")
            #expect(((r["pillow_images_per_s"] as? NSNumber)?.doubleValue ?? 0) > 0)
            #expect(((r["speedup"] as? NSNumber)?.doubleValue ?? 0) > 0)
            let difference = try #require((r["max_pixel_difference"] as? NSNumber)?.doubleValue, "\(format): \(r)")
            // PNG is lossless and both read the stored bytes / 255; JPEG decoders may round differently.
            #expect(format == "png" ? difference == 0 : difference <= 2, "\(format): \(difference)/255")
        }
    }
}
