//! Test function.
fn main() {}
