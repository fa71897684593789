//! `holdadvisor simulate`: a synthetic pool's event logs, condor_q snapshot and ground truth,
//! written by the [`holdadvisor_simulate`] crate.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::DateTime;
use holdadvisor_simulate::scenario::DEFAULT_SCENARIO;
use holdadvisor_simulate::{LogFormat, Scenario, simulate};

/// Event-log format of the simulated logs.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormatArg {
    #[default]
    Text,
    Json,
}

/// Arguments of `holdadvisor simulate`.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Number of jobs to simulate.
    #[arg(long, default_value_t = 1000)]
    pub jobs: u64,
    /// Random seed; the same seed gives the same output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Scenario file (TOML); keys it leaves out come from the built-in default scenario.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Format of the event logs.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Print the built-in default scenario and exit.
    #[arg(long)]
    pub print_scenario: bool,
}

pub fn run(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    if args.print_scenario {
        print!("{DEFAULT_SCENARIO}");
        return Ok(ExitCode::SUCCESS);
    }
    let text = match &args.scenario {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading scenario {}", p.display()))?,
        ),
        None => None,
    };
    let sc = Scenario::from_toml(text.as_deref())?;
    let format = match args.format {
        FormatArg::Text => LogFormat::Text,
        FormatArg::Json => LogFormat::Json,
    };
    let s = simulate(&sc, args.jobs, args.seed, &args.out, format)?;
    println!(
        "simulated {} jobs in {} clusters: {} events in EventLog (its header and {} job events), {} holds, {} jobs left in the queue; {} .. {} (synthetic data) -> {}",
        s.jobs,
        s.clusters,
        s.events + 1,
        s.events,
        s.holds,
        s.queue,
        fmt_time(s.start),
        fmt_time(s.end),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn fmt_time(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%SZ")
        .to_string()
}
