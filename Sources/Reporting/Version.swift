/// The version of lockstep, compared between ranks at start-up and stored in checkpoints.
public enum LockstepVersion {
    public static let current = "0.1.0"
}
