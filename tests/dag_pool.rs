//! The sweep workflow on a real HTCondor pool (`../shared/htcondor/pool.sh`, real DAGMan):
//! a 2-point sweep finishes with status 0 and its selected model loads in `q`; a training node
//! that fails once is retried by DAGMan and resumes from the checkpoint its failed job
//! transferred back. Runs when HOLDADVISOR_POOL_SH points at pool.sh (CI sets it when the pool
//! is up); skips with one line otherwise.

mod common;

use common::skip;

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_holdadvisor");

struct Pool {
    script: PathBuf,
    home: PathBuf,
}

fn pool() -> Option<Pool> {
    let Some(script) = std::env::var_os("HOLDADVISOR_POOL_SH") else {
        skip("HOLDADVISOR_POOL_SH is not set (the real HTCondor pool is not up)");
        return None;
    };
    let chroot = std::env::var("CONDOR_CHROOT").unwrap_or_else(|_| "/tmp/condor-chroot".into());
    let user = std::env::var("CONDOR_USER").unwrap_or_else(|_| "tester".into());
    let p = Pool {
        script: PathBuf::from(script),
        home: Path::new(&chroot).join("home").join(user),
    };
    // Once per test binary: the tests run in parallel, and two `pool.sh up` at once on a
    // stopped pool race to start it (one of them fails).
    static UP: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let up = UP.get_or_init(|| {
        let up = Command::new("bash")
            .arg(&p.script)
            .arg("up")
            .output()
            .unwrap();
        if up.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&up.stderr).into_owned())
        }
    });
    if let Err(stderr) = up {
        panic!("pool.sh up failed: {stderr}");
    }
    Some(p)
}

impl Pool {
    /// A fresh directory in the pool user's home with the holdadvisor binary in it (debug
    /// info stripped: every job transfers it). Returns (host path, path relative to ~).
    fn workdir(&self, name: &str) -> (PathBuf, String) {
        let rel = format!("ha-dag-{name}-{}", std::process::id());
        let dir = self.home.join(&rel);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("holdadvisor");
        let stripped = Command::new("objcopy")
            .args(["--strip-debug", BIN])
            .arg(&exe)
            .status()
            .is_ok_and(|s| s.success());
        if !stripped {
            std::fs::copy(BIN, &exe).unwrap();
        }
        let chown = Command::new("chown")
            .arg("-R")
            .arg(format!("--reference={}", self.home.display()))
            .arg(&dir)
            .status()
            .unwrap();
        assert!(chown.success());
        (dir, rel)
    }

    /// Runs a shell script as the pool user (login shell, in ~).
    fn as_user(&self, script: &str) -> (bool, String) {
        let out = Command::new("timeout")
            .arg("600")
            .arg("bash")
            .arg(&self.script)
            .arg("as-user")
            .arg(script)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

/// Submits wf/train.dag and waits (bounded) for DAGMan to exit; returns dagman.out.
fn submit_and_wait(pool: &Pool, rel: &str, wf: &Path) -> String {
    let t = std::time::Instant::now();
    let (ok, out) = pool.as_user(&format!(
        "cd ~/{rel}/wf && condor_submit_dag train.dag && condor_wait -wait 480 train.dag.dagman.log"
    ));
    eprintln!("DAG on the real pool: {:.1} s", t.elapsed().as_secs_f64());
    let dagman_out = std::fs::read_to_string(wf.join("train.dag.dagman.out")).unwrap_or_default();
    if !ok {
        // Why a node never ran (a CI run once waited 480 s on an idle node): what the slot
        // offers against what the idle jobs ask for.
        let (_, why) = pool.as_user(
            "condor_status -af Name Cpus Memory Disk State; \
             condor_q -allusers -af ClusterId ProcId JobStatus RequestCpus RequestMemory RequestDisk; \
             condor_q -allusers -better-analyze -constraint 'JobStatus == 1' | head -60; df -k /",
        );
        panic!("submit/wait failed: {out}\n{dagman_out}\n--- the pool ---\n{why}");
    }
    dagman_out
}

#[test]
fn pool_two_point_sweep_finishes_and_the_selected_model_loads_in_q() {
    let Some(pool) = pool() else { return };
    let (dir, rel) = pool.workdir("sweep");
    // The sweep's defaults, request_disk sized from the workflow (a fixed 2 GB per job once
    // matched nothing on a CI host with little disk free); the selected model is promoted
    // whatever its verdict on so small a pool, since this test loads it in q.
    let (ok, out) = pool.as_user(&format!(
        "cd ~/{rel} && echo '{{\"promote_losing_model\": true}}' > sweep.json && \
         ./holdadvisor simulate --jobs 2000 --out sim >/dev/null && \
         ./holdadvisor dag --logs sim/EventLog --sweep 2 --sweep-config sweep.json --out wf"
    ));
    assert!(ok, "{out}");
    let wf = dir.join("wf");
    let dagman_out = submit_and_wait(&pool, &rel, &wf);
    assert!(
        dagman_out.contains("EXITING WITH STATUS 0"),
        "DAGMan did not finish with status 0:\n{dagman_out}"
    );
    let choice: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(wf.join("selected/choice.json")).unwrap())
            .unwrap();
    let aucs: Vec<f64> = (1..=2)
        .map(|k| {
            let m: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(wf.join(format!("run_{k}/metrics.json"))).unwrap(),
            )
            .unwrap();
            m["validation"]["roc_auc"].as_f64().unwrap()
        })
        .collect();
    let best = if aucs[1] > aucs[0] { 2 } else { 1 };
    assert_eq!(choice["node"], format!("train_{best}"), "{aucs:?}");
    assert!(wf.join("selected/report.md").is_file());
    // The selected model loads in q, on the pool's access point, against its real schedd.
    let model = wf.join("selected/model");
    let id = holdadvisor::commands::q::current_model_id(Some(&model)).unwrap();
    let (ok, out) = pool.as_user(&format!(
        "cd ~/{rel} && ./holdadvisor q --model wf/selected/model --cache ./q.sqlite"
    ));
    assert!(ok, "q failed: {out}");
    let shown = out
        .lines()
        .find_map(|l| l.strip_prefix("model "))
        .unwrap_or_else(|| panic!("q printed no model line: {out}"));
    let prefix = shown.trim_end_matches('…');
    assert!(
        !prefix.is_empty() && id.starts_with(prefix),
        "q used {shown}, selected {id}"
    );
    // dag status reads what DAGMan wrote.
    let st = Command::new(BIN)
        .args(["dag", "status"])
        .arg(&wf)
        .output()
        .unwrap();
    let st = String::from_utf8_lossy(&st.stdout);
    assert!(st.contains("4 node(s): 4 done"), "{st}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pool_retry_resumes_a_failed_training_node_from_its_checkpoint() {
    let Some(pool) = pool() else { return };
    let (dir, rel) = pool.workdir("retry");
    let sweep = r#"{"max_epochs": 6, "patience": 6, "max_drop": 1.0, "request_memory_mb": 512,
        "space": {"num_layers": [1], "hidden_size": [16, 24], "learning_rate": [0.002],
        "batch_size": [32], "dropout": [0.0], "window_seconds": [3600], "seq_len": [8]}}"#;
    let (ok, out) = pool.as_user(&format!(
        "cd ~/{rel} && echo '{sweep}' > sweep.json && \
         ./holdadvisor simulate --jobs 2000 --out sim >/dev/null && \
         ./holdadvisor dag --logs sim/EventLog --sweep 2 --sweep-config sweep.json --out wf && \
         echo 2 > wf/run_1/FAIL_ONCE_AFTER_EPOCH"
    ));
    assert!(ok, "{out}");
    let wf = dir.join("wf");
    let dagman_out = submit_and_wait(&pool, &rel, &wf);
    assert!(dagman_out.contains("EXITING WITH STATUS 0"), "{dagman_out}");
    // DAGMan ran train_1 twice: the POST script rejected the first attempt, RETRY resubmitted.
    let js = std::fs::read_to_string(wf.join("train.dag.jobstate.log")).unwrap();
    assert_eq!(js.matches("train_1 SUBMIT").count(), 2, "{js}");
    assert_eq!(js.matches("train_1 POST_SCRIPT_FAILURE").count(), 1, "{js}");
    assert_eq!(js.matches("train_2 SUBMIT").count(), 1, "{js}");
    // The second attempt resumed from the checkpoint the failed job transferred back.
    let attempts: Vec<serde_json::Value> = std::fs::read_to_string(wf.join("run_1/attempts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(attempts[0]["outcome"].as_str().unwrap().contains("killed"));
    assert!(
        attempts[1]["resumed_from_epoch"].as_u64().unwrap() >= 2,
        "{attempts:?}"
    );
    assert_eq!(attempts[1]["outcome"], "trained");
    let epochs: Vec<u64> = std::fs::read_to_string(wf.join("run_1/model/metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        epochs,
        (1..=6).collect::<Vec<u64>>(),
        "epochs trained twice or skipped"
    );
    let status = std::fs::read_to_string(wf.join("train.dag.status")).unwrap();
    assert!(status.contains("Node = \"train_1\""));
    let _ = std::fs::remove_dir_all(&dir);
}
