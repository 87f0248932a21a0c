import ArgumentParser
import BallastAPI
import BallastConfig
import BallastControl
import Foundation
import NIOHTTP1

struct Docs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate the topology document of a config or of the running stack, or check a committed one for drift.",
        discussion: """
            Without --check: writes the Markdown document (to --out, with the SVG diagram beside it as FILE.svg; \
            else to standard output). With --check FILE: compares FILE with the live (or given) configuration and \
            reviews the runbooks; exit 0 when they agree, 1 with a list of what drifted, 2 when something cannot be read.
            """)

    @Option(help: "A config file instead of the running stack.") var config: String?
    @Option(help: "The running stack's admin API (default $BALLAST_ADMIN or http://127.0.0.1:9900).") var admin: String?
    @Option(help: "Write the document here, and its diagram beside it (.svg).") var out: String?
    @Option(help: "A committed document to compare with the configuration.") var check: String?

    func validate() throws {
        if config != nil, admin != nil { throw ValidationError("give --config or --admin, not both") }
        if check != nil, out != nil { throw ValidationError("--check reads a document; it writes none (drop --out)") }
    }

    func run() async throws {
        let (loaded, version, source, history) = try await live()
        let facts = TopologyFacts(config: loaded, version: version)
        if let check {
            try checkDocument(check, live: facts, config: loaded, history: history)
            return
        }
        guard let out else {
            print(TopologyDocument(facts: facts, source: source, diagram: nil).markdown(), terminator: "")
            return
        }
        let svgPath = (out.hasSuffix(".md") ? String(out.dropLast(3)) : out) + ".svg"
        let document = TopologyDocument(facts: facts, source: source, diagram: (svgPath as NSString).lastPathComponent)
        do {
            try document.markdown().write(toFile: out, atomically: true, encoding: .utf8)
            try TopologyDiagram(facts: facts).svg().write(toFile: svgPath, atomically: true, encoding: .utf8)
        } catch {
            printError("error: cannot write \(out): \(error.localizedDescription)")
            throw ExitCode(2)
        }
        say("wrote \(out) and \(svgPath) (config \(version.map { "version \($0), " } ?? "")sha256 \(facts.configHash))")
    }

    /// The configuration to describe: the file, or the running stack's with its history.
    private func live() async throws -> (Config, Int?, String, [DocsDrift.Version]) {
        if let config {
            return (try loadConfigOrExit(config).config, nil, "`\(config)`", [])
        }
        let client = AdminClient(admin: admin)
        let reply = try await client.send(.GET, "/api/v1/config")
        guard reply.status == 200 else {
            printError("error: \(client.base)/api/v1/config answered \(reply.status)")
            throw ExitCode(2)
        }
        let text = String(decoding: reply.body, as: UTF8.self)
        // Its runbooks are read where the balancer reads them, when that directory is here too.
        let base = reply.headers["x-ballast-config-directory"].flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        guard case .success(let loaded) = ConfigLoader.load(text: text, file: "live config", baseDirectory: base) else {
            printError("error: the live config from \(client.base) does not load")
            throw ExitCode(2)
        }
        let version = reply.headers["x-ballast-config-version"].flatMap { Int($0) }
        var history: [DocsDrift.Version] = []
        let entries = (try await client.send(.GET, "/api/v1/config/history")).decode(AdminReplies.History.self)?.versions ?? []
        for entry in entries where entry.isApplied {
            guard case .success(let old) = ConfigLoader.load(text: entry.source, file: "version \(entry.version)") else { continue }
            history.append(DocsDrift.Version(version: entry.version, author: entry.author, appliedAt: entry.appliedAt,
                                             facts: TopologyFacts(config: old.config, version: entry.version)))
        }
        return (loaded.config, version, "the running stack at \(client.base)\(version.map { " (config version \($0))" } ?? "")", history)
    }

    private func checkDocument(_ path: String, live: TopologyFacts, config: Config, history: [DocsDrift.Version]) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            printError("error: cannot read \(path)")
            throw ExitCode(2)
        }
        let parsed = TopologyDocument.parse(text)
        guard let documented = parsed.facts else {
            printError("error: \(path): \(parsed.problem ?? "no facts"); generate it with `ballast docs --out \(path)`")
            throw ExitCode(2)
        }
        let drift = TopologyDocument.handEdits(parsed) + DocsDrift(document: documented, live: live, history: history).findings()
        let runbooks = RunbookCheck.check(config) + RunbookReview.check(config)
        for line in drift { print("\(path): drift: \(line)") }
        for finding in runbooks { print(finding.description) }
        if drift.isEmpty && runbooks.isEmpty {
            let note = documented.configHash == live.configHash ? "" : " (the config text changed, sha256 \(documented.configHash) → \(live.configHash), but nothing the document states)"
            print("\(path) agrees with the configuration\(live.configVersion.map { " (version \($0))" } ?? "")\(note)")
            return
        }
        print("\(drift.count) drift\(drift.count == 1 ? "" : "s"), \(runbooks.count) runbook finding\(runbooks.count == 1 ? "" : "s"); "
              + "regenerate with `ballast docs \(self.config.map { "--config \($0)" } ?? "--admin \(AdminClient(admin: admin).base)") --out \(path)` once the change is intended")
        throw ExitCode(1)
    }
}
