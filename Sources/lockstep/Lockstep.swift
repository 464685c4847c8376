import ArgumentParser

@main
struct Lockstep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lockstep",
        abstract: "Data-parallel neural-network training over MPI, with every rank verified identical.",
        discussion: """
            Launch with mpirun for several ranks (mpirun -np 2 lockstep train …); without mpirun
            lockstep runs as a world of one rank. See README.md for the guarantees and exit codes.
            """,
        subcommands: [TrainCommand.self, ScheduleCommand.self, CheckpointCommand.self, DiagnoseCommand.self])
}
