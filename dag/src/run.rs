//! The local runner (`holdadvisor dag run DIR`): runs a DAG's node jobs on this machine in
//! dependency order, K at a time, each in a scratch sandbox that mimics HTCondor's file
//! transfer (inputs linked in by base name, outputs moved back), with `RETRY`/`UNLESS-EXIT`,
//! POST scripts' verdicts, `MAXJOBS` per category, and the jobstate log and node status file
//! in DAGMan's formats. Rescue semantics: a node whose success is recorded in the jobstate log
//! (or a DAGMan rescue file) is not run again, unless its POST script no longer accepts its
//! outputs (they were deleted). It is a test and single-machine tool, not DAGMan.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use anyhow::{Context, bail};

use crate::dagfile::{Dag, Node, read_submit};
use crate::state::{
    JobstateLine, NodeState, NodeStatus, StatusFile, jobstate_internal_line, jobstate_node_line,
    node_histories, parse_jobstate,
};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Node jobs at once (default: the CONFIG file's `DAGMAN_MAX_JOBS_SUBMITTED`, at most the
    /// machine's cores).
    pub jobs: Option<usize>,
    /// Progress lines on standard error.
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Nodes that ran (at least one attempt) in this run.
    pub ran: Vec<String>,
    /// Nodes already done before this run.
    pub already_done: Vec<String>,
    pub failed: Vec<String>,
    /// DAGMan's exit code: 0 when every node succeeded.
    pub exit_code: i32,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The state files' paths of a DAG (its own commands, else DAGMan-like defaults).
pub fn state_paths(dir: &Path, dag_file: &str, dag: &Dag) -> (PathBuf, PathBuf) {
    let js = dag
        .jobstate_log
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{dag_file}.jobstate.log")));
    let st = dag
        .node_status_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{dag_file}.status")));
    (dir.join(js), dir.join(st))
}

/// `DONE node` lines of the newest DAGMan rescue file (`<dag>.rescueNNN`).
pub fn rescue_done(dir: &Path, dag_file: &str) -> BTreeSet<String> {
    let mut newest: Option<(u32, PathBuf)> = None;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(num) = name
                .strip_prefix(&format!("{dag_file}.rescue"))
                .and_then(|n| n.parse::<u32>().ok())
                && newest.as_ref().is_none_or(|(m, _)| num > *m)
            {
                newest = Some((num, e.path()));
            }
        }
    }
    let mut out = BTreeSet::new();
    if let Some((_, p)) = newest
        && let Ok(text) = std::fs::read_to_string(p)
    {
        for l in text.lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() == 2 && w[0].eq_ignore_ascii_case("DONE") {
                out.insert(w[1].to_string());
            }
        }
    }
    out
}

/// `KEY = value` of a DAGMan config file.
fn config_value(path: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().to_string())
    })
}

enum Msg {
    Line(String),
    State(String, NodeState, String, u32),
    Finished(String, bool),
}

/// Runs `dir/dag_file`.
pub fn run_dag(dir: &Path, dag_file: &str, opts: &RunOptions) -> anyhow::Result<RunSummary> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("{}", dir.display()))?;
    let dag = Dag::load(&dir.join(dag_file))?;
    let config_jobs = dag
        .config
        .as_ref()
        .and_then(|c| config_value(&dir.join(c), "DAGMAN_MAX_JOBS_SUBMITTED"))
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = opts
        .jobs
        .unwrap_or_else(|| config_jobs.unwrap_or(cores).min(cores))
        .max(1);
    let (jobstate_path, status_path) = state_paths(&dir, dag_file, &dag);
    let history = std::fs::read_to_string(&jobstate_path).unwrap_or_default();
    let lines = parse_jobstate(&history);
    let has_post = |n: &str| dag.node(n).is_some_and(|x| x.post.is_some());
    let hist = node_histories(&lines, &has_post);
    let mut sequence = 0u64;
    let mut cluster = 0u64;
    for l in &lines {
        if let JobstateLine::Node {
            sequence: s,
            condor_id,
            ..
        } = l
        {
            sequence = sequence.max(*s);
            if let Some(c) = condor_id.split('.').next().and_then(|c| c.parse().ok()) {
                cluster = cluster.max(c);
            }
        }
    }
    let seq = Arc::new(AtomicU64::new(sequence));
    let clu = Arc::new(AtomicU64::new(cluster + 1));
    let rescue = rescue_done(&dir, dag_file);

    let mut summary = RunSummary::default();
    let mut states: BTreeMap<String, NodeState> = BTreeMap::new();
    let mut retries: BTreeMap<String, u32> = BTreeMap::new();
    let mut details: BTreeMap<String, String> = BTreeMap::new();
    for n in &dag.nodes {
        let recorded = hist.get(&n.name).is_some_and(|h| h.succeeded) || rescue.contains(&n.name);
        let done = recorded && outputs_still_good(&dir, n);
        if recorded && !done && opts.progress {
            eprintln!(
                "{}: finished before, but its POST script rejects its outputs now: running it again",
                n.name
            );
        }
        if done {
            summary.already_done.push(n.name.clone());
            states.insert(n.name.clone(), NodeState::Done);
        } else {
            states.insert(n.name.clone(), NodeState::NotReady);
        }
    }
    let mut js = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&jobstate_path)
        .with_context(|| format!("opening {}", jobstate_path.display()))?;
    let my_id = format!("{}.0", clu.fetch_add(1, Ordering::SeqCst));
    js.write_all(jobstate_internal_line(now(), "DAGMAN_STARTED", &my_id).as_bytes())?;
    if opts.progress && !summary.already_done.is_empty() {
        eprintln!(
            "already done (not redone): {}",
            summary.already_done.join(", ")
        );
    }

    let (tx, rx) = mpsc::channel::<Msg>();
    let mut running: BTreeMap<String, Option<String>> = BTreeMap::new();
    let write_status = |states: &BTreeMap<String, NodeState>,
                        retries: &BTreeMap<String, u32>,
                        details: &BTreeMap<String, String>,
                        dag_state: NodeState|
     -> anyhow::Result<()> {
        let t = now();
        let sf = StatusFile {
            dag_file: dag_file.to_string(),
            timestamp: t,
            dag_state,
            nodes: dag
                .nodes
                .iter()
                .map(|n| {
                    let state = states[&n.name];
                    NodeStatus {
                        node: n.name.clone(),
                        state,
                        details: details.get(&n.name).cloned().unwrap_or_default(),
                        retry_count: retries.get(&n.name).copied().unwrap_or(0),
                        procs_queued: u32::from(state == NodeState::Submitted),
                    }
                })
                .collect(),
            next_update: t + 1,
        };
        sf.write(&status_path)
            .with_context(|| format!("writing {}", status_path.display()))
    };

    loop {
        // Futile: any ancestor failed.
        let mut changed = true;
        while changed {
            changed = false;
            for n in &dag.nodes {
                if states[&n.name] == NodeState::NotReady
                    && n.parents
                        .iter()
                        .any(|p| matches!(states[p.as_str()], NodeState::Error | NodeState::Futile))
                {
                    states.insert(n.name.clone(), NodeState::Futile);
                    changed = true;
                }
            }
        }
        for n in &dag.nodes {
            if states[&n.name] == NodeState::NotReady
                && n.parents
                    .iter()
                    .all(|p| states[p.as_str()] == NodeState::Done)
            {
                states.insert(n.name.clone(), NodeState::Ready);
            }
        }
        // Start ready nodes within the throttles, in file order.
        for n in &dag.nodes {
            if running.len() >= jobs {
                break;
            }
            if states[&n.name] != NodeState::Ready {
                continue;
            }
            if let Some(cat) = &n.category
                && let Some(&max) = dag.maxjobs.get(cat)
                && running
                    .values()
                    .filter(|c| c.as_deref() == Some(cat))
                    .count()
                    >= max
            {
                continue;
            }
            states.insert(n.name.clone(), NodeState::Submitted);
            running.insert(n.name.clone(), n.category.clone());
            summary.ran.push(n.name.clone());
            let node = n.clone();
            let dir = dir.clone();
            let tx = tx.clone();
            let seq = seq.clone();
            let clu = clu.clone();
            let progress = opts.progress;
            std::thread::spawn(move || {
                let ok = run_node(&dir, &node, &seq, &clu, &tx, progress);
                let _ = tx.send(Msg::Finished(node.name.clone(), ok));
            });
        }
        let dag_state = if running.is_empty() {
            if states.values().all(|s| *s == NodeState::Done) {
                NodeState::Done
            } else {
                NodeState::Error
            }
        } else {
            NodeState::Submitted
        };
        write_status(&states, &retries, &details, dag_state)?;
        if running.is_empty() {
            break;
        }
        match rx.recv() {
            Ok(Msg::Line(l)) => {
                js.write_all(l.as_bytes())?;
                js.flush()?;
            }
            Ok(Msg::State(node, s, d, r)) => {
                states.insert(node.clone(), s);
                details.insert(node.clone(), d);
                retries.insert(node, r);
            }
            Ok(Msg::Finished(node, ok)) => {
                running.remove(&node);
                states.insert(
                    node.clone(),
                    if ok {
                        NodeState::Done
                    } else {
                        NodeState::Error
                    },
                );
                if !ok {
                    summary.failed.push(node);
                }
            }
            Err(_) => bail!("a node thread vanished"),
        }
        // Drain whatever else arrived, in order.
        while let Ok(m) = rx.try_recv() {
            match m {
                Msg::Line(l) => js.write_all(l.as_bytes())?,
                Msg::State(node, s, d, r) => {
                    states.insert(node.clone(), s);
                    details.insert(node.clone(), d);
                    retries.insert(node, r);
                }
                Msg::Finished(node, ok) => {
                    running.remove(&node);
                    states.insert(
                        node.clone(),
                        if ok {
                            NodeState::Done
                        } else {
                            NodeState::Error
                        },
                    );
                    if !ok {
                        summary.failed.push(node);
                    }
                }
            }
        }
        js.flush()?;
    }
    let all_done = states.values().all(|s| *s == NodeState::Done);
    summary.exit_code = if all_done { 0 } else { 1 };
    if !all_done {
        write_rescue(&dir, dag_file, &dag, &states)?;
    }
    js.write_all(
        jobstate_internal_line(now(), "DAGMAN_FINISHED", &summary.exit_code.to_string()).as_bytes(),
    )?;
    Ok(summary)
}

/// A DAGMan-style rescue file listing the done nodes (so `condor_submit_dag` continues too).
fn write_rescue(
    dir: &Path,
    dag_file: &str,
    dag: &Dag,
    states: &BTreeMap<String, NodeState>,
) -> anyhow::Result<()> {
    let mut n = 1;
    while dir.join(format!("{dag_file}.rescue{n:03}")).exists() {
        n += 1;
    }
    let mut s = format!(
        "# Rescue DAG file, written by holdadvisor dag run for {dag_file}.\n# Nodes done:\n"
    );
    for node in &dag.nodes {
        if states[&node.name] == NodeState::Done {
            s.push_str(&format!("DONE {}\n", node.name));
        }
    }
    std::fs::write(dir.join(format!("{dag_file}.rescue{n:03}")), s)?;
    Ok(())
}

/// A node recorded as done still counts when its POST script accepts its outputs now.
fn outputs_still_good(dir: &Path, node: &Node) -> bool {
    match &node.post {
        None => true,
        Some(_) => run_post(dir, node, 0, 0, "0.0", false).is_ok_and(|code| code == 0),
    }
}

fn post_command(dir: &Path, exe: &str) -> PathBuf {
    let p = dir.join(exe);
    if exe.contains('/') || p.is_file() {
        p
    } else {
        PathBuf::from(exe)
    }
}

/// Runs a node's POST script in the DAG's directory; its output goes to the scripts log.
fn run_post(
    dir: &Path,
    node: &Node,
    ret: i32,
    retry: u32,
    job_id: &str,
    log: bool,
) -> anyhow::Result<i32> {
    let script = node.post.as_ref().context("no POST script")?;
    let args: Vec<String> = script
        .args
        .iter()
        .map(|a| match a.as_str() {
            "$JOB" => node.name.clone(),
            "$RETURN" => ret.to_string(),
            "$RETRY" => retry.to_string(),
            "$MAX_RETRIES" => node.retries.to_string(),
            "$JOBID" => job_id.to_string(),
            other => other.to_string(),
        })
        .collect();
    let mut cmd = Command::new(post_command(dir, &script.executable));
    cmd.args(&args).current_dir(dir).stdin(Stdio::null());
    if log {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("dagrun.scripts.log"))?;
        cmd.stdout(f.try_clone()?).stderr(f);
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    let status = cmd
        .status()
        .with_context(|| format!("running {}", script.executable))?;
    Ok(exit_code(status))
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    match status.code() {
        Some(c) => c,
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                -status.signal().unwrap_or(1)
            }
            #[cfg(not(unix))]
            -1
        }
    }
}

/// All attempts of one node; true when it succeeded.
fn run_node(
    dir: &Path,
    node: &Node,
    seq: &AtomicU64,
    clu: &AtomicU64,
    tx: &mpsc::Sender<Msg>,
    progress: bool,
) -> bool {
    let send = |event: &str, id: &str, s: u64| {
        let _ = tx.send(Msg::Line(jobstate_node_line(
            now(),
            &node.name,
            event,
            id,
            s,
        )));
    };
    for retry in 0..=node.retries {
        let s = seq.fetch_add(1, Ordering::SeqCst) + 1;
        let cluster = clu.fetch_add(1, Ordering::SeqCst);
        let id = format!("{cluster}.0");
        let _ = tx.send(Msg::State(
            node.name.clone(),
            NodeState::Submitted,
            "running".into(),
            retry,
        ));
        send("SUBMIT", &id, s);
        send("EXECUTE", &id, s);
        if progress {
            eprintln!("{}: attempt {} (job {id})", node.name, retry + 1);
        }
        let code = match run_job(dir, node, retry, cluster, progress) {
            Ok(c) => c,
            Err(e) => {
                if progress {
                    eprintln!("{}: {e:#}", node.name);
                }
                -1
            }
        };
        send("JOB_TERMINATED", &id, s);
        if code == 0 {
            send("JOB_SUCCESS", "0", s);
        } else {
            send("JOB_FAILURE", &code.to_string(), s);
        }
        let verdict = if node.post.is_some() {
            let _ = tx.send(Msg::State(
                node.name.clone(),
                NodeState::PostRun,
                String::new(),
                retry,
            ));
            send("POST_SCRIPT_STARTED", &id, s);
            let v = run_post(dir, node, code, retry, &id, true).unwrap_or(-1);
            send("POST_SCRIPT_TERMINATED", &id, s);
            send(
                if v == 0 {
                    "POST_SCRIPT_SUCCESS"
                } else {
                    "POST_SCRIPT_FAILURE"
                },
                &id,
                s,
            );
            v
        } else {
            code
        };
        if verdict == 0 {
            if progress {
                eprintln!("{}: done", node.name);
            }
            return true;
        }
        if progress {
            eprintln!("{}: failed with {verdict}", node.name);
        }
        if node.unless_exit == Some(verdict) {
            if progress {
                eprintln!("{}: exit {verdict} is UNLESS-EXIT: not retrying", node.name);
            }
            return false;
        }
    }
    false
}

/// One job attempt in a sandbox: inputs linked in by base name, the executable too, outputs
/// moved back to the DAG's directory, stdout/stderr to the submit description's files.
/// Runs one job in its sandbox. With `progress`, the job's per-epoch lines (the training
/// nodes write `epoch N/M: ...` to their error file) are repeated on stderr, prefixed with the
/// node's name, as they come.
fn run_job(
    dir: &Path,
    node: &Node,
    retry: u32,
    cluster: u64,
    progress: bool,
) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(dir.join(&node.submit))
        .with_context(|| format!("reading {}", node.submit.display()))?;
    let mut macros: BTreeMap<String, String> = node.vars.iter().cloned().collect();
    macros.insert("JOB".into(), node.name.clone());
    macros.insert("RETRY".into(), retry.to_string());
    macros.insert("Cluster".into(), cluster.to_string());
    macros.insert("ClusterId".into(), cluster.to_string());
    macros.insert("Process".into(), "0".into());
    macros.insert("ProcId".into(), "0".into());
    let job = read_submit(&text, &macros)?;
    let sandbox = dir.join(".dagrun").join(format!("{}.{cluster}", node.name));
    if sandbox.exists() {
        std::fs::remove_dir_all(&sandbox)?;
    }
    std::fs::create_dir_all(&sandbox)?;
    let link = |rel: &str| -> anyhow::Result<String> {
        let src = dir.join(rel);
        anyhow::ensure!(
            src.exists(),
            "transfer_input_files: {rel} does not exist (HTCondor would hold the job)"
        );
        let base = Path::new(rel)
            .file_name()
            .context("input without a name")?
            .to_string_lossy()
            .to_string();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&src, sandbox.join(&base))?;
        #[cfg(not(unix))]
        bail!("dag run needs a Unix system");
        Ok(base)
    };
    let exe = link(&job.executable)?;
    for input in &job.transfer_input_files {
        link(input)?;
    }
    let open = |rel: &Option<String>| -> anyhow::Result<Stdio> {
        Ok(match rel {
            Some(r) => {
                let p = dir.join(r);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                Stdio::from(std::fs::File::create(p)?)
            }
            None => Stdio::null(),
        })
    };
    let mut child = Command::new(sandbox.join(&exe))
        .args(&job.arguments)
        .current_dir(&sandbox)
        .stdin(Stdio::null())
        .stdout(open(&job.output)?)
        .stderr(open(&job.error)?)
        .spawn()
        .with_context(|| format!("running {}", job.executable))?;
    let error_file = job.error.as_ref().map(|e| dir.join(e));
    let mut shown = 0;
    let mut show_new_epochs = || {
        let Some(text) = error_file
            .as_ref()
            .filter(|_| progress)
            .and_then(|f| std::fs::read_to_string(f).ok())
        else {
            return;
        };
        let lines: Vec<&str> = text.lines().collect();
        // The last line may be half written: only whole lines.
        let whole = if text.ends_with('\n') {
            lines.len()
        } else {
            lines.len().saturating_sub(1)
        };
        for line in &lines[shown.min(whole)..whole] {
            if line.trim_start().contains("epoch ") {
                eprintln!("{}: {}", node.name, line.trim());
            }
        }
        shown = shown.max(whole);
    };
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        show_new_epochs();
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    show_new_epochs();
    let mut code = exit_code(status);
    for out in &job.transfer_output_files {
        let p = sandbox.join(out);
        let meta = std::fs::symlink_metadata(&p);
        match meta {
            Ok(m) if m.file_type().is_symlink() => {} // written in place
            Ok(_) => {
                let dest = dir.join(out);
                if dest.is_dir() {
                    std::fs::remove_dir_all(&dest)?;
                } else if dest.exists() {
                    std::fs::remove_file(&dest)?;
                }
                std::fs::rename(&p, &dest)?;
            }
            Err(_) => {
                if code == 0 {
                    code = -1; // HTCondor would hold the job: missing output file
                }
            }
        }
    }
    std::fs::remove_dir_all(&sandbox)?;
    Ok(code)
}
