//! Training and inference throughput of holdadvisor's network on one backend, for
//! `bench/lstm.sh` (which runs it on flex and LibTorch beside PyTorch's `nn.LSTM`):
//!
//! ```text
//! cargo run --release -p holdadvisor-models --example lstm_bench -- [--device flex|cpu|cuda[:N]]
//!     [--input 460] [--hidden 50] [--layers 2] [--seq 10] [--batch 256] [--steps 60]
//! ```
//!
//! Prints one JSON object. Training is [`train_step`] (forward, weighted BCE, backward, Adam
//! with gradient clipping: what `holdadvisor train` runs per batch) on pre-built batches of
//! random inputs; inference is what `Predictor` runs (host layout, forward, logits back on the
//! host): for a batch, [`model_logits`] on flex and LibTorch's fused LSTM with the same
//! weights on LibTorch (`torch_kernel`); for one job on the CPU, plain loops over the weights
//! ([`CpuLstm`]) on either backend, and the backend's own path beside it. Dropout is the
//! default 0.1.

use holdadvisor_models::backend::Backend;
use holdadvisor_models::burn::module::Module;
use holdadvisor_models::burn::tensor::{Device, Tensor, TensorData};
use holdadvisor_models::cpu_kernel::CpuLstm;
use holdadvisor_models::data::{Batch, inputs_time_major};
use holdadvisor_models::encode::EpisodeInput;
use holdadvisor_models::inference::model_logits;
use holdadvisor_models::model::{ModelConfig, fuse_ensemble};
use holdadvisor_models::testkit::Rng;
use holdadvisor_models::training::{optimizer, train_step};
use std::time::Instant;

/// The allocator the holdadvisor binary trains and predicts with (`src/main.rs`): burn frees
/// and allocates tensors of hundreds of KB every step, which glibc's malloc hands back to the
/// kernel and faults in again (a fifth of the time here went to page faults).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let mut device_name = "flex".to_string();
    let (mut input, mut hidden, mut layers, mut seq, mut batch, mut steps) =
        (460usize, 50usize, 2usize, 10usize, 256usize, 60usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
        };
        match a.as_str() {
            "--device" => device_name = value()?,
            "--input" => input = value()?.parse()?,
            "--hidden" => hidden = value()?.parse()?,
            "--layers" => layers = value()?.parse()?,
            "--seq" => seq = value()?.parse()?,
            "--batch" => batch = value()?.parse()?,
            "--steps" => steps = value()?.parse()?,
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    let backend = Backend::parse(&device_name)?;
    let mut rng = Rng::new(7);
    let job = |rng: &mut Rng| {
        let values: Vec<f32> = (0..seq * input).map(|_| rng.unit() as f32).collect();
        EpisodeInput::from_dense(seq, input, &values)
    };
    let jobs: Vec<EpisodeInput> = (0..batch * 4).map(|_| job(&mut rng)).collect();
    let cfg = ModelConfig::new(input)
        .with_hidden_size(hidden)
        .with_num_layers(layers)
        .with_dropout(0.1);

    // Training.
    let device = backend.device().autodiff();
    device.seed(1);
    let batches: Vec<Batch> = jobs
        .chunks(batch)
        .map(|chunk| {
            let refs: Vec<&EpisodeInput> = chunk.iter().collect();
            let targets: Vec<f32> = (0..batch)
                .map(|_| if rng.chance(0.4) { 1.0 } else { 0.0 })
                .collect();
            Batch {
                inputs: inputs_time_major(&refs, &device),
                targets: Tensor::from_data(TensorData::new(targets, [batch]), &device),
                weights: Tensor::ones([batch], &device),
            }
        })
        .collect();
    let mut model = cfg.init(&device);
    let mut optim = optimizer();
    let copy = |b: &Batch| Batch {
        inputs: b.inputs.clone(),
        targets: b.targets.clone(),
        weights: b.weights.clone(),
    };
    let warmup = 5;
    let mut loss = 0.0;
    let mut started = Instant::now();
    for k in 0..warmup + steps {
        if k == warmup {
            started = Instant::now();
        }
        (model, loss) = train_step(model, &mut optim, copy(&batches[k % batches.len()]), 2e-3);
    }
    let train_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(loss.is_finite(), "training diverged");

    // Inference, on the plain device.
    let plain: Device = backend.device();
    let model = model.valid();
    #[cfg(feature = "tch")]
    let torch = holdadvisor_models::torch_kernel::TorchLstm::new(&model, backend)?;
    let model_logits = |model: &_, refs: &[&EpisodeInput], plain: &Device| -> Vec<f32> {
        #[cfg(feature = "tch")]
        if let Some(t) = &torch {
            return t.logits(refs).expect("LibTorch inference");
        }
        model_logits(model, refs, plain)
    };
    let refs: Vec<&EpisodeInput> = jobs[..batch].iter().collect();
    let rounds = (steps / 2).max(5);
    for _ in 0..3 {
        model_logits(&model, &refs, &plain);
    }
    let started = Instant::now();
    for _ in 0..rounds {
        model_logits(&model, &refs, &plain);
    }
    let batch_s = started.elapsed().as_secs_f64() / rounds as f64;
    // One job, as the Predictor runs it on the CPU (either backend): plain loops over the
    // weights (`cpu_kernel`); and, for comparison, the backend's own path (burn on flex,
    // LibTorch's fused LSTM on LibTorch). On CUDA the backend's path is the Predictor's.
    let cpu = backend
        .is_cpu()
        .then(|| CpuLstm::new(&model, seq))
        .transpose()?;
    let p50 = |f: &dyn Fn(&EpisodeInput) -> f32| -> anyhow::Result<(f64, f64)> {
        let mut times = Vec::new();
        for k in 0..520 {
            let started = Instant::now();
            let p = f(refs[k % batch]);
            let secs = started.elapsed().as_secs_f64();
            anyhow::ensure!(p.is_finite());
            if k >= 20 {
                times.push(secs);
            }
        }
        times.sort_by(f64::total_cmp);
        Ok((
            1e3 * times[times.len() / 2],
            1e3 * times[times.len() * 9 / 10],
        ))
    };
    let backends_own = |job: &EpisodeInput| model_logits(&model, &[job], &plain)[0];
    let (own_p50, _) = p50(&backends_own)?;
    let (one_p50, one_p90) = match &cpu {
        Some(k) => p50(&|job: &EpisodeInput| k.logit(job).expect("shape"))?,
        None => p50(&backends_own)?,
    };
    // `holdadvisor train` makes an ensemble of networks; copies of one network cost what
    // different ones do. On the CPU the Predictor runs the members' plain loops one after
    // another; on CUDA, one fused network (block-diagonal weights).
    let members = holdadvisor_models::training::TrainingConfig::default_ours().ensemble;
    let fused = fuse_ensemble(&vec![model.clone(); members], &plain);
    #[cfg(feature = "tch")]
    let torch_fused = holdadvisor_models::torch_kernel::TorchLstm::new(&fused, backend)?;
    let ensemble_logit = |job: &EpisodeInput| -> f32 {
        if let Some(k) = &cpu {
            return (0..members)
                .map(|_| k.logit(job).expect("shape"))
                .sum::<f32>()
                / members as f32;
        }
        #[cfg(feature = "tch")]
        if let Some(t) = &torch_fused {
            return t.logits(&[job]).expect("LibTorch inference")[0];
        }
        holdadvisor_models::inference::model_logits(&fused, &[job], &plain)[0]
    };
    let (ensemble_p50, _) = p50(&ensemble_logit)?;
    println!(
        "{}",
        serde_json::json!({
            "backend": backend.name(),
            "input": input, "hidden": hidden, "layers": layers, "seq": seq, "batch": batch,
            "train_steps": steps,
            "train_ms_per_step": 1e3 * train_s / steps as f64,
            "train_samples_per_s": (steps * batch) as f64 / train_s,
            "infer_batch_ms": 1e3 * batch_s,
            "infer_batch_predictions_per_s": batch as f64 / batch_s,
            "infer_one_ms_p50": one_p50,
            "infer_one_ms_p90": one_p90,
            "infer_one_backend_ms_p50": own_p50,
            "infer_one_ensemble": members,
            "infer_one_ensemble_ms_p50": ensemble_p50,
        })
    );
    Ok(())
}
