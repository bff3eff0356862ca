//! Match latency of the master index (written by the benchmark script's author).
fn main() {}
