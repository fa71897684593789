//! The `holdadvisor` binary: argument parsing and dispatch only.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use holdadvisor::commands;

#[derive(Parser)]
#[command(name = "holdadvisor", version, about = "Tells HTCondor users whether a held job is worth releasing or should be removed")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the events of job event logs (text, JSON or XML; detected per file).
    Events(commands::events::EventsArgs),
    /// Simulate an HTCondor pool and write its event logs with known ground truth (synthetic data).
    Simulate(holdadvisor::simulate::SimulateArgs),
    /// Train the hold-outcome model on event logs (time-based split, early stopping, checkpoints).
    Train(commands::train::TrainArgs),
    /// Evaluate a model against baselines on event logs (whole test split).
    Evaluate(commands::evaluate::EvaluateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Events(args) => commands::events::run(&args),
        Command::Simulate(args) => holdadvisor::simulate::run(&args),
        Command::Train(args) => commands::train::run(&args),
        Command::Evaluate(args) => commands::evaluate::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("holdadvisor: {e:#}");
            ExitCode::from(2)
        }
    }
}
