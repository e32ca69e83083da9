// `featurelens bench conv` on a few Fashion-MNIST images: the JSON report's members and keys per
// --encoder, the text report, PyTorch skipped with a message, bad options named. ResNet-18 runs
// at a tiny width for one timed step and the ConvNet (one batch of 512) only once, so the suite
// stays fast. No test checks a speed.
import Foundation
import Testing
import FeatureLens

@Suite("featurelens bench conv", .serialized)
struct BenchConvCLITests {
    static let small = ["--images", "512", "--resnet-width", "2", "--resnet-steps", "1", "--rounds", "1", "--threads", "1",
                        "--python", "/nonexistent/python"]

    /// Runs `bench conv --json` with `extra` options; returns the parsed object and stderr.
    func report(_ extra: [String]) throws -> (object: [String: Any], stderr: String) {
        let (code, out, err) = try runCLI(["bench", "conv", "--json"] + Self.small + extra)
        #expect(code == 0, "stderr: \(err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "stdout: \(out)")
        return (object, err)
    }

    func checkTimes(_ member: Any?, _ name: String) throws {
        let r = try #require(member as? [String: Any], "\(name) missing")
        let seconds = try #require(r["featurelens_s_per_epoch"] as? NSNumber, "\(name): \(r)")
        #expect(seconds.doubleValue > 0, "\(name): \(r)")
        #expect(r["pytorch_s_per_epoch"] is NSNull && r["time_ratio"] is NSNull, "\(name) without torch: \(r)")
    }

    @Test(.enabled(if: READMERun.fashionMNISTPresent, "Fashion-MNIST is not installed (Debian's dataset-fashion-mnist)"))
    func bothEncodersByDefault() throws {
        let (object, err) = try report([])
        #expect(Set(object.keys) == ["conv", "resnet18"], "\(object)")
        try checkTimes(object["conv"], "conv")
        #expect(Set((object["conv"] as? [String: Any] ?? [:]).keys)
                == ["featurelens_s_per_epoch", "pytorch_s_per_epoch", "time_ratio"])
        try checkTimes(object["resnet18"], "resnet18")
        let resnet = try #require(object["resnet18"] as? [String: Any])
        #expect(resnet["width"] as? Int == 2 && resnet["batch"] as? Int == 128 && resnet["timed_steps"] as? Int == 1, "\(resnet)")
        #expect(err.contains("PyTorch reference skipped") && err.contains("/nonexistent/python"), "\(err)")
    }

    @Test(.enabled(if: READMERun.fashionMNISTPresent, "Fashion-MNIST is not installed (Debian's dataset-fashion-mnist)"))
    func resnet18AloneGivesOneMember() throws {
        let (object, _) = try report(["--encoder", "resnet18"])
        #expect(Array(object.keys) == ["resnet18"], "\(object)")
        try checkTimes(object["resnet18"], "resnet18")
    }

    @Test(.enabled(if: READMERun.fashionMNISTPresent, "Fashion-MNIST is not installed (Debian's dataset-fashion-mnist)"))
    func textReportNamesTheWorkloadAndTheScaling() throws {
        let (code, out, err) = try runCLI(["bench", "conv", "--encoder", "resnet18"] + Self.small)
        #expect(code == 0, "stderr: \(err)")
        #expect(out.contains("ResNet-18 (CIFAR-style, w = 2)") && out.contains("batch 128")
                && out.contains("SGD lr 0.01 momentum 0.9"), "\(out)")
        #expect(out.contains("timed 1 steps after 1 warm-up step, scaled to the 468 steps of a 60 000-image epoch"), "\(out)")
        #expect(out.contains("PyTorch:     not measured (torch does not import in /nonexistent/python)"), "\(out)")
        #expect(!out.contains("ConvNet"), "\(out)")
    }

    @Test(arguments: [(["--resnet-steps", "0"], "--resnet-steps"), (["--resnet-width", "0"], "--resnet-width"),
                      (["--encoder", "vgg"], "--encoder"), (["--images", "100"], "--images"), (["--rounds", "0"], "--rounds")])
    func badOptionsAreNamed(_ options: [String], _ name: String) throws {
        let (code, _, err) = try runCLI(["bench", "conv", "--python", "/nonexistent/python"] + options)
        #expect(code != 0)
        #expect(err.contains(name), "\(err)")
    }
}
