/// What `ballast --version` prints and `ballast_build_info` exports.
public enum BuildInfo {
    public static let version = "0.9.0"
    /// The commit the binary was built from: scripts/release writes it into BuildRevision.swift
    /// for the build of a release; any other build says "dev".
    public static var revision: String { buildRevision }
    public static var line: String { "ballast \(version) (\(revision))" }
}
