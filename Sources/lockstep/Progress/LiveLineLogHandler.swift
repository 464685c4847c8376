import Logging

/// A log handler (a `RankLogHandler`) that erases the live progress line before each message and redraws it
/// after, so messages never land in the middle of it.
struct LiveLineLogHandler: LogHandler {
    private var inner: any LogHandler
    private let liveLine: LiveLine?

    init(_ inner: any LogHandler, liveLine: LiveLine?) {
        self.inner = inner
        self.liveLine = liveLine
    }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        guard let liveLine else { return inner.log(event: event) }
        liveLine.suspend { inner.log(event: event) }
    }
}
