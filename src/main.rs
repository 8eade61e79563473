//! The `tonearm` binary (SKELETON: the CLI is wired once the session and simulator land).
fn main() {}
