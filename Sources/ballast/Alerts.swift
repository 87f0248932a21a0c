import ArgumentParser
import BallastConfig
import BallastControl
import Foundation

struct Alerts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The alert rules of a config.",
        subcommands: [Export.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the alert rules as a Prometheus rule file on stdout (promtool check rules accepts it).",
            discussion: "Without --config, the rules of the embedded default stack (those `ballast up` runs).")

        @Option(help: "The config whose `alerts:` to export.") var config: String?
        @Option(help: "How often Prometheus scrapes Ballast; shorter windows are widened to four of these.")
        var scrapeInterval: String = "15s"

        func run() async throws {
            guard let interval = Duration.parseConfig(scrapeInterval), interval > .zero else {
                printError("error: --scrape-interval '\(scrapeInterval)' is not a duration such as 15s")
                throw ExitCode(2)
            }
            let loaded: ConfigLoader.Loaded
            if let config {
                loaded = try loadConfigOrExit(config)
            } else {
                loaded = try ConfigLoader.load(text: Config.defaultStackYAML, file: "<defaults>").get()
            }
            print(PrometheusRules.export(loaded.config, scrapeInterval: interval), terminator: "")
        }
    }
}
