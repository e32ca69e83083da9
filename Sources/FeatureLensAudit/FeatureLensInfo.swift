/// FeatureLens: trains contrastive encoders and reports which labelled features they learn.
public enum FeatureLensInfo {
    /// The tool's version, written into every report's provenance.
    public static let version = "0.1.0"
}
