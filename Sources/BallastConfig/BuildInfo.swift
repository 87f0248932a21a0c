/// What `ballast --version` prints and `ballast_build_info` exports.
package enum BuildInfo {
    package static let version = "0.9.0"
    /// The commit the binary was built from: scripts/release writes it into BuildRevision.swift
    /// for the build of a release; any other build says "dev".
    package static var revision: String { buildRevision }
    package static var line: String { "ballast \(version) (\(revision))" }
}
