//! The `lambda-sink` binary.
fn main() {}
