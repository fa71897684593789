//! `holdadvisor dag` writes files HTCondor accepts: every submit description parses in
//! HTCondor's own bindings (`htcondor2.Submit`) with the attributes we rely on as intended, and
//! the DAG file uses every DAGMan command it uses as the DAGMan manual defines it.

mod common;

use common::skip;

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_holdadvisor");

fn holdadvisor(args: &[&str], cwd: &Path) -> String {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "holdadvisor {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A workflow over a small simulated pool; extra generation flags appended.
fn workflow(tmp: &Path, name: &str, extra: &[&str]) -> std::path::PathBuf {
    if !tmp.join("sim").exists() {
        holdadvisor(&["simulate", "--jobs", "300", "--out", "sim"], tmp);
    }
    let mut args = vec!["dag", "--data", "sim", "--sweep", "3", "--out", name];
    args.extend_from_slice(extra);
    holdadvisor(&args, tmp);
    tmp.join(name)
}

fn bindings() -> bool {
    Command::new("python3")
        .args(["-c", "import htcondor2"])
        .env("CONDOR_CONFIG", "ONLY_ENV")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The submit description as htcondor2.Submit reads it: {key: value} of the keys asked for.
fn parsed(sub: &Path, keys: &[&str]) -> serde_json::Value {
    let script = r#"
import htcondor2, json, sys
s = htcondor2.Submit(open(sys.argv[1]).read())
print(json.dumps({k: s.get(k) for k in sys.argv[2:]}))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(sub)
        .args(keys)
        .env("CONDOR_CONFIG", "ONLY_ENV")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "htcondor2.Submit rejected {}: {}",
        sub.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn submit_descriptions_parse_in_htcondor_bindings_as_intended() {
    if !bindings() {
        skip("python3 module htcondor2 not importable (pip install htcondor)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let plain = workflow(tmp.path(), "wf", &[]);
    let gpu = workflow(
        tmp.path(),
        "wf-gpu",
        &[
            "--gpu",
            "--container",
            "docker://example.org/holdadvisor:tch",
        ],
    );
    let keys = [
        "universe",
        "executable",
        "transfer_executable",
        "arguments",
        "should_transfer_files",
        "when_to_transfer_output",
        "transfer_input_files",
        "transfer_output_files",
        "output",
        "error",
        "request_gpus",
        "container_image",
        "request_memory",
        "request_disk",
    ];
    for (dir, is_gpu) in [(&plain, false), (&gpu, true)] {
        for sub in ["prepare.sub", "train.sub", "select.sub"] {
            let v = parsed(&dir.join(sub), &keys);
            let get = |k: &str| v[k].as_str().map(str::to_string);
            assert_eq!(get("executable").as_deref(), Some("holdadvisor"), "{sub}");
            assert!(
                dir.join("holdadvisor").is_file(),
                "the binary ships with the workflow"
            );
            assert_eq!(get("transfer_executable").as_deref(), Some("true"));
            assert_eq!(get("should_transfer_files").as_deref(), Some("YES"));
            assert_eq!(get("when_to_transfer_output").as_deref(), Some("ON_EXIT"));
            assert!(get("output").unwrap().starts_with("logs/$(JOB)."));
            // New-style arguments: the whole value in double quotes.
            let quoted = get("arguments").unwrap();
            assert!(
                quoted.starts_with('"') && quoted.ends_with('"'),
                "{sub}: {quoted}"
            );
            let args = quoted.trim_matches('"').to_string();
            assert!(args.starts_with("dag node "), "{sub}: {args}");
            if is_gpu {
                assert_eq!(get("universe").as_deref(), Some("container"));
                assert_eq!(
                    get("container_image").as_deref(),
                    Some("docker://example.org/holdadvisor:tch")
                );
            } else {
                assert_eq!(get("universe").as_deref(), Some("vanilla"));
                assert_eq!(get("container_image"), None);
            }
            let disk = get("request_disk").unwrap();
            assert!(disk.parse::<u64>().is_ok_and(|kb| kb > 0), "{sub}: {disk}");
            let inputs = get("transfer_input_files").unwrap();
            let outputs = get("transfer_output_files").unwrap();
            match sub {
                "prepare.sub" => {
                    assert_eq!(inputs, "input,sweep.json");
                    assert_eq!(outputs, "dataset");
                }
                "train.sub" => {
                    // The run directory travels both ways: checkpoints come back for RETRY.
                    assert_eq!(inputs, "dataset,run_$(k)");
                    assert_eq!(outputs, "run_$(k)");
                    assert!(args.contains("--run run_$(k)"));
                    assert_eq!(args.contains("--device cuda"), is_gpu);
                    assert_eq!(get("request_gpus").as_deref(), is_gpu.then_some("1"));
                }
                _ => {
                    assert_eq!(inputs, "dataset,sweep.json,run_1,run_2,run_3");
                    assert_eq!(outputs, "selected");
                    assert!(args.ends_with("run_1 run_2 run_3"));
                }
            }
        }
    }
}

/// The `request_disk = N` (KiB) lines of a workflow's three submit descriptions.
fn disk_requests(dir: &Path) -> Vec<u64> {
    ["prepare.sub", "train.sub", "select.sub"]
        .iter()
        .map(|sub| {
            let text = std::fs::read_to_string(dir.join(sub)).unwrap();
            let value = text
                .lines()
                .find_map(|l| l.strip_prefix("request_disk = "))
                .unwrap_or_else(|| panic!("{sub} has no request_disk line:\n{text}"));
            value.parse().unwrap()
        })
        .collect()
}

#[test]
fn disk_requests_are_sized_from_the_workflow_unless_the_sweep_sets_them() {
    let tmp = tempfile::tempdir().unwrap();
    let sized = workflow(tmp.path(), "wf", &[]);
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    let input: u64 = std::fs::read_dir(sized.join("input"))
        .unwrap()
        .map(|e| size(&e.unwrap().path()))
        .sum();
    let binary = size(&sized.join("holdadvisor"));
    let expected = holdadvisor_dag::generate::disk_request_kb(input, binary);
    assert_eq!(disk_requests(&sized), vec![expected; 3]);
    // The binary, twice the logs and 256 MiB of room, in 64 MiB steps.
    let need_kb = (binary + 2 * input) / 1024 + 256 * 1024;
    assert!(
        expected >= need_kb && expected < need_kb + 64 * 1024,
        "{expected} KiB for {need_kb} KiB"
    );
    assert_eq!(expected % (64 * 1024), 0);
    let readme = std::fs::read_to_string(sized.join("README.md")).unwrap();
    assert!(
        readme.contains(&format!(
            "{} MB of disk, sized from this workflow",
            expected / 1024
        )),
        "{readme}"
    );

    std::fs::write(
        tmp.path().join("sweep.json"),
        r#"{"request_disk_mb": 3000}"#,
    )
    .unwrap();
    let fixed = workflow(tmp.path(), "wf-fixed", &["--sweep-config", "sweep.json"]);
    assert_eq!(disk_requests(&fixed), vec![3000 * 1024; 3]);
    let readme = std::fs::read_to_string(fixed.join("README.md")).unwrap();
    assert!(
        readme.contains("3000 MB of disk (`request_disk_mb`"),
        "{readme}"
    );
}

/// A checker of the DAG input file language, for the commands we emit, written from the
/// DAGMan manual's quick reference (HTCondor 23.x):
///   JOB NodeName SubmitDescription [DIR directory] [NOOP] [DONE]
///   PARENT ParentNodeName [ParentNodeName2 ...] CHILD ChildNodeName [ChildNodeName2 ...]
///   RETRY <NodeName | ALL_NODES> NumberOfRetries [UNLESS-EXIT value]
///   SCRIPT [DEFER status time] [DEBUG filename type] PRE|POST|HOLD <NodeName | ALL_NODES> ExecutableName [arguments]
///   VARS <NodeName | ALL_NODES> [PREPEND | APPEND] macroname="string" [macroname2="string2" ...]
///   CATEGORY <NodeName | ALL_NODES> CategoryName
///   MAXJOBS CategoryName MaxJobsValue
///   CONFIG filename
///   JOBSTATE_LOG filename
///   NODE_STATUS_FILE filename [minimumUpdateTime] [ALWAYS-UPDATE]
/// Script arguments may use the macros $JOB $RETRY $MAX_RETRIES $FAILED_COUNT $DAG_STATUS and,
/// for POST scripts, $JOBID $RETURN $PRE_SCRIPT_RETURN, each as a word of its own.
/// Returns the commands seen, or the first violation.
fn check_dag(dir: &Path, text: &str) -> Result<Vec<String>, String> {
    let mut nodes: Vec<String> = Vec::new();
    let mut categories_used: Vec<String> = Vec::new();
    let mut commands = Vec::new();
    let is_name = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && !w.eq_ignore_ascii_case("PARENT")
            && !w.eq_ignore_ascii_case("CHILD")
    };
    let is_int = |w: &str| w.parse::<i64>().is_ok();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let cmd = w[0].to_ascii_uppercase();
        let known = |name: &str| nodes.iter().any(|x| x == name) || name == "ALL_NODES";
        match cmd.as_str() {
            "JOB" => {
                if w.len() < 3 || !is_name(w[1]) {
                    return Err(format!("line {n}: JOB NodeName SubmitDescription"));
                }
                if !dir.join(w[2]).is_file() {
                    return Err(format!("line {n}: no submit description {}", w[2]));
                }
                let mut rest = &w[3..];
                while let Some(kw) = rest.first() {
                    match kw.to_ascii_uppercase().as_str() {
                        "DIR" if rest.len() >= 2 => rest = &rest[2..],
                        "NOOP" | "DONE" => rest = &rest[1..],
                        _ => return Err(format!("line {n}: unexpected {kw} in JOB")),
                    }
                }
                if nodes.iter().any(|x| x == w[1]) {
                    return Err(format!("line {n}: node {} defined twice", w[1]));
                }
                nodes.push(w[1].to_string());
            }
            "PARENT" => {
                let c = w
                    .iter()
                    .position(|x| x.eq_ignore_ascii_case("CHILD"))
                    .ok_or(format!("line {n}: PARENT without CHILD"))?;
                if c < 2 || c + 1 >= w.len() {
                    return Err(format!("line {n}: PARENT p... CHILD c..."));
                }
                for x in w[1..c].iter().chain(&w[c + 1..]) {
                    if !known(x) {
                        return Err(format!("line {n}: unknown node {x}"));
                    }
                }
            }
            "RETRY" => {
                let ok = match w.len() {
                    3 => true,
                    5 => w[3].eq_ignore_ascii_case("UNLESS-EXIT") && is_int(w[4]),
                    _ => false,
                };
                if !ok || !known(w[1]) || w[2].parse::<u32>().is_err() {
                    return Err(format!(
                        "line {n}: RETRY NodeName NumberOfRetries [UNLESS-EXIT value]"
                    ));
                }
            }
            "SCRIPT" => {
                let mut k = 1;
                if w.get(k).is_some_and(|x| x.eq_ignore_ascii_case("DEFER")) {
                    k += 3;
                }
                if w.get(k).is_some_and(|x| x.eq_ignore_ascii_case("DEBUG")) {
                    k += 3;
                }
                let kind = w.get(k).map(|x| x.to_ascii_uppercase()).unwrap_or_default();
                if !["PRE", "POST", "HOLD"].contains(&kind.as_str()) || w.len() < k + 3 {
                    return Err(format!(
                        "line {n}: SCRIPT [DEFER s t] [DEBUG f t] PRE|POST|HOLD NodeName Executable [args]"
                    ));
                }
                if !known(w[k + 1]) {
                    return Err(format!("line {n}: unknown node {}", w[k + 1]));
                }
                let exe = w[k + 2];
                if !dir.join(exe).is_file() {
                    return Err(format!(
                        "line {n}: script executable {exe} not in the DAG directory"
                    ));
                }
                let mut macros = vec![
                    "$JOB",
                    "$RETRY",
                    "$MAX_RETRIES",
                    "$FAILED_COUNT",
                    "$DAG_STATUS",
                ];
                if kind == "POST" {
                    macros.extend(["$JOBID", "$RETURN", "$PRE_SCRIPT_RETURN"]);
                }
                for a in &w[k + 3..] {
                    if a.contains('$') && !macros.contains(a) {
                        return Err(format!("line {n}: {a} is not a {kind} script macro"));
                    }
                }
            }
            "VARS" => {
                if w.len() < 3 || !known(w[1]) {
                    return Err(format!("line {n}: VARS NodeName name=\"value\"..."));
                }
                let mut rest = line.splitn(3, char::is_whitespace).nth(2).unwrap().trim();
                if let Some(r) = rest.strip_prefix("PREPEND").or(rest.strip_prefix("APPEND")) {
                    rest = r.trim();
                }
                while !rest.is_empty() {
                    let (name, after) = rest
                        .split_once("=\"")
                        .ok_or(format!("line {n}: VARS values are name=\"string\""))?;
                    if !is_name(name) || name.to_ascii_lowercase().starts_with("queue") {
                        return Err(format!("line {n}: bad VARS macro name {name}"));
                    }
                    let end = after
                        .find('"')
                        .ok_or(format!("line {n}: unterminated VARS value"))?;
                    rest = after[end + 1..].trim();
                }
            }
            "CATEGORY" => {
                if w.len() != 3 || !known(w[1]) || !is_name(w[2]) {
                    return Err(format!("line {n}: CATEGORY NodeName CategoryName"));
                }
                categories_used.push(w[2].to_string());
            }
            "MAXJOBS" => {
                if w.len() != 3 || w[2].parse::<u32>().is_err() {
                    return Err(format!("line {n}: MAXJOBS CategoryName MaxJobsValue"));
                }
                if !categories_used.iter().any(|c| c == w[1]) {
                    return Err(format!("line {n}: MAXJOBS for unused category {}", w[1]));
                }
            }
            "CONFIG" => {
                if w.len() != 2 || !dir.join(w[1]).is_file() {
                    return Err(format!("line {n}: CONFIG filename (existing)"));
                }
                let cfg = std::fs::read_to_string(dir.join(w[1])).unwrap();
                for l in cfg
                    .lines()
                    .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                {
                    let (k, v) = l.split_once('=').ok_or(format!("config line {l}"))?;
                    if !k.trim().starts_with("DAGMAN_") || v.trim().is_empty() {
                        return Err(format!("CONFIG file: {l} is not a DAGMAN_ setting"));
                    }
                }
            }
            "JOBSTATE_LOG" => {
                if w.len() != 2 {
                    return Err(format!("line {n}: JOBSTATE_LOG filename"));
                }
            }
            "NODE_STATUS_FILE" => {
                let ok = (2..=4).contains(&w.len())
                    && w.get(2).is_none_or(|x| is_int(x))
                    && w.get(3)
                        .is_none_or(|x| x.eq_ignore_ascii_case("ALWAYS-UPDATE"));
                if !ok {
                    return Err(format!(
                        "line {n}: NODE_STATUS_FILE filename [minimumUpdateTime] [ALWAYS-UPDATE]"
                    ));
                }
            }
            other => {
                return Err(format!(
                    "line {n}: {other} is not a command this checker knows"
                ));
            }
        }
        if !commands.contains(&cmd) {
            commands.push(cmd);
        }
    }
    Ok(commands)
}

#[test]
fn dag_file_follows_the_dagman_language() {
    let tmp = tempfile::tempdir().unwrap();
    let wf = workflow(tmp.path(), "wf", &[]);
    let text = std::fs::read_to_string(wf.join("train.dag")).unwrap();
    let mut used = check_dag(&wf, &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    used.sort();
    assert_eq!(
        used,
        [
            "CATEGORY",
            "CONFIG",
            "JOB",
            "JOBSTATE_LOG",
            "MAXJOBS",
            "NODE_STATUS_FILE",
            "PARENT",
            "RETRY",
            "SCRIPT",
            "VARS"
        ]
    );
    // The structure: prepare -> train_1..3 -> select, POST on each, retries stop at 42.
    for k in 1..=3 {
        assert!(text.contains(&format!(
            "JOB train_{k} train.sub\nVARS train_{k} k=\"{k}\""
        )));
        assert!(text.contains(&format!("RETRY train_{k} 3 UNLESS-EXIT 42")));
        assert!(text.contains(&format!(
            "SCRIPT POST train_{k} holdadvisor dag node post $JOB $RETURN"
        )));
    }
    assert!(text.contains("PARENT prepare CHILD train_1 train_2 train_3"));
    assert!(text.contains("PARENT train_1 train_2 train_3 CHILD select"));
    // The checker does reject what DAGMan would.
    for bad in [
        "JOB a\n",
        "JOB a prepare.sub\nRETRY a two\n",
        "JOB a prepare.sub\nRETRY a 2 UNLESS 42\n",
        "JOB a prepare.sub\nSCRIPT POST a holdadvisor x $RETURNS\n",
        "JOB a prepare.sub\nSCRIPT PRE a holdadvisor $RETURN\n",
        "JOB a prepare.sub\nVARS a k=1\n",
        "JOB a prepare.sub\nPARENT a CHILD b\n",
        "MAXJOBS training 2\n",
        "JOB a prepare.sub\nSPLICE s x.dag\n",
    ] {
        assert!(check_dag(&wf, bad).is_err(), "accepted: {bad}");
    }
    // The README gives the two commands of an access point.
    let readme = std::fs::read_to_string(wf.join("README.md")).unwrap();
    assert!(readme.contains("condor_submit_dag train.dag"));
    assert!(readme.contains("holdadvisor q --model"));
}

#[test]
fn sweep_points_follow_the_sweep_config() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("sweep.json"),
        r#"{"method": "grid", "max_epochs": 7, "space": {"num_layers": [1, 2], "hidden_size": [8],
            "learning_rate": [0.001], "batch_size": [32], "dropout": [0.0, 0.2],
            "window_seconds": [900], "seq_len": [4]}}"#,
    )
    .unwrap();
    let wf = workflow(tmp.path(), "wf", &["--sweep-config", "sweep.json"]);
    let mut seen = Vec::new();
    for k in 1..=3 {
        let cfg: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(wf.join(format!("run_{k}/point.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(cfg["max_epochs"], 7);
        assert_eq!(cfg["model"]["hidden_size"], 8);
        assert_eq!(cfg["encoder"]["window_seconds"], 900);
        assert_eq!(cfg["encoder"]["seq_len"], 4);
        let p = (
            cfg["model"]["num_layers"].clone(),
            cfg["model"]["dropout"].clone(),
        );
        assert!(!seen.contains(&p), "grid points repeat");
        seen.push(p);
    }
    // A grid smaller than --sweep is refused; so is selecting by a metric we do not have.
    let out = Command::new(BIN)
        .args([
            "dag",
            "--data",
            "sim",
            "--sweep",
            "5",
            "--sweep-config",
            "sweep.json",
            "--out",
            "x",
        ])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    std::fs::write(tmp.path().join("f1.json"), r#"{"metric": "f1"}"#).unwrap();
    let out = Command::new(BIN)
        .args([
            "dag",
            "--data",
            "sim",
            "--sweep",
            "2",
            "--sweep-config",
            "f1.json",
            "--out",
            "y",
        ])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown metric"));
}
