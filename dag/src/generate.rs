//! Writing the workflow directory: `train.dag`, the submit descriptions, `dagman.config`,
//! `sweep.json`, one `run_K/point.json` per point, the logs under `input/`, the holdadvisor
//! binary itself, and a README.

use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};

use crate::sweep::SweepConfig;

/// The DAG file's name inside the workflow directory.
pub const DAG_FILE: &str = "train.dag";
/// The executable's name inside the workflow directory (and in every job's sandbox).
pub const EXECUTABLE: &str = "holdadvisor";
/// The exit code that tells DAGMan not to retry a node (`RETRY ... UNLESS-EXIT 42`).
pub const HOPELESS: i32 = 42;
/// Where `prepare` writes the dataset every training node reads.
pub const DATASET: &str = "dataset";
/// Where `select` writes the chosen model and the report.
pub const SELECTED: &str = "selected";

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Event logs (copied into `input/`).
    pub logs: Vec<PathBuf>,
    /// Number of points.
    pub sweep: usize,
    pub config: SweepConfig,
    /// Request a GPU and train with `--device cuda` (needs a tch build of holdadvisor).
    pub gpu: bool,
    /// Run every node in this container image (container universe).
    pub container: Option<String>,
    /// The workflow directory to write (must not exist or be empty).
    pub out: PathBuf,
    /// The holdadvisor binary to ship with the workflow (usually the running one).
    pub executable: PathBuf,
}

/// The training node's name for point `k` (1-based).
pub fn train_node(k: usize) -> String {
    format!("train_{k}")
}

/// The run directory of point `k`: holds `point.json` (input), checkpoints and results.
pub fn run_dir(k: usize) -> String {
    format!("run_{k}")
}

/// Writes the workflow directory; returns the absolute path of the DAG file.
pub fn generate(opts: &Options) -> anyhow::Result<PathBuf> {
    opts.config.check()?;
    ensure!(!opts.logs.is_empty(), "no event logs given");
    let points = opts.config.points(opts.sweep)?;
    let out = &opts.out;
    if out.exists() {
        ensure!(
            out.is_dir() && std::fs::read_dir(out)?.next().is_none(),
            "{} exists and is not an empty directory",
            out.display()
        );
    }
    std::fs::create_dir_all(out.join("input"))
        .with_context(|| format!("creating {}", out.display()))?;
    std::fs::create_dir_all(out.join("logs"))?;
    let out_abs = out.canonicalize()?;

    // The logs, by base name (a numeric prefix where two share one).
    let mut names: Vec<String> = Vec::new();
    let mut input_bytes = 0u64;
    for (i, log) in opts.logs.iter().enumerate() {
        let base = log
            .file_name()
            .with_context(|| format!("{}: not a file", log.display()))?
            .to_string_lossy()
            .to_string();
        let name = if names.contains(&base) {
            format!("{i:03}-{base}")
        } else {
            base
        };
        input_bytes += std::fs::copy(log, out.join("input").join(&name))
            .with_context(|| format!("copying {}", log.display()))?;
        names.push(name);
    }
    link_or_copy(&opts.executable, &out.join(EXECUTABLE))?;

    std::fs::write(
        out.join("sweep.json"),
        serde_json::to_string_pretty(&opts.config)? + "\n",
    )?;
    for (i, p) in points.iter().enumerate() {
        let k = i + 1;
        let dir = out.join(run_dir(k));
        std::fs::create_dir_all(&dir)?;
        let cfg = opts.config.training_config(p, k);
        std::fs::write(
            dir.join("point.json"),
            serde_json::to_string_pretty(&cfg)? + "\n",
        )?;
    }
    let disk_kb = match opts.config.request_disk_mb {
        Some(mb) => mb * 1024,
        None => disk_request_kb(input_bytes, std::fs::metadata(out.join(EXECUTABLE))?.len()),
    };
    std::fs::write(out.join("prepare.sub"), prepare_submit(opts, disk_kb))?;
    std::fs::write(out.join("train.sub"), train_submit(opts, disk_kb))?;
    std::fs::write(
        out.join("select.sub"),
        select_submit(opts, disk_kb, points.len()),
    )?;
    std::fs::write(out.join("dagman.config"), dagman_config(opts))?;
    std::fs::write(out.join(DAG_FILE), dag_text(opts, points.len()))?;
    std::fs::write(
        out.join("README.md"),
        readme(opts, disk_kb, &out_abs, &points, &names),
    )?;
    Ok(out_abs.join(DAG_FILE))
}

/// A hard link where the file system allows, else a copy; executable either way.
fn link_or_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut perm = std::fs::metadata(to)?.permissions();
        if perm.mode() & 0o755 != 0o755 {
            perm.set_mode(perm.mode() | 0o755);
            std::fs::set_permissions(to, perm)?;
        }
    }
    Ok(())
}

/// `request_disk` (KiB) of every node when the sweep config leaves it unset: what the
/// largest sandbox holds (the binary, the logs or the dataset made from them, which is about
/// their size, and while `prepare` runs both), plus 256 MiB for models, checkpoints and
/// output, rounded up to 64 MiB. A fixed guess either starves small slots or, on a host
/// with little free disk, matches nothing: a CI run once waited eight minutes on 2 GB
/// requests for 2 MB of logs.
pub fn disk_request_kb(input_bytes: u64, binary_bytes: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    let bytes = binary_bytes
        .saturating_add(input_bytes.saturating_mul(2))
        .saturating_add(256 * MIB);
    bytes.div_ceil(64 * MIB).saturating_mul(64 * 1024)
}

/// The lines every submit description shares: the universe, the transferred executable,
/// file transfer, resources.
fn common(opts: &Options, disk_kb: u64, what: &str, gpu: bool) -> String {
    let mut s = format!(
        "# {what}\n# Generated by `holdadvisor dag`; submitted by DAGMan from train.dag.\n"
    );
    match &opts.container {
        Some(image) => {
            s.push_str("universe = container\n");
            s.push_str(&format!("container_image = {image}\n"));
        }
        None => s.push_str("universe = vanilla\n"),
    }
    s.push_str(&format!(
        "# The holdadvisor binary travels with the job: the pool needs nothing installed.\n\
         executable = {EXECUTABLE}\ntransfer_executable = true\n\
         should_transfer_files = YES\nwhen_to_transfer_output = ON_EXIT\n\
         request_cpus = 1\nrequest_memory = {}\nrequest_disk = {}\n",
        opts.config.request_memory_mb, disk_kb
    ));
    if gpu {
        s.push_str(
            "# --gpu: one GPU; the binary must be a tch build (cargo build --release --features tch)\n\
             request_gpus = 1\n",
        );
    }
    s.push_str("output = logs/$(JOB).$(Cluster).out\nerror = logs/$(JOB).$(Cluster).err\n");
    s
}

fn prepare_submit(opts: &Options, disk_kb: u64) -> String {
    let mut s = common(
        opts,
        disk_kb,
        "prepare: read the logs once, fix the split, write the dataset every training node reads.",
        false,
    );
    s.push_str(&format!(
        "arguments = \"dag node prepare --input input --sweep sweep.json --out {DATASET}\"\n\
         transfer_input_files = input,sweep.json\n\
         transfer_output_files = {DATASET}\nqueue\n"
    ));
    s
}

fn train_submit(opts: &Options, disk_kb: u64) -> String {
    let mut s = common(
        opts,
        disk_kb,
        "train_K: one hyperparameter point (run_K/point.json) trained to early stopping.\n\
         # run_K travels both ways: its checkpoints come back when the job exits, even when it\n\
         # fails, so a RETRY resumes from the last epoch instead of starting over.",
        opts.gpu,
    );
    let device = if opts.gpu { " --device cuda" } else { "" };
    s.push_str(&format!(
        "arguments = \"dag node train --run run_$(k) --data {DATASET}{device}\"\n\
         transfer_input_files = {DATASET},run_$(k)\n\
         transfer_output_files = run_$(k)\nqueue\n"
    ));
    s
}

fn select_submit(opts: &Options, disk_kb: u64, n: usize) -> String {
    let mut s = common(
        opts,
        disk_kb,
        "select: the best run by the sweep's validation metric, evaluated once on the test split.",
        false,
    );
    let runs: Vec<String> = (1..=n).map(run_dir).collect();
    s.push_str(&format!(
        "arguments = \"dag node select --sweep sweep.json --data {DATASET} --out {SELECTED} {}\"\n\
         transfer_input_files = {DATASET},sweep.json,{}\n\
         transfer_output_files = {SELECTED}\nqueue\n",
        runs.join(" "),
        runs.join(",")
    ));
    s
}

fn dagman_config(opts: &Options) -> String {
    format!(
        "# DAGMan configuration of this workflow (CONFIG in train.dag).\n\
         # At most this many node jobs in the queue at once (training nodes are further limited\n\
         # by `MAXJOBS training` in train.dag).\n\
         DAGMAN_MAX_JOBS_SUBMITTED = {}\n",
        opts.config.max_parallel + 1
    )
}

/// The DAG file.
pub fn dag_text(opts: &Options, n: usize) -> String {
    let post = format!("{EXECUTABLE} dag node post $JOB $RETURN");
    let mut s = format!(
        "# holdadvisor training sweep: {n} point(s), selected by {} validation {}.\n\
         # Generated by `holdadvisor dag`. Submit with: condor_submit_dag {DAG_FILE}\n\
         # Run without HTCondor with: holdadvisor dag run .\n\n\
         CONFIG dagman.config\n\
         JOBSTATE_LOG {DAG_FILE}.jobstate.log\n\
         NODE_STATUS_FILE {DAG_FILE}.status 10\n\n",
        match opts.config.goal() {
            crate::sweep::Goal::Max => "max",
            crate::sweep::Goal::Min => "min",
        },
        opts.config.metric
    );
    s.push_str("# Parse the logs once and fix the split.\n");
    s.push_str("JOB prepare prepare.sub\n");
    s.push_str(&format!("SCRIPT POST prepare {post}\n"));
    s.push_str(&format!("RETRY prepare 2 UNLESS-EXIT {HOPELESS}\n\n"));
    s.push_str(&format!(
        "# One node per point; a POST script judges run_K/metrics.json. Exit {HOPELESS} means\n\
         # hopeless (bad configuration, unusable data): no retry.\n"
    ));
    for k in 1..=n {
        let node = train_node(k);
        s.push_str(&format!("JOB {node} train.sub\n"));
        s.push_str(&format!("VARS {node} k=\"{k}\"\n"));
        s.push_str(&format!("CATEGORY {node} training\n"));
        s.push_str(&format!("SCRIPT POST {node} {post}\n"));
        s.push_str(&format!(
            "RETRY {node} {} UNLESS-EXIT {HOPELESS}\n",
            opts.config.retries
        ));
    }
    s.push_str(&format!(
        "MAXJOBS training {}\n\n",
        opts.config.max_parallel
    ));
    s.push_str("# Pick the best run, evaluate it once on the test split, write the report.\n");
    s.push_str("JOB select select.sub\n");
    s.push_str(&format!("SCRIPT POST select {post}\n"));
    s.push_str(&format!("RETRY select 1 UNLESS-EXIT {HOPELESS}\n\n"));
    let trains: Vec<String> = (1..=n).map(train_node).collect();
    s.push_str(&format!("PARENT prepare CHILD {}\n", trains.join(" ")));
    s.push_str(&format!("PARENT {} CHILD select\n", trains.join(" ")));
    s
}

fn readme(
    opts: &Options,
    disk_kb: u64,
    out_abs: &Path,
    points: &[crate::sweep::Point],
    logs: &[String],
) -> String {
    let mut table = String::from(
        "| node | layers | hidden | learning rate | batch | dropout | window (s) | seq_len |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for (i, p) in points.iter().enumerate() {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            train_node(i + 1),
            p.num_layers,
            p.hidden_size,
            p.learning_rate,
            p.batch_size,
            p.dropout,
            p.window_seconds,
            p.seq_len
        ));
    }
    let model = out_abs.join(SELECTED).join("model");
    let gpu = if opts.gpu {
        "\nThis workflow requests a GPU (`request_gpus = 1`) and trains with `--device cuda`: the \
         `holdadvisor` binary in this directory must be a tch build (`cargo build --release \
         --features tch`, LibTorch available on the execute node or in the container image).\n"
    } else {
        ""
    };
    let disk = match opts.config.request_disk_mb {
        Some(mb) => format!("{mb} MB of disk (`request_disk_mb` in `sweep.json`)"),
        None => format!(
            "{} MB of disk, sized from this workflow: the binary, twice the logs and 256 MB \
             (`request_disk_mb` in `sweep.json` sets it instead)",
            disk_kb / 1024
        ),
    };
    let resources = format!(
        "\n## Resources\n\nEvery node's job asks for 1 CPU, {} MB of memory \
         (`request_memory_mb`) and {disk}. To change them, give `holdadvisor dag` a sweep \
         configuration (`--sweep-config`, with the keys of `sweep.json` here) and generate the \
         workflow again. A job that asks for more than any slot offers stays idle; \
         `condor_q -better-analyze` says why.\n",
        opts.config.request_memory_mb
    );
    let container = match &opts.container {
        Some(i) => {
            format!("\nEvery node runs in the container image `{i}` (container universe).\n")
        }
        None => String::new(),
    };
    format!(
        "# holdadvisor training sweep\n\n\
         {n} hyperparameter point(s) over {nlogs} event log(s) ({logs}), as an HTCondor DAGMan \
         workflow. The winner is the run with the best validation `{metric}` ({goal}).\n\n\
         ## Run it\n\n\
         On an HTCondor access point, from this directory:\n\n\
         ```\n\
         condor_submit_dag {DAG_FILE}\n\
         holdadvisor dag status .      # or: condor_q -dag -nobatch\n\
         ```\n\n\
         Without HTCondor (same node commands, same state files, K nodes at a time):\n\n\
         ```\n\
         holdadvisor dag run . --jobs 2\n\
         ```\n\n\
         ## The nodes\n\n\
         - `prepare`: reads the logs in `input/` once, merges them into one time-ordered event log \
         (`{DATASET}/EventLog`, the same episodes as the originals, checked by hash; a plain copy \
         when the round trip differs) and fixes the split (by hold time, fractions from \
         `sweep.json`), written to `{DATASET}/dataset.json`. The models crate has no encoded shard \
         format: each training node encodes the episodes itself with its own window and length.\n\
         - `train_K` (in parallel, at most `MAXJOBS training`): trains `run_K/point.json` to early \
         stopping in one job, checkpointing every epoch into `run_K/model/checkpoints`. `run_K` \
         is transferred both ways, so `RETRY` resumes from the last checkpoint. Validation metrics \
         land in `run_K/metrics.json`; its POST script fails the node when they are missing; exit \
         {HOPELESS} (bad configuration or unusable data) stops retries.\n\
         - `select`: picks the best run by validation `{metric}`, evaluates it once on the test split, \
         and writes `{SELECTED}/report.md` (with `validation.svg`), `{SELECTED}/choice.json` and the \
         chosen model in `{SELECTED}/model`.\n\n\
         {table}\n\
         ## Use the chosen model\n\n\
         ```\n\
         holdadvisor q --model {model}\n\
         # or for every command: export HOLDADVISOR_MODEL={model}\n\
         # or in ~/.config/holdadvisor/config.toml: model = \"{model}\"\n\
         ```\n\
         {gpu}{container}{resources}\n\
         ## Failures and restarts\n\n\
         A failed training node is retried (`RETRY`) and resumes from its checkpoint. If the DAG \
         fails, DAGMan writes `{DAG_FILE}.rescue001`; fix the cause and run `condor_submit_dag \
         {DAG_FILE}` again: finished nodes are not redone. `holdadvisor dag run .` follows the \
         same rule (it reads `{DAG_FILE}.jobstate.log`), and re-runs a finished node whose outputs \
         were deleted.\n",
        n = points.len(),
        nlogs = logs.len(),
        logs = logs.join(", "),
        metric = opts.config.metric,
        goal = match opts.config.goal() {
            crate::sweep::Goal::Max => "highest wins",
            crate::sweep::Goal::Min => "lowest wins",
        },
        model = model.display(),
    )
}
