extension TrainingConfiguration {
    /// The default `--bucket-mb`: measured with `lockstep bench step` at 2 ranks on 784-512-256-10
    /// (see README "Benchmarks"): smaller buckets start earlier but cost more calls; with the
    /// model's 512 KB weight-gradient blocks, 1 MiB buckets (3 buckets for the 2.14 MB gradient)
    /// gave the shortest steps.
    public static let defaultBucketMegabytes = 1.0
}
