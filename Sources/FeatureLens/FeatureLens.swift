@_exported import FeatureLensNumerics
