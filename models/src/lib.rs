//! holdadvisor's learning part: from a held job's history and the pool around it, predict
//! P(a release succeeds).
//!
//! The layout follows burn's own examples:
//! - [`labels`]: what a hold episode's label is (defined once, documented there);
//! - [`encode`]: streaming hold-episode extraction from parsed events and the two encoders
//!   (ours, and the reference project's `(m, j*e)` one-hot frames), using only what was known
//!   at the hold;
//! - [`data`]: reading logs, the time-based split, samples and the batcher;
//! - [`model`]: the LSTM (fused gates, burn 0.22) with a linear head, and the weighted BCE;
//! - [`training`]: the training loop, early stopping, checkpoints and resume;
//! - [`model_dir`]: a model directory's layout and manifest;
//! - [`inference`]: loading a model directory, [`inference::Predictor`];
//! - [`decision`]: from a probability to release or remove under a cost model, and regret;
//! - [`metrics`]: ROC AUC, Brier, log loss, reliability bins and ECE;
//! - [`evaluate`]: scoring a model over a whole split against the baselines;
//! - [`gbt`]: gradient-boosted trees on the same encoded holds, the learned baseline;
//! - [`bootstrap`]: how sure those figures are, from resampling whole clusters;
//! - [`cpu_kernel`]: one job's prediction on the CPU as plain loops over the weights;
//! - [`pool_calibration`]: a model's probabilities refitted to one pool's own resolved holds;
//! - [`backend`]: flex or LibTorch, chosen through burn's `Device`;
//! - [`hash`]: the one hash (FNV-1a 64) of data, files and models;
//! - `torch_kernel` (with `tch`): inference on LibTorch through its own fused LSTM kernel.
//!
//! The backend is chosen at run time through burn's `Device`: burn's pure-Rust CPU backend
//! (`flex`) by default, LibTorch with the `tch` feature ([`backend::Backend`]).
//!
//! Predicting for the jobs held now, from a pool's event log:
//!
//! ```no_run
//! use holdadvisor_models::inference::Predictor;
//! use holdadvisor_models::labels::Label;
//! # fn main() -> anyhow::Result<()> {
//! let predictor = Predictor::load("model-dir")?;
//! let (events, _malformed) = holdadvisor_models::data::read_events(&["EventLog".into()])?;
//! let mut stream = predictor.stream();
//! for e in &events {
//!     stream.push(e);
//! }
//! let held: Vec<_> = stream.episodes().iter().filter(|e| e.label == Label::Open && !e.released).collect();
//! let inputs: Vec<_> = held.iter().map(|e| &e.inputs[0]).collect();
//! for (e, p) in held.iter().zip(predictor.predict_refs(&inputs)?) {
//!     println!("{} held (code {}): P(release succeeds) = {p:.2}", e.job, e.code);
//! }
//! # Ok(()) }
//! ```
//!
//! Training is `training::train` on episodes from `data::episodes_of`; the `holdadvisor
//! train` and `holdadvisor evaluate` commands wrap it. [`testkit`] has a tiny synthetic pool
//! for tests: numbers measured on it are not real-world accuracy.

pub mod backend;
pub mod bootstrap;
pub mod cpu_kernel;
pub mod data;
pub mod decision;
pub mod encode;
pub mod evaluate;
pub mod gbt;
pub mod hash;
pub mod inference;
pub mod labels;
pub mod metrics;
pub mod model;
pub mod model_dir;
pub mod pool_calibration;
pub mod rng;
pub mod testkit;
#[cfg(feature = "tch")]
pub mod torch_kernel;
pub mod training;

/// The burn version this crate is built on, for callers that need its traits (e.g. `Config`).
pub use burn;
