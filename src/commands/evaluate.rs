//! `holdadvisor evaluate --model DIR --logs ... [--json] [--predictions FILE.csv] [--report DIR]`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use holdadvisor_models::backend::Backend;
use holdadvisor_models::data::data_dir_logs;
use holdadvisor_models::decision::CostModel;
use holdadvisor_models::evaluate::{PREDICTIONS_HEADER, evaluate_model_dir_on};

#[derive(clap::Args, Debug)]
pub struct EvaluateArgs {
    /// The model directory (from `holdadvisor train`).
    #[arg(long)]
    pub model: PathBuf,
    /// Event log files to evaluate on.
    #[arg(long, num_args = 1.., required_unless_present = "data", conflicts_with = "data")]
    pub logs: Vec<PathBuf>,
    /// A directory written by `holdadvisor simulate`, instead of --logs.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Which episodes to score: `test` (the model's time split applied to these logs) or `all`
    /// (for a pool the model never saw).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// The report as JSON on standard output.
    #[arg(long)]
    pub json: bool,
    /// Write one row per hold episode of every split.
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Write a report into this directory: report.md (data notes, metrics tables, confusion
    /// matrix, pictures embedded), report.json, and roc, reliability and training curves as
    /// .svg and .png.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Also score against a simulator's ground truth (default with --data: DIR/truth.jsonl).
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Where the data came from, printed with the figures (e.g. "simulated, seed 2").
    #[arg(long)]
    pub note: Option<String>,
    /// Backend: flex (default), or cpu / cuda / cuda:N (LibTorch) when built with `--features tch`.
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Cost model of the decisions table: hours a release that fails again wastes.
    #[arg(long, default_value_t = CostModel::default().failed_release_hours)]
    pub failed_release_hours: f64,
    /// Hours a removal loses when a release would have worked (work, resubmission, waiting).
    #[arg(long, default_value_t = CostModel::default().lost_work_hours)]
    pub lost_work_hours: f64,
    /// Hours of a person's look at a hold that a release did not settle.
    #[arg(long, default_value_t = CostModel::default().look_hours)]
    pub look_hours: f64,
}

pub fn run(args: &EvaluateArgs) -> anyhow::Result<ExitCode> {
    let logs = match &args.data {
        Some(dir) => data_dir_logs(dir)?,
        None => args.logs.clone(),
    };
    let note = args.note.clone().unwrap_or_else(|| match &args.data {
        Some(d) => format!("data directory {}", d.display()),
        None => logs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
    });
    let truth = match (&args.truth, &args.data) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(d)) if d.join("truth.jsonl").is_file() => Some(d.join("truth.jsonl")),
        _ => None,
    };
    let backend = Backend::parse(&args.device)?;
    let costs = CostModel {
        failed_release_hours: args.failed_release_hours,
        lost_work_hours: args.lost_work_hours,
        look_hours: args.look_hours,
    };
    costs.validate().map_err(anyhow::Error::msg)?;
    let (report, rows) = evaluate_model_dir_on(
        &args.model,
        &logs,
        &args.split,
        &note,
        truth.as_deref(),
        backend,
        costs,
    )?;
    if let Some(path) = &args.predictions {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        writeln!(f, "{PREDICTIONS_HEADER}")?;
        for r in &rows {
            writeln!(f, "{}", r.csv())?;
        }
        f.flush()?;
    }
    if let Some(dir) = &args.report {
        crate::report::write_report(dir, &args.model, &report)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("data: {}", report.data_note);
        print!("{}", report.table());
    }
    Ok(ExitCode::SUCCESS)
}
