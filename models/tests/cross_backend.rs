//! With `--features tch`: a model directory written by one backend loads on the other and
//! predicts the same (within float tolerance), in both directions. On LibTorch the `Predictor`
//! predicts through LibTorch's fused LSTM kernel (`torch_kernel`), so this also checks that
//! kernel against burn's own forward pass on flex, for the members one by one (many inputs)
//! and fused into one network (CUDA's path for a few); and the CPU path for a few inputs on
//! either backend, plain loops over the weights (`cpu_kernel`), against both. Trained on the crate's tiny
//! synthetic pool (`testkit::synth_pool`); the figures mean nothing beyond this check.

#![cfg(feature = "tch")]

use holdadvisor_models::backend::Backend;
use holdadvisor_models::encode::{EncoderConfig, EpisodeInput, extract};
use holdadvisor_models::inference::{Predictor, model_logits};
use holdadvisor_models::model::ModelConfig;
use holdadvisor_models::testkit::synth_pool;
use holdadvisor_models::training::{TrainOptions, TrainingConfig, train};

/// Logits may differ by float rounding (different matmul kernels), nothing more.
const TOLERANCE: f32 = 1e-4;

fn saved_by_loaded_on(trained_on: Backend, loaded_on: Backend) {
    let enc = EncoderConfig::ours().with_seq_len(6);
    let episodes = extract(&synth_pool(5, 300), vec![enc.clone()]);
    let model_cfg = ModelConfig::new(0)
        .with_hidden_size(8)
        .with_num_layers(2)
        .with_dropout(0.0);
    let cfg = TrainingConfig::new(model_cfg.clone(), enc)
        .with_max_epochs(2)
        .with_batch_size(32)
        .with_train_reference(false);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let opts = TrainOptions {
        backend: trained_on,
        ..Default::default()
    };
    train(&episodes, 0, &cfg, &out, &opts).unwrap();

    let saver = Predictor::load_on(&out, trained_on).unwrap();
    let loader = Predictor::load_on(&out, loaded_on).unwrap();
    assert_eq!(saver.manifest().backend, format!("{trained_on:?}"));
    let inputs: Vec<&EpisodeInput> = episodes.iter().map(|e| &e.inputs[0]).collect();
    assert!(inputs.len() >= 100, "{} episodes", inputs.len());
    let want = saver.logits(&inputs).unwrap();
    let got = loader.logits(&inputs).unwrap();
    assert_eq!(got.len(), want.len());

    // The comparison means something: the logits vary from job to job ...
    let (lo, hi) = want
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    assert!(
        hi - lo > 50.0 * TOLERANCE,
        "logits nearly constant: {lo}..{hi}"
    );
    // ... and another model's differ from them by more than the tolerance.
    let mut other_cfg = model_cfg;
    other_cfg.input_size = saver.config().input_size;
    let other = other_cfg.init(&loaded_on.device());
    let other = model_logits(&other, &inputs, &loaded_on.device());
    assert!(
        other
            .iter()
            .zip(&want)
            .any(|(a, b)| (a - b).abs() > 50.0 * TOLERANCE)
    );

    let worst = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs() / w.abs().max(1.0))
        .fold(0.0f32, f32::max);
    eprintln!(
        "{} logits, saved by {trained_on:?}, loaded on {loaded_on:?}: worst difference {worst:e}",
        got.len()
    );
    assert!(
        worst <= TOLERANCE,
        "saved by {trained_on:?}, loaded on {loaded_on:?}: logits differ by {worst}"
    );
    // A few inputs at a time, on either CPU backend: plain loops over each member's weights.
    assert!(
        loader.members() > 1,
        "the default config trains an ensemble"
    );
    for (k, x) in inputs.iter().take(8).enumerate() {
        for p in [&saver, &loader] {
            let one = p.logits(&[*x]).unwrap();
            assert!(
                (one[0] - want[k]).abs() / want[k].abs().max(1.0) <= TOLERANCE,
                "input {k}, a few at a time on {:?}: {} against {}",
                p.manifest().backend,
                one[0],
                want[k]
            );
        }
    }
    // On CUDA a few inputs go through the members fused into one network on LibTorch's
    // kernel; the same path here on LibTorch's CPU device.
    {
        use burn::module::Module;
        use burn::store::ModuleRecord;
        use holdadvisor_models::model::{HoldModel, fuse_ensemble};
        use holdadvisor_models::model_dir::member_weights;
        use holdadvisor_models::torch_kernel::TorchLstm;
        let device = Backend::LibTorch.device();
        let members: Vec<HoldModel> = (0..loader.members())
            .map(|k| {
                let record = ModuleRecord::load(member_weights(&out, k)).unwrap();
                loader.config().init(&device).load_record(record).valid()
            })
            .collect();
        let fused = TorchLstm::new(&fuse_ensemble(&members, &device), Backend::LibTorch)
            .unwrap()
            .expect("a LibTorch kernel on LibTorch");
        let few = fused.logits(&inputs[..8]).unwrap();
        for (k, (f, w)) in few.iter().zip(&want).enumerate() {
            assert!(
                (f - w).abs() / w.abs().max(1.0) <= TOLERANCE,
                "input {k}, fused on LibTorch: {f} against {w}"
            );
        }
    }
    let (p, q) = (
        saver.predict_refs(&inputs).unwrap(),
        loader.predict_refs(&inputs).unwrap(),
    );
    assert!(p.iter().zip(&q).all(|(a, b)| (a - b).abs() <= TOLERANCE));
}

#[test]
fn saved_by_flex_loads_on_libtorch() {
    saved_by_loaded_on(Backend::Flex, Backend::LibTorch);
}

#[test]
fn saved_by_libtorch_loads_on_flex() {
    saved_by_loaded_on(Backend::LibTorch, Backend::Flex);
}
