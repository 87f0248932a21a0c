import ArgumentParser

@main
struct Ballast: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ballast",
        abstract: "A load balancer that cannot be quietly misconfigured into an outage.",
        discussion: "Exit codes: 0 success, 1 the command ran and found a problem, 2 bad usage or input.",
        subcommands: [Check.self, LB.self]
    )
}
