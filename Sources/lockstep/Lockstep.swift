import ArgumentParser

@main
struct Lockstep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lockstep",
        abstract: "Data-parallel neural-network training over MPI.",
        subcommands: [CheckpointCommand.self])
}
