"""The event log: the embedded log on disk, Kafka topics and publishing, and the record sources and
dead-letter sinks the consumer reads and writes, and writing and following the alerts topic."""
