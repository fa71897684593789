//! Hyperparameter sweeps for holdadvisor's model as HTCondor DAGMan workflows.
//!
//! What it is for: training belongs on the pool. [`generate::generate`] writes a
//! self-contained workflow directory that an HTCondor user submits with one command:
//!
//! ```text
//! holdadvisor dag --logs EventLog --sweep 8 --out wf     # or --data DIR
//! cd wf && condor_submit_dag train.dag
//! ```
//!
//! The directory holds `train.dag` (nodes `prepare` → `train_1..N` → `select`, with `RETRY n
//! UNLESS-EXIT 42`, `SCRIPT POST` verdicts, `VARS`, `CATEGORY`/`MAXJOBS`, `CONFIG`,
//! `JOBSTATE_LOG` and `NODE_STATUS_FILE`), the submit descriptions (`prepare.sub`,
//! `train.sub`, `select.sub`; the holdadvisor binary itself is the transferred executable), the
//! sweep ([`sweep::SweepConfig`] in `sweep.json`, one `run_K/point.json` training config per
//! point), the logs under `input/`, and a README. The node commands themselves (`holdadvisor
//! dag node prepare|train|select|post`) live in the binary, over the models crate.
//!
//! Without HTCondor, [`run::run_dag`] (`holdadvisor dag run DIR`) runs the same node commands
//! locally in dependency order, K at a time, writing the same state files DAGMan writes
//! ([`state`]), which `holdadvisor dag status DIR` reads whoever wrote them.
//!
//! ```no_run
//! use holdadvisor_dag::{generate, run, sweep};
//! # fn main() -> anyhow::Result<()> {
//! let opts = generate::Options {
//!     logs: vec!["EventLog".into()],
//!     sweep: 3,
//!     config: sweep::SweepConfig { max_epochs: 5, ..Default::default() },
//!     gpu: false,
//!     container: None,
//!     out: "wf".into(),
//!     executable: std::env::current_exe()?,
//! };
//! generate::generate(&opts)?;
//! let summary = run::run_dag("wf".as_ref(), generate::DAG_FILE, &run::RunOptions { jobs: Some(2), progress: true })?;
//! assert_eq!(summary.exit_code, 0);
//! # Ok(()) }
//! ```

pub mod dagfile;
pub mod generate;
pub mod run;
pub mod state;
pub mod sweep;
