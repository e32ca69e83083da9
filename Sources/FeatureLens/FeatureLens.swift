// The FeatureLens library: experiments (presets, configs, runners, run folders) and reports,
// re-exporting the targets below it so that `import FeatureLens` gives the whole API.
@_exported import FeatureLensNumerics
@_exported import FeatureLensIO
@_exported import FeatureLensNN
@_exported import FeatureLensLinear
@_exported import FeatureLensAudit
