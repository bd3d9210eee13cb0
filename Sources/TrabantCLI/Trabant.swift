import ArgumentParser

@main
struct Trabant: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trabant",
        abstract: "Self-hosted backend for mobile and desktop softphones.",
        subcommands: [
            DemoCommand.self, SatelliteCommand.self, PairCommand.self, SatellitesCommand.self, FirewallCommand.self,
            PortsCommand.self, PushCommand.self, PushRelayCommand.self, BenchCommand.self,
        ])
}
