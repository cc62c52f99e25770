"""Work queues and event sinks: the embedded, in-process ones (a distributed queue and
pub/sub implement the same contracts later)."""
