//! The `rmbench` command-line tool (a thin layer over the harness library).
fn main() {}
