//! `holdadvisor train --logs FILES... | --data DIR [--config FILE] --out MODEL_DIR`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use holdadvisor_models::backend::Backend;
use holdadvisor_models::burn::config::Config;
use holdadvisor_models::data::SplitKind;
use holdadvisor_models::data::{data_dir_logs, episodes_of_pools};
use holdadvisor_models::decision::CostModel;
use holdadvisor_models::encode::{EncoderConfig, EncoderKind};
use holdadvisor_models::evaluate::evaluate_model_dir_on;
use holdadvisor_models::labels::CensoredPolicy;
use holdadvisor_models::training::{TrainOptions, TrainingConfig, train};

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Event log files (user logs and/or global event logs, any format).
    #[arg(long, num_args = 1.., required_unless_present = "data", conflicts_with = "data")]
    pub logs: Vec<PathBuf>,
    /// Directories written by `holdadvisor simulate` (their EventLog), or of *.log files; each
    /// is a separate pool (pool context never mixes; the time split orders all episodes).
    #[arg(long, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Training configuration (JSON, the `training.json` of a model directory); default: built-in.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The model directory to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue an interrupted run from OUT/checkpoints.
    #[arg(long)]
    pub resume: bool,
    /// Override the configuration's maximum number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Override the seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the number of networks in the ensemble (the configuration's default: 3).
    #[arg(long)]
    pub ensemble: Option<usize>,
    /// Split at random instead of by hold time (leaks the future: for comparison only).
    #[arg(long)]
    pub random_split: bool,
    /// Censored episodes: `exclude` or `weight:W` (as negatives with weight W).
    #[arg(long)]
    pub censored: Option<String>,
    /// Weigh positives by negatives/positives in the loss.
    #[arg(long)]
    pub class_weighted: bool,
    /// Cap the total weight of one ClusterId's holds in the loss and the calibration fit
    /// (0: none).
    #[arg(long, value_name = "WEIGHT")]
    pub cluster_weight_cap: Option<f32>,
    /// Do not train the reference (m, j*e) baseline into OUT/reference.
    #[arg(long)]
    pub no_reference: bool,
    /// Backend: flex (default), or cpu / cuda / cuda:N (LibTorch) when built with `--features tch`.
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Where the data came from, recorded in the manifest (e.g. "simulated: holdadvisor simulate --seed 1").
    #[arg(long)]
    pub note: Option<String>,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
    /// Skip the closing verdict (the model's advice on the test split against the pool's
    /// table and the rule policies, as `evaluate` prints it), which reads the logs again.
    #[arg(long = "no-verdict")]
    pub no_verdict: bool,
}

pub fn run(args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = match &args.config {
        Some(p) => TrainingConfig::load(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        None => TrainingConfig::default_ours(),
    };
    if cfg.encoder.kind != EncoderKind::Ours {
        bail!(
            "the configuration's encoder must be `ours` (the reference encoder is trained beside it)"
        );
    }
    if let Some(n) = args.epochs {
        cfg.max_epochs = n;
    }
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if let Some(n) = args.ensemble {
        if n == 0 {
            bail!("--ensemble 0: an ensemble needs at least one network");
        }
        cfg.ensemble = n;
    }
    if args.random_split {
        cfg.split = SplitKind::Random;
    }
    if let Some(c) = &args.censored {
        cfg.censored = CensoredPolicy::parse(c).map_err(anyhow::Error::msg)?;
    }
    if args.class_weighted {
        cfg.class_weighted = true;
    }
    if let Some(c) = args.cluster_weight_cap {
        if !(c >= 0.0 && c.is_finite()) {
            bail!("--cluster-weight-cap {c}: expected a weight of 0 (no cap) or more");
        }
        cfg.cluster_weight_cap = (c > 0.0).then_some(c);
    }
    if args.no_reference {
        cfg.train_reference = false;
    }
    let pools: Vec<Vec<PathBuf>> = if args.data.is_empty() {
        vec![args.logs.clone()]
    } else {
        args.data
            .iter()
            .map(|d| data_dir_logs(d))
            .collect::<anyhow::Result<_>>()?
    };
    let note = args.note.clone().unwrap_or_else(|| {
        if args.data.is_empty() {
            format!("{} log file(s)", args.logs.len())
        } else {
            let dirs: Vec<String> = args.data.iter().map(|d| d.display().to_string()).collect();
            format!("data directories {}", dirs.join(" "))
        }
    });
    let backend = Backend::parse(&args.device)?;
    let reference = EncoderConfig::reference();
    let mut encoders = vec![cfg.encoder.clone()];
    if cfg.train_reference {
        encoders.push(reference.clone());
    }
    let started = std::time::Instant::now();
    let (episodes, stats, malformed) =
        episodes_of_pools(&pools, encoders).context("reading the logs")?;
    if !args.quiet {
        eprintln!(
            "{} distinct events (a job's event repeated at the same moment, as overlapping logs repeat it, counted once; {} malformed skipped, {} out of order), {} hold episodes, encoded in {:.1} s",
            stats.events,
            malformed,
            stats.out_of_order,
            episodes.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let opts = TrainOptions {
        backend,
        resume: args.resume,
        progress: !args.quiet,
        data_note: note,
    };
    let outcome = train(&episodes, 0, &cfg, &args.out, &opts)?;
    report(&outcome.manifest, &outcome.stop_reason, "model", args.quiet);
    if cfg.train_reference {
        let mut rcfg = cfg.clone();
        rcfg.encoder = reference;
        rcfg.train_reference = false;
        if !args.quiet {
            eprintln!("training the reference (m, j*e) encoder with the same network");
        }
        let r = train(&episodes, 1, &rcfg, &args.out.join("reference"), &opts)?;
        report(&r.manifest, &r.stop_reason, "reference", args.quiet);
    }
    println!("model written to {}", args.out.display());
    if !args.quiet && !args.no_verdict {
        print_verdict(args, backend);
    }
    Ok(ExitCode::SUCCESS)
}

/// The one-line verdict on the test split, as `evaluate` gives it: one pool only (the
/// decisions are scored within a pool).
fn print_verdict(args: &TrainArgs, backend: Backend) {
    let logs = match (&args.logs[..], &args.data[..]) {
        (logs, []) if !logs.is_empty() => logs.to_vec(),
        ([], [one]) => match data_dir_logs(one) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("verdict: none ({e:#})");
                return;
            }
        },
        _ => {
            eprintln!("verdict: several pools; run `holdadvisor evaluate` on each");
            return;
        }
    };
    match evaluate_model_dir_on(
        &args.out,
        &logs,
        "test",
        "the training logs",
        None,
        backend,
        CostModel::default(),
    ) {
        Ok((report, _)) => match report.decisions.and_then(|d| d.verdict) {
            Some(v) => eprintln!("{}", v.line),
            None => eprintln!("verdict: none (no decisions on the test split)"),
        },
        Err(e) => eprintln!("verdict: none ({e:#})"),
    }
}

fn report(m: &holdadvisor_models::model_dir::Manifest, stop: &str, what: &str, quiet: bool) {
    if quiet {
        return;
    }
    let auc = |x: &Option<holdadvisor_models::metrics::Metrics>| {
        x.as_ref()
            .and_then(|m| m.roc_auc)
            .map_or("n/a".into(), |a| format!("{a:.4}"))
    };
    eprintln!(
        "{what}: {}{} epochs ({stop}), best epoch {}; validation ROC AUC {}, test ROC AUC {} ({})",
        if m.members.is_empty() {
            String::new()
        } else {
            format!("{} networks; the first: ", m.members.len() + 1)
        },
        m.epochs_run,
        m.best_epoch,
        auc(&m.validation),
        auc(&m.test),
        m.data_note
    );
}
