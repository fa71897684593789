//! Loading a model directory ([`crate::model_dir`]) and predicting P(release succeeds).
//!
//! [`Predictor::load`] refuses a directory whose encoder settings, schema or weights do not
//! match its manifest, so a model is never used with the wrong encoder.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use burn::config::Config;
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Device, Tensor, TensorData};

use crate::backend::Backend;
use crate::cpu_kernel::CpuLstm;
use crate::encode::{EncoderConfig, EpisodeInput, EpisodeStream, FEATURE_SCHEMA};
use crate::model::{HoldModel, ModelConfig, TimeMajor, fuse_ensemble};
use crate::model_dir::{MANIFEST_FORMAT, Manifest, hash_file, member_weights};

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
}
