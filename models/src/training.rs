//! Training: a hand-written loop with burn's Adam, early stopping on several validation
//! metrics, a checkpoint per epoch (resumable), per-epoch metrics as JSON lines; an ensemble
//! of such runs from different seeds, and Platt calibration of the ensemble's mean logit on
//! the validation split at the end.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::data::{
    Batch, Batcher, Sample, Split, SplitKind, assign_splits, cap_cluster_weight, data_hash,
    label_counts, samples, scored_samples,
};
use crate::encode::{EncoderConfig, Episode, EpisodeInput};
use crate::inference::{ensemble_logits, model_logits};
use crate::labels::CensoredPolicy;
use crate::metrics::{Metrics, metrics};
use crate::model::{HoldModel, ModelConfig, weighted_bce_with_logits};
use crate::model_dir::{
    Calibration, Manifest, MemberManifest, SplitCounts, member_dir, save_model_dir,
};
use crate::rng::Rng;

/// Everything that decides a training run; saved as `training.json` beside the model.
#[derive(Config, Debug)]
pub struct TrainingConfig {
    /// The network (its `input_size` is set from the encoder).
    pub model: ModelConfig,
    pub encoder: EncoderConfig,
    #[config(default = 40)]
    pub max_epochs: usize,
    #[config(default = 64)]
    pub batch_size: usize,
    #[config(default = 2e-3)]
    pub learning_rate: f64,
    #[config(default = 42)]
    pub seed: u64,
    /// Stop when no watched validation metric (ROC AUC, log loss, Brier) improved for this
    /// many epochs ...
    #[config(default = 6)]
    pub patience: usize,
    /// ... or when validation ROC AUC falls more than this fraction below its best.
    #[config(default = 0.1)]
    pub max_drop: f64,
    #[config(default = "SplitKind::Time")]
    pub split: SplitKind,
    #[config(default = 0.6)]
    pub train_fraction: f64,
    #[config(default = 0.2)]
    pub validation_fraction: f64,
    #[config(default = "CensoredPolicy::Exclude")]
    pub censored: CensoredPolicy,
    /// Weigh positives by negatives/positives in the loss (imbalanced data).
    #[config(default = false)]
    pub class_weighted: bool,
    /// The most weight one ClusterId's holds carry together, in the loss and in the
    /// calibration fit (none: no cap; see [`cap_cluster_weight`]). Optional so that models
    /// saved before it existed still load.
    pub cluster_weight_cap: Option<f32>,
    /// Fit Platt scaling on the validation split.
    #[config(default = true)]
    pub calibrate: bool,
    /// Members of the ensemble: networks trained alike from different seeds, each with its
    /// own early stopping, whose mean logit is the prediction. On seeded simulated pools the
    /// mean of three was better calibrated on the later test split than most single runs
    /// (README, "Accuracy").
    #[config(default = 3)]
    pub ensemble: usize,
    /// Also train the reference (m, j*e) encoder with the same network, into `reference/`.
    #[config(default = true)]
    pub train_reference: bool,
}

impl TrainingConfig {
    /// The defaults, with our encoder.
    pub fn default_ours() -> TrainingConfig {
        TrainingConfig::new(
            ModelConfig::new(crate::encode::OURS_WIDTH),
            EncoderConfig::ours(),
        )
    }

    /// The splits this config gives these episodes.
    pub fn splits(&self, episodes: &[Episode]) -> Vec<Split> {
        assign_splits(
            episodes,
            self.split,
            self.train_fraction,
            self.validation_fraction,
            self.seed,
        )
    }
}

/// How to run a training (not part of the model).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub backend: Backend,
    /// Resume from `OUT/checkpoints` when it holds a run of the same data and config.
    pub resume: bool,
    /// Progress on standard error.
    pub progress: bool,
    /// Recorded in the manifest: where the data came from.
    pub data_note: String,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            backend: Backend::Flex,
            resume: false,
            progress: false,
            data_note: String::new(),
        }
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub validation: Metrics,
    pub seconds: f64,
    pub improved: Vec<String>,
    pub best_epoch: usize,
}

/// Progress of a run, saved after every epoch (`checkpoints/state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunState {
    data_hash: String,
    config_json: String,
    epochs_done: usize,
    best_epoch: usize,
    best_auc: f64,
    best_log_loss: f64,
    best_brier: f64,
    bad_epochs: usize,
    stopped: Option<String>,
}

/// What a finished training returns.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub manifest: Manifest,
    pub dir: PathBuf,
    pub stop_reason: String,
}

/// The optimiser every training uses: Adam, gradients clipped to norm 1.
pub fn optimizer() -> ModuleOptimizer {
    AdamConfig::new()
        .with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
        .init()
}

/// One optimisation step on a batch (the training loop's body, also what `lstm_bench` times):
/// forward, weighted BCE, backward, Adam. `model` lives on an autodiff device. Returns the
/// updated model and the batch's loss.
pub fn train_step(
    model: HoldModel,
    optim: &mut ModuleOptimizer,
    batch: Batch,
    learning_rate: f64,
) -> (HoldModel, f32) {
    let logits = model.forward_time_major(batch.inputs);
    let loss = weighted_bce_with_logits(logits, batch.targets, batch.weights);
    let grads = loss.backward();
    let value = loss.into_scalar::<f32>();
    let grads = GradientsParams::from_grads(grads, &model);
    (optim.step(learning_rate, model, grads), value)
}

/// The seed of member `k`: the configured seed for the first, spread apart for the others.
fn member_seed(seed: u64, k: usize) -> u64 {
    seed.wrapping_add((k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// What every member of one training shares.
struct Run<'a> {
    cfg: &'a TrainingConfig,
    model_cfg: &'a ModelConfig,
    opts: &'a TrainOptions,
    batcher: &'a Batcher<'a>,
    train_set: &'a [Sample],
    valid_inputs: &'a [&'a EpisodeInput],
    valid_labels: &'a [bool],
    data_hash: &'a str,
    config_json: &'a str,
    out: &'a Path,
}

/// Member `k` trained to early stopping (or resumed, or already finished): its best epoch's
/// weights on a plain device, and its run state.
fn train_member(run: &Run, k: usize) -> anyhow::Result<(HoldModel, RunState)> {
    let (cfg, opts) = (run.cfg, run.opts);
    let seed = member_seed(cfg.seed, k);
    let dir = member_dir(run.out, k);
    let ckpt = dir.join("checkpoints");
    std::fs::create_dir_all(&ckpt).with_context(|| format!("creating {}", ckpt.display()))?;
    let who = if cfg.ensemble > 1 {
        format!("member {}/{}, ", k + 1, cfg.ensemble)
    } else {
        String::new()
    };
    let device = opts.backend.device().autodiff();
    device.seed(seed);
    let mut model = run.model_cfg.init(&device);
    let mut optim = optimizer();
    let state_path = ckpt.join("state.json");
    let mut state = RunState {
        data_hash: run.data_hash.to_string(),
        config_json: run.config_json.to_string(),
        epochs_done: 0,
        best_epoch: 0,
        best_auc: f64::NEG_INFINITY,
        best_log_loss: f64::INFINITY,
        best_brier: f64::INFINITY,
        bad_epochs: 0,
        stopped: None,
    };
    if opts.resume && state_path.is_file() {
        let saved: RunState = std::fs::read_to_string(&state_path)
            .map_err(anyhow::Error::from)
            .and_then(|t| serde_json::from_str(&t).map_err(anyhow::Error::from))
            .with_context(|| {
                format!(
                    "cannot resume: {} is not a whole run state",
                    state_path.display()
                )
            })?;
        ensure!(
            saved.data_hash == run.data_hash,
            "cannot resume: the checkpoints were made from other data ({} vs {})",
            saved.data_hash,
            run.data_hash
        );
        ensure!(
            saved.config_json == run.config_json,
            "cannot resume: the checkpoints were made with another training config"
        );
        if saved.epochs_done > 0 {
            let rec = ModuleRecord::load(ckpt.join("last.bpk"))
                .map_err(|e| anyhow::anyhow!("loading checkpoint: {e}"))?;
            model = model.load_record(rec);
            optim = optim
                .load(ckpt.join("optim.bpk"))
                .map_err(|e| anyhow::anyhow!("loading optimizer state: {e}"))?;
            if opts.progress {
                eprintln!(
                    "{who}resuming after epoch {} (best {} at epoch {})",
                    saved.epochs_done, saved.best_auc, saved.best_epoch
                );
            }
        }
        state = saved;
        forget_unsaved_epochs(&dir.join("metrics.jsonl"), state.epochs_done)?;
    } else {
        let _ = std::fs::remove_file(dir.join("metrics.jsonl"));
    }

    let mut order: Vec<Sample> = run.train_set.to_vec();
    let batches = order.len().div_ceil(cfg.batch_size.max(1));
    let tty = opts.progress && std::io::stderr().is_terminal();
    let mut epoch = state.epochs_done;
    while state.stopped.is_none() && epoch < cfg.max_epochs {
        epoch += 1;
        let started = std::time::Instant::now();
        Rng::new(seed.wrapping_add(epoch as u64)).shuffle(&mut order);
        let mut loss_sum = 0.0;
        for (b, chunk) in order.chunks(cfg.batch_size.max(1)).enumerate() {
            let batch = run.batcher.batch(chunk, &device);
            let loss;
            (model, loss) = train_step(model, &mut optim, batch, cfg.learning_rate);
            loss_sum += loss as f64 * chunk.len() as f64;
            if tty {
                let done = (b + 1) * 30 / batches;
                eprint!(
                    "\r{who}epoch {epoch:>3}/{} [{}{}] {:>5}/{batches} loss {:.4}",
                    cfg.max_epochs,
                    "#".repeat(done),
                    "-".repeat(30 - done),
                    b + 1,
                    loss_sum / ((b * cfg.batch_size + chunk.len()) as f64)
                );
            }
        }
        let train_loss = loss_sum / order.len() as f64;
        let valid_model = model.valid();
        let logits = model_logits(&valid_model, run.valid_inputs, &device.clone().inner());
        let probs: Vec<f32> = logits.iter().map(|&l| 1.0 / (1.0 + (-l).exp())).collect();
        let m = metrics(&probs, run.valid_labels);
        let auc = m.roc_auc.unwrap_or(0.5);
        let mut improved = Vec::new();
        if auc > state.best_auc + 1e-4 {
            improved.push("roc_auc".to_string());
        }
        if m.log_loss < state.best_log_loss - 1e-4 {
            improved.push("log_loss".to_string());
            state.best_log_loss = m.log_loss;
        }
        if m.brier < state.best_brier - 1e-4 {
            improved.push("brier".to_string());
            state.best_brier = m.brier;
        }
        // The kept model: best validation ROC AUC.
        if auc > state.best_auc {
            state.best_auc = auc;
            state.best_epoch = epoch;
            model
                .clone()
                .save_file(ckpt.join("best.new.bpk"))
                .map_err(|e| anyhow::anyhow!("saving checkpoint: {e}"))?;
            std::fs::rename(ckpt.join("best.new.bpk"), ckpt.join("best.bpk"))?;
        }
        state.bad_epochs = if improved.is_empty() {
            state.bad_epochs + 1
        } else {
            0
        };
        if state.bad_epochs >= cfg.patience {
            state.stopped = Some(format!(
                "no validation metric improved for {} epochs",
                cfg.patience
            ));
        } else if auc < state.best_auc * (1.0 - cfg.max_drop) {
            state.stopped = Some(format!(
                "validation ROC AUC {auc:.4} fell more than {:.0}% below its best {:.4}",
                cfg.max_drop * 100.0,
                state.best_auc
            ));
        }
        state.epochs_done = epoch;
        let rec = EpochRecord {
            epoch,
            train_loss,
            validation: m,
            seconds: started.elapsed().as_secs_f64(),
            improved,
            best_epoch: state.best_epoch,
        };
        if tty {
            eprint!("\r\x1b[2K");
        }
        if opts.progress {
            eprintln!(
                "{who}epoch {epoch:>3}/{}: train loss {train_loss:.4}, validation AUC {auc:.4} log loss {:.4} Brier {:.4} ({:.1} s){}",
                cfg.max_epochs,
                rec.validation.log_loss,
                rec.validation.brier,
                rec.seconds,
                if state.best_epoch == epoch { " *" } else { "" }
            );
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("metrics.jsonl"))?;
        writeln!(f, "{}", serde_json::to_string(&rec)?)?;
        // Each file is written whole under another name and renamed over the last one, the
        // state last: a job preempted while saving leaves the previous epoch's checkpoint,
        // never a torn one that no retry could resume from.
        let (last, optim_path) = (ckpt.join("last.bpk"), ckpt.join("optim.bpk"));
        let (last_new, optim_new) = (ckpt.join("last.new.bpk"), ckpt.join("optim.new.bpk"));
        model
            .clone()
            .save_file(&last_new)
            .map_err(|e| anyhow::anyhow!("saving checkpoint: {e}"))?;
        optim
            .save(&optim_new)
            .map_err(|e| anyhow::anyhow!("saving optimizer state: {e}"))?;
        std::fs::rename(&last_new, &last)?;
        std::fs::rename(&optim_new, &optim_path)?;
        let state_new = ckpt.join("state.new.json");
        std::fs::write(&state_new, serde_json::to_string_pretty(&state)?)?;
        std::fs::rename(&state_new, &state_path)?;
    }
    // The best epoch's weights, on a plain device.
    let rec = ModuleRecord::load(ckpt.join("best.bpk"))
        .map_err(|e| anyhow::anyhow!("loading best checkpoint: {e}"))?;
    let best = run
        .model_cfg
        .init(&opts.backend.device())
        .load_record(rec)
        .valid();
    Ok((best, state))
}

/// Drops the lines of epochs after `epochs_done` from `metrics.jsonl`. An epoch's line is
/// written before its checkpoint and state: a run stopped between the two leaves a line for
/// an epoch that resuming trains again, and would list it twice.
fn forget_unsaved_epochs(path: &Path, epochs_done: usize) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let saved = |line: &str| {
        serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v["epoch"].as_u64())
            .is_some_and(|e| e <= epochs_done as u64)
    };
    let kept: String = text
        .lines()
        .filter(|l| saved(l))
        .map(|l| format!("{l}\n"))
        .collect();
    if kept.len() != text.len() {
        // Written whole, then renamed over: a crash now leaves the old file or the new one.
        let tmp = path.with_extension("jsonl.tmp");
        std::fs::write(&tmp, kept)?;
        std::fs::rename(&tmp, path)?;
    }
    Ok(())
}

/// Trains an ensemble on `episodes` (input `encoder_index` of each) and writes the model
/// directory.
pub fn train(
    episodes: &[Episode],
    encoder_index: usize,
    cfg: &TrainingConfig,
    out: &Path,
    opts: &TrainOptions,
) -> anyhow::Result<TrainOutcome> {
    let (steps, width) = cfg.encoder.shape();
    ensure!(
        episodes
            .iter()
            .all(|e| e.inputs[encoder_index].shape() == (steps, width)),
        "episodes were not encoded with this config's encoder"
    );
    ensure!(
        cfg.ensemble >= 1,
        "the training configuration's ensemble must have at least one member"
    );
    let mut model_cfg = cfg.model.clone();
    model_cfg.input_size = width;
    let splits = cfg.splits(episodes);
    let mut train_set = samples(episodes, &splits, Split::Train, cfg.censored);
    cap_cluster_weight(&mut train_set, episodes, cfg.cluster_weight_cap);
    let valid_set = scored_samples(episodes, &splits, Split::Validation);
    let test_set = scored_samples(episodes, &splits, Split::Test);
    let embargoed = splits.iter().filter(|s| **s == Split::Embargoed).count();
    let embargo_note = if embargoed > 0 {
        format!(
            "; {embargoed} held before a boundary of the time split were decided after it and are left out (the log is short for a time split: give a longer one, or --random-split)"
        )
    } else {
        String::new()
    };
    ensure!(
        !train_set.is_empty(),
        "no labelled training episodes (of {} episodes{embargo_note})",
        episodes.len()
    );
    ensure!(
        !valid_set.is_empty(),
        "no labelled validation episodes: more data or a larger validation fraction needed{embargo_note}"
    );
    let n_pos = train_set.iter().filter(|s| s.target > 0.5).count();
    let positive_weight = if cfg.class_weighted && n_pos > 0 {
        (train_set.len() - n_pos) as f32 / n_pos as f32
    } else {
        1.0
    };
    let batcher = Batcher {
        episodes,
        encoder: encoder_index,
        positive_weight,
    };
    let hash = data_hash(episodes, encoder_index);
    let mut cfg_saved = cfg.clone();
    cfg_saved.model = model_cfg.clone();
    // What must match to resume: everything but the epoch limit (raising it continues a run).
    let config_json = serde_json::to_string(&cfg_saved.clone().with_max_epochs(0))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    cfg_saved.save(out.join("training.json"))?;

    let valid_inputs: Vec<&EpisodeInput> = valid_set
        .iter()
        .map(|s| &episodes[s.episode].inputs[encoder_index])
        .collect();
    let valid_labels: Vec<bool> = valid_set.iter().map(|s| s.target > 0.5).collect();
    let run = Run {
        cfg,
        model_cfg: &model_cfg,
        opts,
        batcher: &batcher,
        train_set: &train_set,
        valid_inputs: &valid_inputs,
        valid_labels: &valid_labels,
        data_hash: &hash,
        config_json: &config_json,
        out,
    };
    let mut members = Vec::with_capacity(cfg.ensemble);
    let mut states = Vec::with_capacity(cfg.ensemble);
    for k in 0..cfg.ensemble {
        let (best, state) = train_member(&run, k)?;
        members.push(best);
        states.push(state);
    }
    let stop = |s: &RunState| {
        s.stopped
            .clone()
            .unwrap_or_else(|| format!("reached {} epochs", cfg.max_epochs))
    };
    let stop_reason = if states.len() == 1 {
        stop(&states[0])
    } else {
        let each: Vec<String> = states
            .iter()
            .enumerate()
            .map(|(k, s)| format!("member {}: {}", k + 1, stop(s)))
            .collect();
        each.join("; ")
    };

    let plain = opts.backend.device();
    let calibration = if cfg.calibrate {
        let logits = ensemble_logits(&members, &valid_inputs, &plain);
        let mut weighted = valid_set.clone();
        cap_cluster_weight(&mut weighted, episodes, cfg.cluster_weight_cap);
        let targets: Vec<f32> = weighted.iter().map(|s| s.target).collect();
        let weights: Vec<f32> = weighted.iter().map(|s| s.weight).collect();
        Calibration::fit(&logits, &targets, &weights)
    } else {
        Calibration::default()
    };
    let score = |set: &[Sample]| -> Option<Metrics> {
        if set.is_empty() {
            return None;
        }
        let inputs: Vec<&EpisodeInput> = set
            .iter()
            .map(|s| &episodes[s.episode].inputs[encoder_index])
            .collect();
        let probs: Vec<f32> = ensemble_logits(&members, &inputs, &plain)
            .into_iter()
            .map(|l| calibration.apply(l))
            .collect();
        let labels: Vec<bool> = set.iter().map(|s| s.target > 0.5).collect();
        Some(metrics(&probs, &labels))
    };
    let manifest = Manifest {
        format: String::new(),
        version: String::new(),
        feature_schema: 0,
        encoder_hash: String::new(),
        weights_hash: String::new(),
        data_hash: hash,
        data_note: opts.data_note.clone(),
        backend: format!("{:?}", opts.backend),
        epochs_run: states[0].epochs_done,
        best_epoch: states[0].best_epoch,
        members: states[1..]
            .iter()
            .enumerate()
            .map(|(i, s)| MemberManifest {
                seed: member_seed(cfg.seed, i + 1),
                weights_hash: String::new(),
                epochs_run: s.epochs_done,
                best_epoch: s.best_epoch,
            })
            .collect(),
        calibration,
        counts: SplitCounts {
            train: label_counts(episodes, &splits, Split::Train),
            validation: label_counts(episodes, &splits, Split::Validation),
            test: label_counts(episodes, &splits, Split::Test),
        },
        validation: score(&valid_set),
        test: score(&test_set),
    };
    let manifest = save_model_dir(out, &members, &model_cfg, &cfg.encoder, manifest)?;
    Ok(TrainOutcome {
        manifest,
        dir: out.to_path_buf(),
        stop_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resuming_forgets_epochs_whose_checkpoint_was_not_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let lines: String = (1..=4).map(|e| format!("{{\"epoch\":{e}}}\n")).collect();
        std::fs::write(&path, &lines).unwrap();
        forget_unsaved_epochs(&path, 2).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"epoch\":1}\n{\"epoch\":2}\n"
        );
        // Nothing to forget: the file is left as it is; no file: nothing to do.
        forget_unsaved_epochs(&path, 2).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
        forget_unsaved_epochs(&dir.path().join("none.jsonl"), 2).unwrap();
    }
}
