import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit
import FeatureLensNumerics

@Suite struct ImageEncoderTests {
    @Test func convNetShapesForFashionMNIST() throws {
        var g = SeededGenerator(seed: 1)
        let enc: Encoder<Float> = try ImageEncoders.convNet(inputChannels: 1, using: &g)
        #expect(try enc.featureShape(for: [5, 1, 28, 28]) == [5, 128])
        #expect(try enc.outputShape(for: [5, 1, 28, 28]) == [5, 128])
        let x = Tensor<Float>(randomUniform: [3, 1, 28, 28], using: &g)
        let out = enc.encode(x, training: true)
        #expect(out.features.shape == [3, 128] && out.embedding.shape == [3, 128])
        // 32·1·9 + 32, 64·32·9 + 64, 64·64·9 + 64, 128·64·4·4 + 128
        #expect(enc.parameterCount == 320 + 18_496 + 36_928 + 131_200)
        #expect(enc.parameters.map(\.name) == ["backbone.0.weight", "backbone.0.bias", "backbone.2.weight", "backbone.2.bias",
                                               "backbone.4.weight", "backbone.4.bias", "backbone.7.weight", "backbone.7.bias"])
    }

    @Test func convNetWithRandBitsChannelsAndHead() throws {
        var g = SeededGenerator(seed: 2)
        let head = ProjectionHeadSpec(hiddenDimension: 64, outputDimension: 16, batchNorm: true)
        let enc: Encoder<Float> = try ImageEncoders.convNet(inputChannels: 1 + 5, height: 32, width: 32, head: head, using: &g)
        #expect(try enc.featureShape(for: [4, 6, 32, 32]) == [4, 128])
        #expect(try enc.outputShape(for: [4, 6, 32, 32]) == [4, 16])
        #expect(throws: LayerError.self) { _ = try enc.outputShape(for: [4, 1, 32, 32]) }
        let out = enc.encode(Tensor<Float>(zeros: [2, 6, 32, 32]), training: true)
        #expect(out.embedding.shape == [2, 16])
    }

    @Test func pixelMLPShapes() throws {
        var g = SeededGenerator(seed: 3)
        let enc: Encoder<Float> = try ImageEncoders.mlp(inputShape: [1, 28, 28], hiddenWidths: [256], featureDimension: 64,
                                                        head: ProjectionHeadSpec(hiddenDimension: 32, outputDimension: 8), using: &g)
        #expect(try enc.featureShape(for: [7, 1, 28, 28]) == [7, 64])
        #expect(try enc.outputShape(for: [7, 1, 28, 28]) == [7, 8])
        let linear: Encoder<Float> = try ImageEncoders.mlp(inputShape: [3, 4, 4], hiddenWidths: [], featureDimension: 5,
                                                           bias: false, using: &g)
        #expect(linear.parameterCount == 48 * 5)
    }

    @Test func invalidConfigurationsThrow() {
        var g = SeededGenerator(seed: 4)
        #expect(throws: LayerError.self) { let _: Encoder<Float> = try ImageEncoders.convNet(inputChannels: 0, using: &g) }
        #expect(throws: LayerError.self) {
            let _: Encoder<Float> = try ImageEncoders.convNet(inputChannels: 1, channels: [8, 8], using: &g)
        }
        #expect(throws: LayerError.self) {
            let _: Encoder<Float> = try ImageEncoders.mlp(inputShape: [1, 0, 3], hiddenWidths: [], featureDimension: 2, using: &g)
        }
    }

    /// Central differences in Double through the whole ConvNet + head (every parameter and the input).
    @Test func convNetGradientMatchesFiniteDifferences() throws {
        var g = SeededGenerator(seed: 5)
        let enc: Encoder<Double> = try ImageEncoders.convNet(
            inputChannels: 2, height: 9, width: 7, channels: [3, 4, 4], featureDimension: 5,
            head: ProjectionHeadSpec(hiddenDimension: 6, outputDimension: 3), using: &g)
        let x = GradientCheck.randomTensor([2, 2, 9, 7], seed: 6)
        let report = GradientCheck.check(layer: enc, input: x)
        #expect(report.maxError <= 1e-6, "\(report)")
        #expect(report.parameterErrors.count == 12)
    }
}
