//! The shipped model is inside the binary: a copy of the binary run where the source tree is
//! not (HOME elsewhere, no HOLDADVISOR_MODEL, no config) answers with it, written out under
//! the user's cache directory; a copy there that was altered is written again before use;
//! `--version` names it. On a small simulated pool (synthetic data).

use std::path::Path;
use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_holdadvisor")
}

#[test]
fn a_copied_binary_answers_with_the_model_compiled_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("holdadvisor");
    std::fs::copy(bin(), &copy).unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let run = |args: &[&str]| {
        Command::new(&copy)
            .args(args)
            .current_dir(dir.path())
            .env("HOME", &home)
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("HOLDADVISOR_MODEL")
            .env_remove("HOLDADVISOR_CACHE")
            .env_remove("HOLDADVISOR_CONFIG")
            .output()
            .unwrap()
    };
    let out = run(&["simulate", "--jobs", "800", "--seed", "4", "--out", "sim"]);
    assert!(out.status.success());
    let q = |label: &str| {
        let out = run(&[
            "q",
            "-allusers",
            "-hold",
            "-schedd-snapshot",
            "sim/condor_q.json",
            "-log",
            "sim/EventLog",
            "-cache",
            &format!("{label}.sqlite"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = q("a");
    assert!(first.contains("To act on this advice:"), "{first}");
    let models = home.join(".cache/holdadvisor/models");
    let written: Vec<_> = std::fs::read_dir(&models)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("shipped-")
        })
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default");
    for name in ["manifest.json", "model.bpk", "encoder.json"] {
        assert_eq!(
            std::fs::read(written[0].join(name)).unwrap(),
            std::fs::read(shipped.join(name)).unwrap(),
            "{name}"
        );
    }
    // Altered on disk: written again from the binary before it is loaded.
    std::fs::write(written[0].join("model.bpk"), b"not a model").unwrap();
    let again = q("b");
    assert_eq!(
        std::fs::read(written[0].join("model.bpk")).unwrap(),
        std::fs::read(shipped.join("model.bpk")).unwrap()
    );
    // The same model gives the same table (the model line names it).
    let model_line = |s: &str| s.lines().last().unwrap_or("").to_string();
    assert_eq!(model_line(&first), model_line(&again));
    let version = run(&["--version"]);
    let version = String::from_utf8(version.stdout).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shipped.join("manifest.json")).unwrap()).unwrap();
    assert!(
        version.contains(manifest["weights_hash"].as_str().unwrap())
            && version.contains("SIMULATED"),
        "{version}"
    );
}
