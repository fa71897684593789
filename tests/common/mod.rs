//! What the end-to-end tests of the binary share: the binary, running it, and skipping a test
//! whose real part (the pool, the bindings, a tool) is missing.

// Each test binary uses some of these helpers, none uses all.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
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

/// Runs `cmd` as an unprivileged user (nobody) when the tests run as root, so that file
/// permissions apply: CI runs as root, and root may write any file.
pub fn unprivileged(cmd: &mut Command) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return std::mem::replace(cmd, Command::new("true"));
    }
    let mut wrapped = Command::new("setpriv");
    wrapped.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
    wrapped.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    wrapped
}

/// A copy of the binary and the shipped model that an unprivileged user can reach (the
/// build tree may sit under a directory only root can enter).
pub fn reachable_copies(dir: &Path) -> (PathBuf, PathBuf) {
    let binary = dir.join("holdadvisor");
    std::fs::copy(bin(), &binary).unwrap();
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default");
    for f in std::fs::read_dir(&shipped).unwrap().flatten() {
        if f.path().is_file() {
            std::fs::copy(f.path(), model.join(f.file_name())).unwrap();
        }
    }
    (binary, model)
}
