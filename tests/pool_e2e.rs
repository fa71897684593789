//! End-to-end on the real HTCondor pool (tests/pool/e2e.sh), when `.ci/run` has started it
//! and named it in HOLDADVISOR_POOL_SH. The model is trained here on simulated data.

mod common;

use common::skip;

use std::process::Command;

#[test]
fn holdadvisor_on_the_real_pool() {
    let Some(pool) = std::env::var_os("HOLDADVISOR_POOL_SH") else {
        skip("HOLDADVISOR_POOL_SH is not set (no real HTCondor pool here; .ci/run sets it)");
        return;
    };
    let bin = env!("CARGO_BIN_EXE_holdadvisor");
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let model = dir.path().join("model");
    assert!(
        Command::new(bin)
            .args(["simulate", "--jobs", "3000", "--seed", "2", "--out"])
            .arg(&sim)
            .status()
            .unwrap()
            .success()
    );
    assert!(
        Command::new(bin)
            .args([
                "train",
                "--epochs",
                "4",
                "--no-reference",
                "--quiet",
                "--data"
            ])
            .arg(&sim)
            .arg("--out")
            .arg(&model)
            .status()
            .unwrap()
            .success()
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pool/e2e.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(&pool)
        .arg(bin)
        .arg(&model)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(" passed, 0 failed"), "{text}");
}
