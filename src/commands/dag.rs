//! `holdadvisor dag --logs FILES... | --data DIR --sweep N [--sweep-config FILE] [--gpu]
//! [--container IMAGE] --out DIR`: a training sweep as an HTCondor DAGMan workflow;
//! `holdadvisor dag run DIR [--jobs K]` runs it here; `holdadvisor dag status DIR` shows it.
//! The node commands (`holdadvisor dag node ...`) are what the workflow's jobs and POST
//! scripts run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use holdadvisor_dag::dagfile::Dag;
use holdadvisor_dag::generate::{self, DAG_FILE, DATASET, HOPELESS, SELECTED};
use holdadvisor_dag::run::{RunOptions, run_dag, state_paths};
use holdadvisor_dag::state::{NodeState, StatusFile, node_histories, parse_jobstate};
use holdadvisor_dag::sweep::SweepConfig;
use holdadvisor_models::burn::config::Config;
use holdadvisor_models::data::{
    Split, SplitKind, assign_splits, data_dir_logs, data_hash, episodes_of, label_counts,
    read_events,
};
use holdadvisor_models::encode::EncoderConfig;
use holdadvisor_models::evaluate::evaluate_model_dir;
use holdadvisor_models::inference::Predictor;
use holdadvisor_models::metrics::Metrics;
use holdadvisor_models::model_dir::Manifest;
use holdadvisor_models::training::TrainingConfig;
use serde::{Deserialize, Serialize};

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DagArgs {
    #[command(subcommand)]
    pub action: Option<DagAction>,
    /// Event log files to train on (copied into the workflow).
    #[arg(long, num_args = 1.., conflicts_with = "data")]
    pub logs: Vec<PathBuf>,
    /// A directory written by `holdadvisor simulate` (its EventLog), or any directory of *.log files.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Number of hyperparameter points (training nodes).
    #[arg(long)]
    pub sweep: Option<usize>,
    /// The sweep configuration (JSON; see sweep.json in a generated workflow); default: built-in.
    #[arg(long)]
    pub sweep_config: Option<PathBuf>,
    /// Override the sweep configuration's maximum epochs per point.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Override the sweep configuration's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Request a GPU per training job and train with --device cuda (needs a tch build).
    #[arg(long)]
    pub gpu: bool,
    /// Run the jobs in this container image (container universe).
    #[arg(long)]
    pub container: Option<String>,
    /// The workflow directory to write.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum DagAction {
    /// Run a workflow on this machine (no HTCondor): the same node commands, in dependency
    /// order, K at a time, with RETRY, POST verdicts and DAGMan's state files.
    Run {
        /// The workflow directory.
        dir: PathBuf,
        /// Node jobs at once (default: dagman.config's DAGMAN_MAX_JOBS_SUBMITTED, at most the cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// No progress output.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Which nodes are done, running or failed, and the best validation metric so far.
    Status {
        /// The workflow directory.
        dir: PathBuf,
    },
    /// The commands the workflow's jobs and POST scripts run.
    #[command(subcommand, hide = true)]
    Node(NodeCommand),
}

#[derive(clap::Subcommand, Debug)]
pub enum NodeCommand {
    /// Read the logs once, fix the split, write the dataset.
    Prepare {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        sweep: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Train one point (RUN/point.json) to early stopping, resuming from RUN/model/checkpoints.
    Train {
        #[arg(long)]
        run: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "flex")]
        device: String,
    },
    /// Pick the best run, evaluate it once on the test split, write the report and the model.
    Select {
        #[arg(long)]
        sweep: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        runs: Vec<PathBuf>,
    },
    /// A POST script: judges a node's results (exit 0 accepts, 42 hopeless, else retry).
    Post {
        node: String,
        #[arg(allow_hyphen_values = true)]
        ret: i32,
    },
}

pub fn run(args: &DagArgs) -> anyhow::Result<ExitCode> {
    match &args.action {
        Some(DagAction::Run { dir, jobs, quiet }) => run_local(dir, *jobs, *quiet),
        Some(DagAction::Status { dir }) => status(dir),
        Some(DagAction::Node(n)) => node(n),
        None => write_workflow(args),
    }
}

fn write_workflow(args: &DagArgs) -> anyhow::Result<ExitCode> {
    let Some(out) = &args.out else {
        bail!("--out DIR is required");
    };
    let Some(sweep) = args.sweep else {
        bail!("--sweep N is required");
    };
    let logs = match (&args.data, args.logs.is_empty()) {
        (Some(d), _) => data_dir_logs(d)?,
        (None, false) => args.logs.clone(),
        (None, true) => bail!("give --logs FILES... or --data DIR"),
    };
    let mut config = match &args.sweep_config {
        Some(p) => SweepConfig::load(p)?,
        None => SweepConfig::default(),
    };
    if let Some(e) = args.epochs {
        config.max_epochs = e;
    }
    if let Some(s) = args.seed {
        config.seed = s;
    }
    if args.gpu && !cfg!(feature = "tch") {
        eprintln!(
            "note: --gpu trains with --device cuda, which needs holdadvisor built with `--features tch`; this binary is not"
        );
    }
    let opts = generate::Options {
        logs,
        sweep,
        config,
        gpu: args.gpu,
        container: args.container.clone(),
        out: out.clone(),
        executable: std::env::current_exe().context("locating the holdadvisor binary")?,
    };
    let dag = generate::generate(&opts)?;
    println!("workflow written to {}", out.display());
    println!(
        "submit it with:  cd {} && condor_submit_dag {DAG_FILE}",
        out.display()
    );
    println!("or run it here:  holdadvisor dag run {}", out.display());
    let _ = dag;
    Ok(ExitCode::SUCCESS)
}

fn run_local(dir: &Path, jobs: Option<usize>, quiet: bool) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let s = run_dag(
        dir,
        DAG_FILE,
        &RunOptions {
            jobs,
            progress: !quiet,
        },
    )?;
    if !quiet {
        eprintln!(
            "ran {} node(s), {} already done, {} failed, in {:.1} s",
            s.ran.len(),
            s.already_done.len(),
            s.failed.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if s.exit_code == 0 {
        if let Ok(c) = read_json::<Choice>(&dir.join(SELECTED).join("choice.json")) {
            if let Some(v) = &c.verdict {
                println!("{v}");
            }
            println!(
                "selected {} (validation {} {:.4}); {} {}",
                c.node,
                c.metric,
                c.value,
                if c.promoted {
                    "model in"
                } else {
                    "NOT promoted (it loses on the test split); the candidate is in"
                },
                dir.join(SELECTED)
                    .join(if c.promoted { "model" } else { "candidate" })
                    .display()
            );
        }
        Ok(ExitCode::SUCCESS)
    } else {
        println!("failed nodes: {}", s.failed.join(", "));
        Ok(ExitCode::from(1))
    }
}

fn status(dir: &Path) -> anyhow::Result<ExitCode> {
    let dag = Dag::load(&dir.join(DAG_FILE))?;
    let (js_path, st_path) = state_paths(dir, DAG_FILE, &dag);
    let file = std::fs::read_to_string(&st_path)
        .ok()
        .and_then(|t| StatusFile::parse(&t));
    let lines = parse_jobstate(&std::fs::read_to_string(&js_path).unwrap_or_default());
    let has_post = |n: &str| dag.node(n).is_some_and(|x| x.post.is_some());
    let hist = node_histories(&lines, &has_post);
    let sweep = SweepConfig::load(&dir.join("sweep.json")).unwrap_or_default();
    let mut best: Option<(String, f64)> = None;
    println!(
        "{:<10} {:<8} {:>7}  {:<12} {:>7}  validation {}",
        "node", "state", "retries", "last event", "epochs", sweep.metric
    );
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for n in &dag.nodes {
        let from_file = file
            .as_ref()
            .and_then(|f| f.nodes.iter().find(|s| s.node == n.name));
        let h = hist.get(&n.name);
        let mut state = from_file.map_or(NodeState::NotReady, |s| s.state);
        if h.is_some_and(|h| h.succeeded) {
            state = NodeState::Done;
        } else if h.is_some_and(|h| !h.failed && h.last_event != "POST_SCRIPT_FAILURE")
            && state < NodeState::Submitted
        {
            state = NodeState::Submitted;
        }
        let retries = from_file
            .map(|s| s.retry_count)
            .or(h.map(|h| h.attempts.saturating_sub(1)))
            .unwrap_or(0);
        let metric = read_json::<RunMetrics>(
            &dir.join(n.name.replacen("train_", "run_", 1))
                .join("metrics.json"),
        )
        .ok()
        .and_then(|m| metric_value(&m.validation, &sweep.metric));
        if let Some(v) = metric
            && best.as_ref().is_none_or(|(_, b)| sweep.better(v, *b))
        {
            best = Some((n.name.clone(), v));
        }
        *counts.entry(state.word()).or_default() += 1;
        // A training node's epochs so far, from its checkpoint.
        let epochs = n.name.strip_prefix("train_").map(|k| {
            let done = epochs_done(&dir.join(format!("run_{k}")).join("model"));
            format!("{done}/{}", sweep.max_epochs)
        });
        println!(
            "{:<10} {:<8} {:>7}  {:<12} {:>7}  {}",
            n.name,
            state.word(),
            retries,
            h.map_or("-", |h| h.last_event.as_str()),
            epochs.as_deref().unwrap_or("-"),
            metric.map_or("-".to_string(), |v| format!("{v:.4}"))
        );
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    println!("\n{} node(s): {}", dag.nodes.len(), summary.join(", "));
    if let Some((node, v)) = best {
        println!("best so far: {node} (validation {} {v:.4})", sweep.metric);
    }
    let finished = lines.iter().rev().find_map(|l| match l {
        holdadvisor_dag::state::JobstateLine::Internal { event, arg, .. }
            if event == "DAGMAN_FINISHED" || event == "DAGMAN_STARTED" =>
        {
            Some((event.clone(), arg.clone()))
        }
        _ => None,
    });
    match finished {
        Some((e, code)) if e == "DAGMAN_FINISHED" => println!("DAG finished with status {code}"),
        Some(_) => println!("DAG running (or stopped without finishing)"),
        None => println!("DAG not started"),
    }
    if let Ok(c) = read_json::<Choice>(&dir.join(SELECTED).join("choice.json")) {
        println!(
            "selected: {} -> {}{}",
            c.node,
            dir.join(SELECTED)
                .join(if c.promoted { "model" } else { "candidate" })
                .display(),
            if c.promoted {
                ""
            } else {
                " (not promoted: it loses on the test split)"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}", path.display()))
}

/// A validation metric by name.
fn metric_value(m: &Metrics, name: &str) -> Option<f64> {
    let v = match name {
        "roc_auc" => m.roc_auc?,
        "accuracy" => m.accuracy,
        "log_loss" => m.log_loss,
        "brier" => m.brier,
        "ece" => m.ece,
        _ => return None,
    };
    v.is_finite().then_some(v)
}

/// `DATASET/dataset.json`, written by `prepare`.
#[derive(Debug, Serialize, Deserialize)]
struct DatasetInfo {
    /// `merged` (one time-ordered text event log, same episodes as the originals) or `copied`.
    form: String,
    files: Vec<String>,
    events: usize,
    malformed: u64,
    episodes: usize,
    data_hash: String,
    split: SplitKind,
    train_fraction: f64,
    validation_fraction: f64,
    counts: std::collections::BTreeMap<String, holdadvisor_models::data::LabelCounts>,
}

/// `run_K/metrics.json`, written by a training node.
#[derive(Debug, Serialize, Deserialize)]
struct RunMetrics {
    run: String,
    num_layers: usize,
    hidden_size: usize,
    learning_rate: f64,
    batch_size: usize,
    dropout: f64,
    window_seconds: i64,
    seq_len: usize,
    epochs_run: usize,
    best_epoch: usize,
    resumed_from_epoch: usize,
    attempt: usize,
    validation: Metrics,
}

/// `selected/choice.json`, written by `select`.
#[derive(Debug, Serialize, Deserialize)]
struct Choice {
    node: String,
    run: String,
    metric: String,
    goal: String,
    value: f64,
    test: Metrics,
    candidates: Vec<(String, Option<f64>)>,
    /// Whether it became `selected/model`: its advice beat the pool's table and the best
    /// rule policy on the test split (or the sweep said to promote it anyway).
    #[serde(default = "yes")]
    promoted: bool,
    /// The one-line verdict that decided it.
    #[serde(default)]
    verdict: Option<String>,
}

fn yes() -> bool {
    true
}

fn hopeless(msg: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("hopeless: {msg}");
    Ok(ExitCode::from(HOPELESS as u8))
}

fn node(cmd: &NodeCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        NodeCommand::Prepare { input, sweep, out } => prepare(input, sweep, out),
        NodeCommand::Train { run, data, device } => train_node(run, data, device),
        NodeCommand::Select {
            sweep,
            data,
            out,
            runs,
        } => select(sweep, data, out, runs),
        NodeCommand::Post { node, ret } => post(node, *ret),
    }
}

fn files_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn prepare(input: &Path, sweep: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let cfg = match SweepConfig::load(sweep) {
        Ok(c) => c,
        Err(e) => return hopeless(format!("{e:#}")),
    };
    let logs = files_in(input)?;
    if logs.is_empty() {
        return hopeless(format!("no logs in {}", input.display()));
    }
    let enc = EncoderConfig::ours();
    let (events, malformed) = read_events(&logs)?;
    let (episodes, _, _) = episodes_of(&logs, vec![enc.clone()])?;
    let hash = data_hash(&episodes, 0);
    std::fs::create_dir_all(out)?;
    // One merged, time-ordered text log; kept when it yields the same episodes.
    let merged = out.join("EventLog");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&merged)?);
        let opts = holdadvisor_parsers::writer::TextOptions::default();
        let mut buf = String::new();
        for e in &events {
            buf.clear();
            holdadvisor_parsers::writer::write_text(&mut buf, e, &opts);
            w.write_all(buf.as_bytes())?;
        }
        w.flush()?;
    }
    let same = episodes_of(std::slice::from_ref(&merged), vec![enc])
        .map(|(eps, _, _)| data_hash(&eps, 0) == hash)
        .unwrap_or(false);
    let (form, files) = if same {
        ("merged", vec!["EventLog".to_string()])
    } else {
        std::fs::remove_file(&merged)?;
        let mut names = Vec::new();
        for (i, l) in logs.iter().enumerate() {
            let name = format!(
                "{i:03}-{}.log",
                l.file_name().unwrap_or_default().to_string_lossy()
            );
            std::fs::copy(l, out.join(&name))?;
            names.push(name);
        }
        ("copied", names)
    };
    let splits = assign_splits(
        &episodes,
        SplitKind::Time,
        cfg.train_fraction,
        cfg.validation_fraction,
        cfg.seed,
    );
    let mut counts = std::collections::BTreeMap::new();
    for s in [Split::Train, Split::Validation, Split::Test] {
        counts.insert(s.name().to_string(), label_counts(&episodes, &splits, s));
    }
    let info = DatasetInfo {
        form: form.into(),
        files,
        events: events.len(),
        malformed,
        episodes: episodes.len(),
        data_hash: hash,
        split: SplitKind::Time,
        train_fraction: cfg.train_fraction,
        validation_fraction: cfg.validation_fraction,
        counts,
    };
    std::fs::write(
        out.join("dataset.json"),
        serde_json::to_string_pretty(&info)? + "\n",
    )?;
    eprintln!(
        "{} events, {} episodes ({form}); train {:?}, validation {:?}, test {:?}",
        info.events,
        info.episodes,
        info.counts["train"],
        info.counts["validation"],
        info.counts["test"]
    );
    let train = &info.counts["train"];
    let valid = &info.counts["validation"];
    if train.positive + train.negative == 0 {
        return hopeless("no labelled training episodes: more logs needed");
    }
    if valid.positive == 0 || valid.negative == 0 {
        return hopeless(
            "the validation split lacks positives or negatives: no validation metric can rank the points",
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn epochs_done(model_dir: &Path) -> usize {
    std::fs::read_to_string(model_dir.join("checkpoints/state.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("epochs_done").and_then(|e| e.as_u64()))
        .unwrap_or(0) as usize
}

fn train_node(run: &Path, data: &Path, device: &str) -> anyhow::Result<ExitCode> {
    let point = run.join("point.json");
    let cfg = match TrainingConfig::load(&point) {
        Ok(c) => c,
        Err(e) => return hopeless(format!("{}: {e}", point.display())),
    };
    let model_dir = run.join("model");
    let resumed_from = epochs_done(&model_dir);
    let attempts_path = run.join("attempts.jsonl");
    let attempt = std::fs::read_to_string(&attempts_path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
        + 1;
    let log_attempt = |outcome: &str| -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&attempts_path)?;
        writeln!(
            f,
            "{}",
            serde_json::json!({
                "attempt": attempt,
                "resumed_from_epoch": resumed_from,
                "epochs_done": epochs_done(&model_dir),
                "outcome": outcome,
            })
        )?;
        Ok(())
    };
    eprintln!(
        "{}: attempt {attempt}, {}",
        run.display(),
        if resumed_from > 0 {
            format!("resuming after epoch {resumed_from}")
        } else {
            "starting from scratch".into()
        }
    );
    // Failure injection for tests: RUN/FAIL_ONCE_AFTER_EPOCH holds an epoch; the first attempt
    // is killed once its checkpoint of that epoch is written, as a preempted job would be.
    let fail_after = run.join("FAIL_ONCE_AFTER_EPOCH");
    let fail_done = run.join("FAIL_ONCE.done");
    if fail_after.is_file() && !fail_done.exists() {
        let n: usize = std::fs::read_to_string(&fail_after)?.trim().parse()?;
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .args(["train", "--quiet", "--resume", "--device", device])
            .arg("--config")
            .arg(&point)
            .arg("--data")
            .arg(data)
            .arg("--out")
            .arg(&model_dir)
            .spawn()?;
        loop {
            if epochs_done(&model_dir) >= n {
                let _ = child.kill();
                let _ = child.wait();
                std::fs::write(&fail_done, "injected failure done\n")?;
                log_attempt(&format!("killed after epoch {n} (injected failure)"))?;
                eprintln!("injected failure: killed the training after epoch {n}");
                return Ok(ExitCode::from(1));
            }
            if child.try_wait()?.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    let args = |resume: bool| crate::commands::train::TrainArgs {
        logs: Vec::new(),
        data: vec![data.to_path_buf()],
        config: Some(point.clone()),
        out: model_dir.clone(),
        resume,
        epochs: None,
        seed: None,
        ensemble: None,
        random_split: false,
        censored: None,
        class_weighted: false,
        cluster_weight_cap: None,
        no_reference: false,
        device: device.to_string(),
        note: Some(format!("sweep point {}", run.display())),
        quiet: false,
        // select judges the chosen point once; every point need not.
        no_verdict: true,
    };
    let result = match crate::commands::train::run(&args(true)) {
        Err(e)
            if format!("{e:#}").contains("cannot resume")
                || format!("{e:#}").contains("loading") =>
        {
            eprintln!("{e:#}: starting this point over");
            let _ = std::fs::remove_dir_all(model_dir.join("checkpoints"));
            crate::commands::train::run(&args(false))
        }
        r => r,
    };
    if let Err(e) = result {
        let msg = format!("{e:#}");
        log_attempt(&format!("error: {msg}"))?;
        if msg.contains("no labelled") || msg.contains("encoder must be") {
            return hopeless(msg);
        }
        return Err(e);
    }
    let manifest: Manifest = read_json(&model_dir.join("manifest.json"))?;
    let Some(validation) = manifest.validation.clone() else {
        log_attempt("no validation metrics")?;
        return hopeless("the model has no validation metrics");
    };
    let m = RunMetrics {
        run: run
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string(),
        num_layers: cfg.model.num_layers,
        hidden_size: cfg.model.hidden_size,
        learning_rate: cfg.learning_rate,
        batch_size: cfg.batch_size,
        dropout: cfg.model.dropout,
        window_seconds: cfg.encoder.window_seconds,
        seq_len: cfg.encoder.seq_len,
        epochs_run: manifest.epochs_run,
        best_epoch: manifest.best_epoch,
        resumed_from_epoch: resumed_from,
        attempt,
        validation,
    };
    std::fs::write(
        run.join("metrics.json"),
        serde_json::to_string_pretty(&m)? + "\n",
    )?;
    log_attempt("trained")?;
    Ok(ExitCode::SUCCESS)
}

/// Copies a model directory without its checkpoints.
fn copy_model(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let p = e.path();
        let name = e.file_name();
        if p.is_dir() {
            if name != "checkpoints" {
                copy_model(&p, &to.join(&name))?;
            }
        } else {
            std::fs::copy(&p, to.join(&name))?;
        }
    }
    Ok(())
}

/// Validation curves of every run (metrics.jsonl) as an SVG line plot.
fn validation_svg(runs: &[(String, Vec<f64>)], metric: &str) -> anyhow::Result<String> {
    let series: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|(name, ys)| {
            let points = ys
                .iter()
                .enumerate()
                .map(|(e, &v)| ((e + 1) as f64, v))
                .collect();
            (name.clone(), points)
        })
        .collect();
    crate::report::curves_svg_text(
        &format!("validation {metric} by epoch"),
        "epoch",
        metric,
        &series,
    )
}

fn select(sweep: &Path, data: &Path, out: &Path, runs: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let cfg = match SweepConfig::load(sweep) {
        Ok(c) => c,
        Err(e) => return hopeless(format!("{e:#}")),
    };
    let mut candidates: Vec<(String, Option<f64>)> = Vec::new();
    let mut best: Option<(usize, f64)> = None;
    let mut table = String::from(
        "| run | layers | hidden | learning rate | batch | dropout | window (s) | seq_len | epochs | best epoch | validation |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut curves = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let name = r
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let m = read_json::<RunMetrics>(&r.join("metrics.json")).ok();
        let v = m
            .as_ref()
            .and_then(|m| metric_value(&m.validation, &cfg.metric));
        if let Some(v) = v
            && best.is_none_or(|(_, b)| cfg.better(v, b))
        {
            best = Some((i, v));
        }
        if let Some(m) = &m {
            table.push_str(&format!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                m.num_layers,
                m.hidden_size,
                m.learning_rate,
                m.batch_size,
                m.dropout,
                m.window_seconds,
                m.seq_len,
                m.epochs_run,
                m.best_epoch,
                v.map_or("n/a".into(), |v| format!("{v:.4}"))
            ));
        }
        let curve: Vec<f64> = std::fs::read_to_string(r.join("model/metrics.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| {
                let m: Metrics = serde_json::from_value(v.get("validation")?.clone()).ok()?;
                metric_value(&m, &cfg.metric)
            })
            .collect();
        curves.push((name.clone(), curve));
        candidates.push((name, v));
    }
    let Some((bi, value)) = best else {
        return hopeless(format!(
            "no run has a validation {}: nothing to select",
            cfg.metric
        ));
    };
    let run = &runs[bi];
    let run_name = candidates[bi].0.clone();
    let node = run_name.replacen("run_", "train_", 1);
    // The candidate is judged beside the model selected before (kept unless it wins).
    std::fs::create_dir_all(out)?;
    for stale in [
        "candidate",
        "choice.json",
        "report.json",
        "report.md",
        "validation.svg",
    ] {
        let p = out.join(stale);
        if p.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else if p.exists() {
            std::fs::remove_file(&p)?;
        }
    }
    let candidate = out.join("candidate");
    copy_model(&run.join("model"), &candidate)?;
    let logs = data_dir_logs(data)?;
    let (report, _) = evaluate_model_dir(&candidate, &logs, "test", "the sweep's dataset", None)?;
    let verdict = report.decisions.as_ref().and_then(|d| d.verdict.clone());
    let wins = verdict
        .as_ref()
        .is_some_and(|v| v.beats_table && v.beats_rules);
    let promoted = wins || cfg.promote_losing_model;
    let model = out.join("model");
    let kept = if promoted {
        if model.exists() {
            std::fs::remove_dir_all(&model)?;
        }
        std::fs::rename(&candidate, &model)?;
        None
    } else if model.join("manifest.json").is_file() {
        Some(format!("the model selected before, {}", model.display()))
    } else {
        Some("the shipped model (no model was selected before)".to_string())
    };
    let goal = match cfg.goal() {
        holdadvisor_dag::sweep::Goal::Max => "max",
        holdadvisor_dag::sweep::Goal::Min => "min",
    };
    let choice = Choice {
        node: node.clone(),
        run: run_name.clone(),
        metric: cfg.metric.clone(),
        goal: goal.into(),
        value,
        test: report.model.metrics.clone(),
        candidates,
        promoted,
        verdict: verdict.as_ref().map(|v| v.line.clone()),
    };
    std::fs::write(
        out.join("choice.json"),
        serde_json::to_string_pretty(&choice)? + "\n",
    )?;
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    std::fs::write(
        out.join("validation.svg"),
        validation_svg(&curves, &cfg.metric)?,
    )?;
    let verdict_line = verdict
        .as_ref()
        .map_or("verdict: none (no decisions table)".to_string(), |v| {
            v.line.clone()
        });
    let promotion = match &kept {
        None if wins => format!("Promoted to `{SELECTED}/model`: {verdict_line}."),
        None => format!(
            "Promoted to `{SELECTED}/model` although it does not beat both (the sweep's `promote_losing_model`): {verdict_line}."
        ),
        Some(kept) => format!(
            "**Not promoted**: {verdict_line}. Keep using {kept}; the candidate is in `{SELECTED}/candidate`."
        ),
    };
    let md = format!(
        "# Sweep report\n\n\
         Selected **{run_name}** (node {node}) by validation `{}` ({goal}): {value:.4}.\n\n\
         {promotion}\n\n\
         ## Points\n\n{table}\n\
         ![validation {} by epoch](validation.svg)\n\n\
         ## The selected model on the test split (evaluated once)\n\n\
         Scored: {} labelled test episodes. Metrics at threshold 0.5; ECE with 10 bins.\n\n{}\n\
         ## Use it\n\n\
         ```\nholdadvisor q --model {SELECTED}/model\n# or: export HOLDADVISOR_MODEL=$PWD/{SELECTED}/model\n```\n",
        cfg.metric,
        cfg.metric,
        report.model.metrics.n,
        report.table()
    );
    std::fs::write(out.join("report.md"), md)?;
    println!("{verdict_line}");
    match &kept {
        None => println!(
            "selected {run_name} (validation {} {value:.4}); use it with: holdadvisor q --model {SELECTED}/model",
            cfg.metric
        ),
        Some(kept) => println!(
            "selected {run_name} (validation {} {value:.4}) but NOT promoted: it loses on the test split; keep using {kept}",
            cfg.metric
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// The POST script: 0 accepts the node, 42 stops retries, anything else asks for a retry.
fn post(node: &str, ret: i32) -> anyhow::Result<ExitCode> {
    let verdict: Result<(), String> = if ret == HOPELESS {
        println!("{node}: job exited {HOPELESS} (hopeless): no retry");
        return Ok(ExitCode::from(HOPELESS as u8));
    } else if ret != 0 {
        Err(format!("job exited {ret}"))
    } else if node == "prepare" {
        read_json::<DatasetInfo>(&Path::new(DATASET).join("dataset.json"))
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))
    } else if let Some(k) = node.strip_prefix("train_") {
        read_json::<RunMetrics>(&Path::new(&format!("run_{k}")).join("metrics.json"))
            .map_err(|e| format!("{e:#}"))
            .and_then(|m| {
                if Path::new(&format!("run_{k}/model/manifest.json")).is_file() {
                    let _ = m;
                    Ok(())
                } else {
                    Err("no model in the run directory".into())
                }
            })
    } else if node == "select" {
        read_json::<Choice>(&Path::new(SELECTED).join("choice.json"))
            .map_err(|e| format!("{e:#}"))
            .and_then(|c| {
                // Not promoted: the candidate must load; the kept model is as it was.
                let dir = if c.promoted { "model" } else { "candidate" };
                Predictor::load(Path::new(SELECTED).join(dir))
                    .map(|_| ())
                    .map_err(|e| format!("the selected model does not load: {e:#}"))
            })
            .and_then(|_| {
                if Path::new(SELECTED).join("report.md").is_file() {
                    Ok(())
                } else {
                    Err("no report".into())
                }
            })
    } else {
        Err(format!("unknown node {node}"))
    };
    match verdict {
        Ok(()) => {
            println!("{node}: accepted");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{node}: rejected: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
