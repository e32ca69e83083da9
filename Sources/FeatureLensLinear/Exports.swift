// FeatureLensLinear builds on FeatureLensIO; its files and its clients see those modules' API
// without importing them again.
@_exported import FeatureLensIO
