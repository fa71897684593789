//! Progress bars: `collect` draws one over the log it reads when stderr is a terminal (run
//! here under `script`, which gives it one), and none when stderr is a file or a pipe. On a
//! small simulated pool (synthetic data).

mod common;

use common::{bin, ok, skip};

use std::process::Command;

#[test]
fn collect_draws_a_bar_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let out = Command::new(bin())
        .args(["simulate", "--jobs", "1500", "--seed", "3", "--out"])
        .arg(&sim)
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = sim.join("EventLog");
    let piped = Command::new(bin())
        .args(["collect", "--log"])
        .arg(&log)
        .arg("--cache")
        .arg(dir.path().join("a.sqlite"))
        .output()
        .unwrap();
    assert!(piped.status.success());
    let err = String::from_utf8_lossy(&piped.stderr);
    assert!(!err.contains("reading") && !err.contains("[="), "{err}");
    if Command::new("script").arg("--version").output().is_err() {
        skip("the script command (util-linux) is not installed");
        return;
    }
    let typescript = dir.path().join("typescript");
    let command = format!(
        "'{}' collect --log '{}' --cache '{}'",
        bin(),
        log.display(),
        dir.path().join("b.sqlite").display()
    );
    ok(Command::new("script")
        .args(["-qec", &command])
        .arg(&typescript));
    let seen = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    assert!(
        seen.contains(&format!("reading {}", log.display())) && seen.contains("[="),
        "{seen}"
    );
    assert!(seen.contains("collected "), "{seen}");
}
