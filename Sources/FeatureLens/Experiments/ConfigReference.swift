import Foundation

/// The config key reference, docs/CONFIG.md, generated from the key tables of both experiment
/// kinds (`SyntheticExperimentConfig.table`, `ImageExperimentConfig.table`). A test compares
/// the file with `markdown` and fails when they differ; running that test with the environment
/// variable `FEATURELENS_WRITE_CONFIG_DOC=1` rewrites the file instead.
public enum ConfigReference {
    /// The full text of docs/CONFIG.md.
    public static var markdown: String {
        """
        # Config keys

        <!-- Generated from the key tables in Sources/FeatureLens/Experiments (SyntheticExperimentConfig.table,
             ImageExperimentConfig.table); do not edit by hand. Regenerate with
             FEATURELENS_WRITE_CONFIG_DOC=1 swift test --filter ConfigReferenceDocTests -->

        Every run is described by one config of one of two kinds: **synthetic** (a linear encoder
        on the synthetic data models of SCIENCE.md §2, trained by exact full-batch gradient descent)
        or **image** (a ConvNet or MLP on Fashion-MNIST or another MNIST-layout folder, or an MLP on
        your own feature matrix — `data` = a `.npy`/`.csv` file with `labels` = its labels CSV, as in
        the `tabular` preset — trained by mini-batches). Each kind has one
        table of keys; the same table reads config.json files, `--set KEY=VALUE` and
        `--grid KEY=v1,v2`, and prints `featurelens presets --keys PRESET`. This page is that table.

        - A config file may list only the keys it changes; the others keep the defaults below.
        - An unknown key is an error, in a file and in `--set`/`--grid`: the message names the key
          and suggests the nearest valid one (`unknown key 'temprature' in image config; did you
          mean 'temperature'?`). Errors in a file name the file and the field.
        - String forms (for `--set`): integers and reals in Swift syntax (`1e-3`), reals finite;
          lists comma-separated (`0,10,100`); booleans `true`/`false` (also `1`/`0`, `yes`/`no`);
          choices by name. JSON files use JSON numbers, arrays, booleans and strings; every JSON
          file FeatureLens writes has sorted keys, and non-finite reals as `"nan"`, `"inf"`, `"-inf"`.
        - Range checks (the "meaning" column) run before any training starts.

        Vocabulary, the same in both kinds: an encoder maps an input x to its **features h** (the
        backbone's output) and, through an optional projection head, to its **embedding z**; the
        **embedding size p** is the width of z. The linear encoder of the synthetic kind has no
        head: z = h = W x. In the image kind, `backbone_width = 0` means no projection head
        (z = h, both of width p); `backbone_width = B > 0` gives h of width B and a head
        h → Linear(B, B) → ReLU → Linear(B, p) → z.

        ## Synthetic runs

        \(SyntheticExperimentConfig.table.markdown)
        ## Image runs

        \(ImageExperimentConfig.table.markdown)
        """
    }
}
