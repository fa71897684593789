//! What a package installs: shell completions that the shell parses, a man page per
//! subcommand, the `collect` service's systemd unit (verified by `systemd-analyze verify`, with
//! the binary built here in its ExecStart) and the `/etc/holdadvisor.toml` it reads.

mod common;

use common::{bin, ok, skip};

use std::process::Command;

#[test]
fn completions_parse_and_every_subcommand_has_a_man_page() {
    let out = Command::new(bin())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("holdadvisor.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    ok(Command::new("bash").arg("-n").arg(&script));
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["scan", "collect", "--min-confidence", "-allusers"] {
        assert!(text.contains(word), "completions lack {word}");
    }

    let man = dir.path().join("man");
    let out = Command::new(bin()).arg("man").arg(&man).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for sub in [
        "q", "scan", "collect", "feedback", "train", "evaluate", "dag", "simulate",
    ] {
        let page = std::fs::read_to_string(man.join(format!("holdadvisor-{sub}.1"))).unwrap();
        assert!(
            page.starts_with(".ie") || page.starts_with(".TH") || page.contains("\n.TH "),
            "holdadvisor-{sub}.1 is not a man page"
        );
        assert!(
            page.contains(&format!("holdadvisor\\-{sub}")),
            "holdadvisor-{sub}.1"
        );
    }
}

#[test]
fn the_collect_service_unit_verifies_and_its_config_parses() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging");
    let config: holdadvisor::config::ConfigFile =
        toml::from_str(&std::fs::read_to_string(root.join("holdadvisor.toml")).unwrap()).unwrap();
    let unit = std::fs::read_to_string(root.join("holdadvisor-collect.service")).unwrap();
    let cache = config
        .cache
        .expect("the shipped config names the shared cache");
    // The unit writes the cache the config names, and only through collect.
    assert!(
        unit.contains(&format!("--cache {}", cache.display())),
        "{unit}"
    );
    assert!(unit.contains("ExecStart=/usr/bin/holdadvisor collect --from-config --follow"));
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        skip("systemd-analyze is not installed (apt-get install systemd)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("holdadvisor-collect.service");
    std::fs::write(&local, unit.replace("/usr/bin/holdadvisor", bin())).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&local)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
