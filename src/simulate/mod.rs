//! The pool simulator (issue 3): synthetic event logs with known ground truth.

use std::process::ExitCode;

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
    pub out: std::path::PathBuf,
}

pub fn run(_args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the simulator is not built yet")
}
