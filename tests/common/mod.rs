//! What the end-to-end tests of the binary share: the binary, running it, and skipping a test
//! whose real part (the pool, the bindings, a tool) is missing.

// Each test binary uses some of these helpers, none uses all.
#![allow(dead_code)]

use std::process::{Command, Output};

/// The `holdadvisor` binary cargo built for these tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_holdadvisor")
}

/// Runs `cmd` and fails the test, with the command and its stderr, unless it succeeds.
pub fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `holdadvisor ARGS`, which must succeed.
pub fn holdadvisor(args: &[&str]) -> Output {
    ok(Command::new(bin()).args(args))
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A test whose real part is missing passes with one SKIP line, except in CI, where every
/// real part must be present.
pub fn skip(why: &str) {
    assert!(
        std::env::var_os("HOLDADVISOR_CI").is_none(),
        "SKIP in CI, where every real part must be present: {why}"
    );
    eprintln!("SKIP: {why}");
}
