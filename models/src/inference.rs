//! Loading a model directory and predicting P(release succeeds).
//!
//! A model directory holds:
//! - `model.bpk`: the weights (burnpack) of the ensemble's first member, and
//!   `members/K/model.bpk` those of member K (2, 3, ...): the prediction is the members' mean
//!   logit, calibrated;
//! - `model.json`: the [`ModelConfig`]; `encoder.json`: the [`EncoderConfig`];
//!   `training.json`: the [`TrainingConfig`](crate::training::TrainingConfig);
//! - `manifest.json`: a [`Manifest`] with the crate version, feature schema, hashes of the
//!   encoder settings and weights, the data hash, label counts and metrics;
//! - `metrics.jsonl` (one line per epoch) and `checkpoints/` (resume), of the first member
//!   here and of the others in `members/K/`;
//! - `reference/`: the reference-encoder baseline, when trained.
//!
//! [`Predictor::load`] refuses a directory whose encoder settings, schema or weights do not
//! match its manifest, so a model is never used with the wrong encoder.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use burn::config::Config;
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::cpu_kernel::CpuLstm;
use crate::data::{LabelCounts, fnv64};
use crate::encode::{EncoderConfig, EpisodeInput, EpisodeStream, FEATURE_SCHEMA};
use crate::evaluate::Metrics;
use crate::model::{HoldModel, ModelConfig, TimeMajor, fuse_ensemble};

/// The `format` of every manifest.
pub const MANIFEST_FORMAT: &str = "holdadvisor-model/1";

/// Which burn backend runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// burn's pure-Rust CPU backend (the default build).
    #[default]
    Flex,
    /// LibTorch on the CPU (`--features tch`).
    #[cfg(feature = "tch")]
    LibTorch,
    /// LibTorch on CUDA device N (`--features tch`).
    #[cfg(feature = "tch")]
    LibTorchCuda(usize),
}

impl Backend {
    /// What `--device` accepts.
    pub const HELP: &'static str = "flex (burn's pure-Rust CPU backend, the default), cpu (LibTorch on the CPU; also `tch`, `libtorch`) or cuda[:N] (LibTorch on CUDA device N); cpu and cuda need holdadvisor built with `--features tch`";

    /// `flex`; `cpu` (also `tch`, `libtorch`): LibTorch on the CPU; `cuda` / `cuda:N`:
    /// LibTorch on a CUDA device. The LibTorch ones fail clearly in a build without `tch`.
    pub fn parse(name: &str) -> anyhow::Result<Backend> {
        let cuda = match name {
            "flex" => return Ok(Backend::Flex),
            "cpu" | "tch" | "libtorch" => None,
            "cuda" => Some(0),
            n if n.starts_with("cuda:") => {
                Some(n["cuda:".len()..].parse::<usize>().map_err(|_| {
                    anyhow::anyhow!("device {name:?}: expected cuda:N with N a device number")
                })?)
            }
            _ => bail!("unknown device {name:?}: expected {}", Backend::HELP),
        };
        #[cfg(feature = "tch")]
        return Ok(match cuda {
            None => Backend::LibTorch,
            Some(n) => Backend::LibTorchCuda(n),
        });
        #[cfg(not(feature = "tch"))]
        {
            let _ = cuda;
            bail!(
                "device {name:?} runs on LibTorch, but this holdadvisor was built without it: rebuild with `cargo build --release --features tch` (README: \"LibTorch (tch) backend\"), or use --device flex"
            )
        }
    }

    /// The name `parse` reads back.
    pub fn name(self) -> String {
        match self {
            Backend::Flex => "flex".into(),
            #[cfg(feature = "tch")]
            Backend::LibTorch => "cpu".into(),
            #[cfg(feature = "tch")]
            Backend::LibTorchCuda(n) => format!("cuda:{n}"),
        }
    }

    /// Whether the device is the machine's CPU (flex, or LibTorch's CPU device): there a few
    /// inputs are predicted by plain loops over the weights ([`CpuLstm`]).
    pub fn is_cpu(self) -> bool {
        match self {
            Backend::Flex => true,
            #[cfg(feature = "tch")]
            Backend::LibTorch => true,
            #[cfg(feature = "tch")]
            Backend::LibTorchCuda(_) => false,
        }
    }

    /// The burn device (without autodiff).
    #[allow(deprecated)]
    pub fn device(self) -> Device {
        match self {
            Backend::Flex => Device::flex(),
            #[cfg(feature = "tch")]
            Backend::LibTorch => Device::libtorch(),
            #[cfg(feature = "tch")]
            Backend::LibTorchCuda(n) => Device::libtorch_cuda(n),
        }
    }
}

/// Platt scaling fitted on the validation split: `p = σ(a·logit + b)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub a: f64,
    pub b: f64,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration { a: 1.0, b: 0.0 }
    }
}

impl Calibration {
    pub fn apply(&self, logit: f32) -> f32 {
        let z = self.a * logit as f64 + self.b;
        (1.0 / (1.0 + (-z).exp())) as f32
    }

    /// Fits (a, b) on held-out logits: Platt's smoothed targets, damped Newton steps with a
    /// small ridge toward the identity, `a` kept in [0.05, 20]. Returns the identity when the
    /// fit does not lower the held-out log-loss or there are fewer than 10 examples.
    pub fn fit(logits: &[f32], targets: &[f32], weights: &[f32]) -> Calibration {
        let identity = Calibration::default();
        if logits.len() < 10 {
            return identity;
        }
        let n_pos: f64 = targets
            .iter()
            .zip(weights)
            .map(|(&y, &w)| f64::from(y) * f64::from(w))
            .sum();
        let n_neg: f64 = weights.iter().map(|&w| f64::from(w)).sum::<f64>() - n_pos;
        let (hi, lo) = ((n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0));
        let smooth: Vec<f64> = targets
            .iter()
            .map(|&y| if y > 0.5 { hi } else { lo })
            .collect();
        let ridge = 1e-3 * (n_pos + n_neg);
        let loss = |a: f64, b: f64| -> f64 {
            let mut l = ridge * ((a - 1.0).powi(2) + b * b);
            for ((&x, &y), &w) in logits.iter().zip(&smooth).zip(weights) {
                let z = a * x as f64 + b;
                // ln(1+e^z) - y z, stable
                l += w as f64 * (z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z);
            }
            l
        };
        let (mut a, mut b) = (1.0f64, 0.0f64);
        let mut current = loss(a, b);
        for _ in 0..100 {
            let (mut ga, mut gb) = (2.0 * ridge * (a - 1.0), 2.0 * ridge * b);
            let (mut haa, mut hab, mut hbb) = (2.0 * ridge + 1e-9, 0.0, 2.0 * ridge + 1e-9);
            for ((&x, &y), &w) in logits.iter().zip(&smooth).zip(weights) {
                let (x, w) = (x as f64, w as f64);
                let p = 1.0 / (1.0 + (-(a * x + b)).exp());
                let r = w * (p - y);
                ga += r * x;
                gb += r;
                let s = w * p * (1.0 - p);
                haa += s * x * x;
                hab += s * x;
                hbb += s;
            }
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-12 {
                break;
            }
            let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
            let mut step = 1.0;
            let mut moved = false;
            while step > 1e-4 {
                let (na, nb) = ((a - step * da).clamp(0.05, 20.0), b - step * db);
                let l = loss(na, nb);
                if l.is_finite() && l < current {
                    (a, b, current) = (na, nb, l);
                    moved = true;
                    break;
                }
                step /= 2.0;
            }
            if !moved || (da.abs() + db.abs()) * step < 1e-9 {
                break;
            }
        }
        if current < loss(1.0, 0.0) {
            Calibration { a, b }
        } else {
            identity
        }
    }
}

/// What a model directory says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    /// holdadvisor-models version that wrote it.
    pub version: String,
    pub feature_schema: u32,
    /// FNV-1a 64 of `encoder.json` and of `model.bpk` as written.
    pub encoder_hash: String,
    pub weights_hash: String,
    /// Hash of the training episodes (identity, label, input values), see `data::data_hash`.
    pub data_hash: String,
    /// Where the data came from, as the trainer said (e.g. "simulated: holdadvisor simulate --seed 1").
    pub data_note: String,
    pub backend: String,
    /// Of the first member.
    pub epochs_run: usize,
    pub best_epoch: usize,
    /// The ensemble's other members, in order (`members/2`, `members/3`, ...); none in a
    /// model of one network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberManifest>,
    /// Platt scaling of the members' mean logit.
    pub calibration: Calibration,
    pub counts: SplitCounts,
    pub validation: Option<Metrics>,
    pub test: Option<Metrics>,
}

/// One further member of an ensemble.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberManifest {
    pub seed: u64,
    /// FNV-1a 64 of its `model.bpk`.
    pub weights_hash: String,
    pub epochs_run: usize,
    pub best_epoch: usize,
}

/// Where the weights of member `k` (0-based) of a model directory are.
pub fn member_weights(dir: &Path, k: usize) -> PathBuf {
    crate::training::member_dir(dir, k).join("model.bpk")
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SplitCounts {
    pub train: LabelCounts,
    pub validation: LabelCounts,
    pub test: LabelCounts,
}

pub fn hash_file(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(format!("{:016x}", fnv64(&bytes)))
}

/// Writes the members' weights, configs and the manifest (its hashes filled in here;
/// `manifest.members` describes `members[1..]`).
pub fn save_model_dir(
    dir: &Path,
    members: &[HoldModel],
    model_cfg: &ModelConfig,
    encoder: &EncoderConfig,
    mut manifest: Manifest,
) -> anyhow::Result<Manifest> {
    ensure!(
        !members.is_empty() && manifest.members.len() + 1 == members.len(),
        "{} networks but a manifest of {} members",
        members.len(),
        manifest.members.len() + 1
    );
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut hashes = Vec::with_capacity(members.len());
    for (k, model) in members.iter().enumerate() {
        let weights = member_weights(dir, k);
        if let Some(parent) = weights.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        model
            .clone()
            .save_file(&weights)
            .map_err(|e| anyhow::anyhow!("saving {}: {e}", weights.display()))?;
        hashes.push(hash_file(&weights)?);
    }
    model_cfg.save(dir.join("model.json"))?;
    encoder.save(dir.join("encoder.json"))?;
    manifest.format = MANIFEST_FORMAT.into();
    manifest.version = env!("CARGO_PKG_VERSION").into();
    manifest.feature_schema = FEATURE_SCHEMA;
    manifest.encoder_hash = hash_file(&dir.join("encoder.json"))?;
    manifest.weights_hash = hashes[0].clone();
    for (m, h) in manifest.members.iter_mut().zip(&hashes[1..]) {
        m.weights_hash = h.clone();
    }
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    Ok(manifest)
}

/// One network of a loaded ensemble.
struct Member {
    model: HoldModel,
    /// On the CPU (flex, or LibTorch's CPU device), the same weights for plain loops, which
    /// predict a few inputs instead: for one job, either backend's per-operation cost is more
    /// than the arithmetic.
    cpu: Option<CpuLstm>,
    /// On LibTorch, the same weights for LibTorch's fused LSTM, which predicts instead.
    #[cfg(feature = "tch")]
    torch: Option<crate::torch_kernel::TorchLstm>,
}

impl Member {
    /// For inputs of `steps` rows.
    fn new(model: HoldModel, backend: Backend, steps: usize) -> anyhow::Result<Member> {
        Ok(Member {
            cpu: backend
                .is_cpu()
                .then(|| CpuLstm::new(&model, steps))
                .transpose()?,
            #[cfg(feature = "tch")]
            torch: crate::torch_kernel::TorchLstm::new(&model, backend)?,
            model,
        })
    }

    /// Raw logits: for a few inputs on the CPU, the plain loops; otherwise LibTorch's kernel
    /// where the member has one; on flex, the plain loops again for sparse batches, or burn.
    fn logits(&self, inputs: &[&EpisodeInput], device: &Device) -> anyhow::Result<Vec<f32>> {
        if let Some(cpu) = &self.cpu
            && inputs.len() <= FEW_INPUTS
        {
            return cpu.logits(inputs);
        }
        #[cfg(feature = "tch")]
        if let Some(torch) = &self.torch {
            return torch.logits(inputs);
        }
        if let Some(cpu) = &self.cpu
            && sparse(inputs)
        {
            return cpu.logits(inputs);
        }
        Ok(model_logits(&self.model, inputs, device))
    }
}

/// Whether the inputs are sparse enough for the plain loops to beat burn's dense products
/// (which cost the same whatever the values): encoded holds are (4–6% of cells non-zero in
/// `bench/scan.sh`'s pool); the random dense inputs of `bench/lstm.sh` are not (there the
/// loops ran at about 0.85x burn's batch throughput).
fn sparse(inputs: &[&EpisodeInput]) -> bool {
    let (cells, size) = inputs.iter().fold((0usize, 0usize), |(c, n), x| {
        let (steps, width) = x.shape();
        (c + x.cells().len(), n + steps * width)
    });
    cells * 4 <= size
}

/// Inputs up to which the CPU backends predict with [`CpuLstm`], and LibTorch on CUDA runs an
/// ensemble as one fused network (see [`fuse_ensemble`]).
const FEW_INPUTS: usize = 8;

/// A loaded model, ready to predict.
pub struct Predictor {
    members: Vec<Member>,
    /// On CUDA, an ensemble's members as one network, for a few inputs at a time.
    fused: Option<Member>,
    device: Device,
    encoder: EncoderConfig,
    config: ModelConfig,
    manifest: Manifest,
    dir: PathBuf,
}

impl std::fmt::Debug for Predictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predictor")
            .field("dir", &self.dir)
            .field("encoder", &self.encoder.kind)
            .finish()
    }
}

impl Predictor {
    /// Loads a model directory on the default backend (flex).
    pub fn load(dir: impl AsRef<Path>) -> anyhow::Result<Predictor> {
        Predictor::load_on(dir, Backend::Flex)
    }

    /// Loads a model directory on a chosen backend. Fails when anything in it does not match
    /// its manifest or this build's feature schema.
    pub fn load_on(dir: impl AsRef<Path>, backend: Backend) -> anyhow::Result<Predictor> {
        let dir = dir.as_ref();
        let manifest: Manifest = serde_json::from_str(
            &std::fs::read_to_string(dir.join("manifest.json")).with_context(|| {
                format!(
                    "{}: not a model directory (no manifest.json)",
                    dir.display()
                )
            })?,
        )
        .with_context(|| format!("{}/manifest.json", dir.display()))?;
        ensure!(
            manifest.format == MANIFEST_FORMAT,
            "{}: manifest format {:?}, expected {MANIFEST_FORMAT:?}",
            dir.display(),
            manifest.format
        );
        ensure!(
            manifest.feature_schema == FEATURE_SCHEMA,
            "{}: model uses feature schema {}, this holdadvisor encodes schema {FEATURE_SCHEMA}: retrain it",
            dir.display(),
            manifest.feature_schema
        );
        let enc_hash = hash_file(&dir.join("encoder.json"))?;
        ensure!(
            enc_hash == manifest.encoder_hash,
            "{}: encoder.json does not match the manifest (edited after training?)",
            dir.display()
        );
        let hashes = std::iter::once(&manifest.weights_hash)
            .chain(manifest.members.iter().map(|m| &m.weights_hash));
        for (k, want) in hashes.enumerate() {
            let weights = member_weights(dir, k);
            ensure!(
                &hash_file(&weights)? == want,
                "{}: does not match the manifest",
                weights.display()
            );
        }
        let encoder = EncoderConfig::load(dir.join("encoder.json"))
            .map_err(|e| anyhow::anyhow!("{}/encoder.json: {e}", dir.display()))?;
        ensure!(
            encoder.schema == FEATURE_SCHEMA,
            "{}: encoder schema {} differs from {FEATURE_SCHEMA}",
            dir.display(),
            encoder.schema
        );
        let config = ModelConfig::load(dir.join("model.json"))
            .map_err(|e| anyhow::anyhow!("{}/model.json: {e}", dir.display()))?;
        let (_, width) = encoder.shape();
        ensure!(
            config.input_size == width,
            "{}: model input {} but encoder writes {width} features",
            dir.display(),
            config.input_size
        );
        let device = backend.device();
        let (steps, _) = encoder.shape();
        let mut members = Vec::with_capacity(manifest.members.len() + 1);
        for k in 0..=manifest.members.len() {
            let weights = member_weights(dir, k);
            let record = ModuleRecord::load(&weights)
                .map_err(|e| anyhow::anyhow!("{}: {e}", weights.display()))?;
            let model = config
                .init(&device)
                .try_load_record(record)
                .map_err(|e| anyhow::anyhow!("{}: {e}", weights.display()))?
                .valid();
            members.push(
                Member::new(model, backend, steps).with_context(|| {
                    format!("{}: copying weights to LibTorch", weights.display())
                })?,
            );
        }
        // The plain loops take the members one by one at the cost of their arithmetic alone;
        // LibTorch's kernel has a per-call cost, which fusing pays once.
        let fused = if members.len() > 1 && !backend.is_cpu() {
            let models: Vec<HoldModel> = members.iter().map(|m| m.model.clone()).collect();
            Some(
                Member::new(fuse_ensemble(&models, &device), backend, steps)
                    .with_context(|| format!("{}: the fused ensemble", dir.display()))?,
            )
        } else {
            None
        };
        Ok(Predictor {
            members,
            fused,
            device,
            encoder,
            config,
            manifest,
            dir: dir.to_path_buf(),
        })
    }

    pub fn encoder(&self) -> &EncoderConfig {
        &self.encoder
    }
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A fresh episode stream with this model's encoder: feed it the pool's events in time
    /// order, then predict for its episodes' `inputs[0]` (e.g. those still [`Label::Open`]
    /// and not released: the jobs held now).
    ///
    /// [`Label::Open`]: crate::labels::Label::Open
    pub fn stream(&self) -> EpisodeStream {
        EpisodeStream::new(vec![self.encoder.clone()])
    }

    /// Calibrated P(release succeeds) for each input (batched internally).
    pub fn predict(&self, inputs: &[EpisodeInput]) -> anyhow::Result<Vec<f32>> {
        let refs: Vec<&EpisodeInput> = inputs.iter().collect();
        self.predict_refs(&refs)
    }

    /// As [`predict`](Self::predict), for borrowed inputs.
    pub fn predict_refs(&self, inputs: &[&EpisodeInput]) -> anyhow::Result<Vec<f32>> {
        let logits = self.logits(inputs)?;
        Ok(logits
            .into_iter()
            .map(|l| self.manifest.calibration.apply(l))
            .collect())
    }

    /// One input.
    pub fn predict_one(&self, input: &EpisodeInput) -> anyhow::Result<f32> {
        Ok(self.predict_refs(&[input])?[0])
    }

    /// Networks in the ensemble.
    pub fn members(&self) -> usize {
        self.members.len()
    }

    /// Raw logits (before calibration): the members' mean.
    pub fn logits(&self, inputs: &[&EpisodeInput]) -> anyhow::Result<Vec<f32>> {
        let (steps, width) = self.encoder.shape();
        for x in inputs {
            if x.shape() != (steps, width) {
                let (s, w) = x.shape();
                bail!(
                    "input of shape ({s}, {w}) but this model's encoder writes ({steps}, {width})"
                );
            }
        }
        if let Some(fused) = &self.fused
            && inputs.len() <= FEW_INPUTS
        {
            return fused.logits(inputs, &self.device);
        }
        let each = self.members.iter().map(|m| m.logits(inputs, &self.device));
        mean_logits(inputs.len(), each)
    }
}

/// The element-wise mean of the members' logits.
fn mean_logits(
    len: usize,
    members: impl ExactSizeIterator<Item = anyhow::Result<Vec<f32>>>,
) -> anyhow::Result<Vec<f32>> {
    let n = members.len().max(1) as f32;
    let mut sum = vec![0f32; len];
    for logits in members {
        for (s, l) in sum.iter_mut().zip(logits?) {
            *s += l;
        }
    }
    sum.iter_mut().for_each(|s| *s /= n);
    Ok(sum)
}

/// The mean logit of an ensemble's members (see [`model_logits`]).
pub fn ensemble_logits(
    members: &[HoldModel],
    inputs: &[&EpisodeInput],
    device: &Device,
) -> Vec<f32> {
    let each = members.iter().map(|m| Ok(model_logits(m, inputs, device)));
    mean_logits(inputs.len(), each).expect("flex inference does not fail")
}

/// Episodes per forward pass at inference.
const BATCH: usize = 1024;

/// Logits of a model for inputs, on `device`.
///
/// Exact, but cheaper than one [`HoldModel::forward`] over everything: inputs are grouped by
/// how many padding rows they start with, and each group starts from the state the model
/// reaches after that much padding ([`HoldModel::zero_prefix_states`]) and runs only its real
/// steps (a held job's history is often a handful of events out of 16). Groups are batched
/// and split over the available cores.
pub fn model_logits(model: &HoldModel, inputs: &[&EpisodeInput], device: &Device) -> Vec<f32> {
    let Some(first) = inputs.first() else {
        return Vec::new();
    };
    let (steps, width) = first.shape();
    // (padding, index), sorted so that each group is contiguous.
    let mut order: Vec<(usize, usize)> = inputs
        .iter()
        .enumerate()
        .map(|(i, x)| (x.padding_rows(), i))
        .collect();
    order.sort_unstable();
    // Only as far as the most padded input: for one job (a `q`), the prefix for every
    // possible padding cost as much again as the job itself.
    let most_padding = order.last().map_or(0, |&(p, _)| p);
    let prefix = model.zero_prefix_states(most_padding, device);
    let mut batches: Vec<&[(usize, usize)]> = Vec::new();
    for group in order.chunk_by(|a, b| a.0 == b.0) {
        batches.extend(group.chunks(BATCH));
    }
    let run = |batch: &[(usize, usize)]| -> Vec<(usize, f32)> {
        let padding = batch[0].0;
        let real = steps - padding;
        // Time-major: step s of every sequence, then step s + 1, ...
        let mut values = vec![0f32; batch.len() * real * width];
        for (slot, &(_, i)) in batch.iter().enumerate() {
            inputs[i].write_time_major(padding, slot, batch.len(), &mut values);
        }
        let x = TimeMajor {
            x: Tensor::from_data(TensorData::new(values, [real * batch.len(), width]), device),
            batch: batch.len(),
        };
        let y = model.forward_from(x, &prefix[padding]).into_data();
        batch.iter().map(|&(_, i)| i).zip(y.iter::<f32>()).collect()
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(batches.len().max(1));
    let results: Vec<Vec<(usize, f32)>> = if threads <= 1 {
        batches.iter().map(|b| run(b)).collect()
    } else {
        // Batches dealt round-robin so each thread gets a similar share of long and short ones.
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let mine: Vec<&[(usize, usize)]> =
                        batches.iter().skip(t).step_by(threads).copied().collect();
                    let run = &run;
                    scope.spawn(move || mine.into_iter().flat_map(run).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("inference thread panicked"))
                .collect()
        })
    };
    let mut out = vec![0.0; inputs.len()];
    for (i, logit) in results.into_iter().flatten() {
        out[i] = logit;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Rng;

    #[test]
    fn device_names() {
        assert_eq!(Backend::parse("flex").unwrap(), Backend::Flex);
        assert!(Backend::parse("gpu").is_err());
        assert!(Backend::parse("cuda:x").is_err());
        for name in ["cpu", "tch", "libtorch", "cuda", "cuda:1"] {
            let got = Backend::parse(name);
            #[cfg(feature = "tch")]
            assert!(got.is_ok(), "{name}");
            #[cfg(not(feature = "tch"))]
            assert!(
                got.unwrap_err().to_string().contains("--features tch"),
                "{name}"
            );
        }
        #[cfg(feature = "tch")]
        {
            assert_eq!(Backend::parse("cpu").unwrap(), Backend::LibTorch);
            assert_eq!(Backend::parse("cuda:1").unwrap(), Backend::LibTorchCuda(1));
            assert_eq!(Backend::parse("cuda").unwrap().name(), "cuda:0");
        }
    }

    #[test]
    fn skipping_padding_gives_the_full_forward_pass() {
        use crate::model::ModelConfig;
        let device = Backend::Flex.device();
        let (steps, width) = (7, 5);
        let model = ModelConfig::new(width)
            .with_hidden_size(6)
            .init(&device)
            .valid();
        let mut rng = Rng::new(11);
        // Every padding length, including none and all but one row, several of each.
        let inputs = crate::testkit::padded_inputs(&mut rng, 3 * steps, steps, width);
        let refs: Vec<&EpisodeInput> = inputs.iter().collect();
        let fast = model_logits(&model, &refs, &device);
        let full: Vec<f32> = model
            .forward_time_major(crate::data::inputs_time_major(&refs, &device))
            .into_data()
            .iter::<f32>()
            .collect();
        assert_eq!(fast.len(), full.len());
        for (k, (a, b)) in fast.iter().zip(&full).enumerate() {
            assert!((a - b).abs() < 1e-5, "input {k}: {a} vs {b}");
        }
        // And the padding is not simply ignored: a different start state changes the answer.
        let short = EpisodeInput::from_dense(
            1,
            width,
            &inputs[steps - 1].to_dense()[(steps - 1) * width..],
        );
        let alone = model.forward_time_major(crate::data::inputs_time_major(&[&short], &device));
        let alone: f32 = alone.into_data().iter::<f32>().next().unwrap();
        assert!(
            (alone - fast[steps - 1]).abs() > 1e-6,
            "padding state had no effect"
        );
    }

    #[test]
    fn sparse_inputs_are_told_from_dense_ones() {
        let dense = EpisodeInput::from_dense(4, 5, &[0.5; 20]);
        let mut values = [0.0; 20];
        values[3] = 1.0;
        values[17] = 2.0;
        let sparse_one = EpisodeInput::from_dense(4, 5, &values);
        assert!(!sparse(&[&dense]));
        assert!(sparse(&[&sparse_one]));
        assert!(sparse(&[&sparse_one; 8]));
        assert!(!sparse(&[&dense, &sparse_one]));
    }

    #[test]
    fn platt_fit_recovers_a_known_scaling() {
        let mut rng = Rng::new(5);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..4000 {
            let l = (rng.unit() * 8.0 - 4.0) as f32;
            let p = 1.0 / (1.0 + (-(0.5 * l as f64 + 0.7)).exp());
            x.push(l);
            y.push(if rng.chance(p) { 1.0 } else { 0.0 });
        }
        let c = Calibration::fit(&x, &y, &vec![1.0; x.len()]);
        assert!((c.a - 0.5).abs() < 0.1 && (c.b - 0.7).abs() < 0.15, "{c:?}");
    }

    #[test]
    fn platt_fit_stays_finite_on_separable_data() {
        let x: Vec<f32> = (0..50).map(|i| i as f32 / 10.0 - 2.5).collect();
        let y: Vec<f32> = x.iter().map(|&l| if l > 0.0 { 1.0 } else { 0.0 }).collect();
        let c = Calibration::fit(&x, &y, &vec![1.0; x.len()]);
        assert!(
            c.a.is_finite() && c.b.is_finite() && c.a <= 20.0 && c.a >= 0.05,
            "{c:?}"
        );
    }
}
