/// Errors thrown when a layer is configured with invalid hyperparameters or asked about an
/// input shape it cannot take.
public enum LayerError: Error, Equatable, CustomStringConvertible {
    /// A constructor argument is out of range: `field` of `layer` should be `expected`.
    case invalidConfiguration(layer: String, field: String, expected: String, got: String)
    /// An input shape the layer cannot take: `expected` describes the accepted shapes.
    case shapeMismatch(layer: String, expected: String, got: [Int])

    public var description: String {
        switch self {
        case let .invalidConfiguration(layer, field, expected, got):
            return "\(layer): \(field) must be \(expected), got \(got)"
        case let .shapeMismatch(layer, expected, got):
            return "\(layer): input shape must be \(expected), got \(got)"
        }
    }
}

/// Throws `LayerError.invalidConfiguration` unless `value > 0`.
func requirePositive(_ value: Int, _ field: String, in layer: String) throws {
    guard value > 0 else {
        throw LayerError.invalidConfiguration(layer: layer, field: field, expected: "> 0", got: "\(value)")
    }
}
