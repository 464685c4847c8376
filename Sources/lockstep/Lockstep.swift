import ArgumentParser
import Collectives
import Training

@main
struct Lockstep: ParsableCommand {
    func run() throws {
        let c = try MPICommunicator()
        print(c.rank, c.worldSize)
        var x: [Float] = [Float(c.rank + 1), 2]
        try x.withUnsafeMutableBufferPointer { try c.allreduce($0, operation: .sum) }
        print(x)
        try c.finalize()
    }
}
