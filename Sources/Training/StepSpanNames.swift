import Tracing

/// The timeline names of a training step's own spans (`TrainingStep.timeline`); the layers'
/// are `LayerSpanNames`, the buckets' the reduction's own.
struct StepSpanNames {
    let step: Timeline.Name
    let data: Timeline.Name
    let wait: Timeline.Name
    let optimizer: Timeline.Name
    /// `--reduction sharded`: the allgather of the parameters after the update of this rank's slice
    /// (with shared parameters, the node barrier that publishes the slices).
    let allgather: Timeline.Name

    init(_ timeline: Timeline) {
        step = timeline.name("step")
        data = timeline.name("data")
        wait = timeline.name("wait for reduction")
        optimizer = timeline.name("optimizer")
        allgather = timeline.name("allgather parameters")
    }
}
