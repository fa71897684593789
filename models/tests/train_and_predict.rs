//! Trains a tiny model on the crate's tiny synthetic pool (`testkit::synth_pool`: synthetic,
//! not the project's simulator) and checks it against the code+subcode table on the same time
//! split, then checks the model directory round trip and its guards.

use holdadvisor_models::data::{Split, scored_samples};
use holdadvisor_models::encode::{EncoderConfig, EpisodeInput, extract};
use holdadvisor_models::evaluate::{Baseline, CodeSubcodeTable, score_baseline};
use holdadvisor_models::inference::Predictor;
use holdadvisor_models::metrics::metrics;
use holdadvisor_models::model::ModelConfig;
use holdadvisor_models::testkit::synth_pool;
use holdadvisor_models::training::{TrainOptions, TrainingConfig, train};

#[test]
fn model_beats_the_code_subcode_table_and_round_trips() {
    let seed = std::env::var("SYNTH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    let events = synth_pool(seed, 700);
    let episodes = extract(&events, vec![EncoderConfig::ours().with_seq_len(8)]);
    let cfg = TrainingConfig::new(
        ModelConfig::new(0)
            .with_hidden_size(16)
            .with_num_layers(1)
            .with_dropout(0.0),
        EncoderConfig::ours().with_seq_len(8),
    )
    .with_max_epochs(12)
    .with_batch_size(32)
    .with_learning_rate(5e-3)
    .with_patience(4)
    .with_train_reference(false);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let started = std::time::Instant::now();
    let outcome = train(&episodes, 0, &cfg, &out, &TrainOptions::default()).unwrap();
    eprintln!(
        "trained in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        outcome.stop_reason
    );

    let splits = cfg.splits(&episodes);
    let train_set = scored_samples(&episodes, &splits, Split::Train);
    let test_set = scored_samples(&episodes, &splits, Split::Test);
    assert!(
        test_set.len() >= 60,
        "test split too small: {}",
        test_set.len()
    );
    let table = CodeSubcodeTable::fit(&episodes, &train_set);
    let table_m = score_baseline(&table as &dyn Baseline, &episodes, &test_set);

    let predictor = Predictor::load(&out).unwrap();
    let inputs: Vec<&EpisodeInput> = test_set
        .iter()
        .map(|s| &episodes[s.episode].inputs[0])
        .collect();
    let probs = predictor.predict_refs(&inputs).unwrap();
    let labels: Vec<bool> = test_set.iter().map(|s| s.target > 0.5).collect();
    let model_m = metrics(&probs, &labels);
    let (model_auc, table_auc) = (model_m.roc_auc.unwrap(), table_m.roc_auc.unwrap());
    eprintln!(
        "synthetic test split n={}: model AUC {model_auc:.4} ECE {:.4}; code+subcode table AUC {table_auc:.4}",
        test_set.len(),
        model_m.ece
    );
    assert!(
        model_auc > table_auc + 0.02,
        "model AUC {model_auc:.4} does not beat the code+subcode table {table_auc:.4} by 0.02"
    );

    // The manifest's test metrics are what the loaded model gives.
    let recorded = predictor.manifest().test.as_ref().unwrap().roc_auc.unwrap();
    assert!(
        (recorded - model_auc).abs() < 1e-6,
        "{recorded} vs {model_auc}"
    );
    // predict_one agrees with the batch.
    assert!((predictor.predict_one(inputs[0]).unwrap() - probs[0]).abs() < 1e-5);

    // Guards: wrong input shape, edited encoder settings, missing manifest.
    let width = inputs[0].shape().1;
    let wrong = EpisodeInput::from_dense(16, width, &vec![0.0; 16 * width]);
    assert!(predictor.predict(&[wrong]).is_err());
    let enc = out.join("encoder.json");
    let text = std::fs::read_to_string(&enc).unwrap();
    std::fs::write(&enc, text.replace("\"seq_len\": 8", "\"seq_len\": 16")).unwrap();
    let err = Predictor::load(&out).unwrap_err().to_string();
    assert!(err.contains("encoder.json does not match"), "{err}");
    std::fs::write(&enc, text).unwrap();
    assert!(Predictor::load(&out).is_ok());
}

#[test]
fn checkpoints_resume_and_refuse_other_data() {
    let events = synth_pool(5, 250);
    let enc = EncoderConfig::ours().with_seq_len(4);
    let episodes = extract(&events, vec![enc.clone()]);
    let cfg = TrainingConfig::new(
        ModelConfig::new(0).with_hidden_size(8).with_num_layers(1),
        enc,
    )
    .with_max_epochs(2)
    // Only the epoch limit stops it: on so little data validation ROC AUC can fall by more
    // than the default 10% from one epoch to the next.
    .with_patience(100)
    .with_max_drop(1.0)
    .with_train_reference(false);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let first = train(&episodes, 0, &cfg, &out, &TrainOptions::default()).unwrap();
    assert_eq!(first.manifest.epochs_run, 2);
    let lines = |p: &std::path::Path| {
        std::fs::read_to_string(p.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(lines(&out), 2);
    // resuming a finished run adds nothing
    let resumed = TrainOptions {
        resume: true,
        ..Default::default()
    };
    let again = train(&episodes, 0, &cfg, &out, &resumed).unwrap();
    assert_eq!((again.manifest.epochs_run, lines(&out)), (2, 2));
    // raising the epoch limit continues after epoch 2: two more lines, not four
    let more = cfg.clone().with_max_epochs(4);
    let cont = train(&episodes, 0, &more, &out, &resumed).unwrap();
    assert_eq!((cont.manifest.epochs_run, lines(&out)), (4, 4));
    let epochs: Vec<u64> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(epochs, [1, 2, 3, 4]);
    // every member of the ensemble resumed alike
    assert!(cfg.ensemble >= 2, "the default ensemble has one network");
    for k in 2..=cfg.ensemble {
        assert_eq!(lines(&out.join(format!("members/{k}"))), 4, "member {k}");
    }
    // another training config (seed): refused
    assert!(train(&episodes, 0, &more.clone().with_seed(7), &out, &resumed).is_err());
    // other data: refused
    let fewer = &episodes[..episodes.len() - 5];
    assert!(train(fewer, 0, &cfg, &out, &resumed).is_err());
    // a state torn by a preemption: refused as "cannot resume" (the DAG node then starts the
    // point over), and no temporary file of a save is left beside a finished checkpoint
    let ckpt = out.join("checkpoints");
    let names: Vec<String> = std::fs::read_dir(&ckpt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".new.")), "{names:?}");
    std::fs::write(ckpt.join("state.json"), "{\"data_hash\": \"ab").unwrap();
    let torn = train(&episodes, 0, &more, &out, &resumed).unwrap_err();
    assert!(format!("{torn:#}").contains("cannot resume"), "{torn:#}");
}

#[test]
fn an_ensemble_predicts_its_members_mean_logit_and_guards_each_member() {
    use burn::config::Config;
    use burn::module::Module;
    use burn::store::ModuleRecord;
    use holdadvisor_models::backend::Backend;
    use holdadvisor_models::inference::model_logits;
    use holdadvisor_models::model_dir::member_weights;

    let enc = EncoderConfig::ours().with_seq_len(4);
    let episodes = extract(&synth_pool(5, 250), vec![enc.clone()]);
    let cfg = TrainingConfig::new(
        ModelConfig::new(0).with_hidden_size(8).with_num_layers(1),
        enc,
    )
    .with_max_epochs(2)
    .with_ensemble(2)
    .with_train_reference(false);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let outcome = train(&episodes, 0, &cfg, &out, &TrainOptions::default()).unwrap();
    assert_eq!(outcome.manifest.members.len(), 1);
    assert!(out.join("members/2/metrics.jsonl").is_file());
    assert!(
        outcome.stop_reason.contains("member 2:"),
        "{}",
        outcome.stop_reason
    );

    let predictor = Predictor::load(&out).unwrap();
    assert_eq!(predictor.members(), 2);
    let inputs: Vec<&EpisodeInput> = episodes.iter().map(|e| &e.inputs[0]).collect();
    let device = Backend::Flex.device();
    let model_cfg = ModelConfig::load(out.join("model.json")).unwrap();
    let member = |k: usize| {
        let rec = ModuleRecord::load(member_weights(&out, k)).unwrap();
        let m = model_cfg.init(&device).load_record(rec).valid();
        model_logits(&m, &inputs, &device)
    };
    let (first, second) = (member(0), member(1));
    // Different seeds made different networks ...
    assert!(
        first.iter().zip(&second).any(|(a, b)| (a - b).abs() > 1e-3),
        "the two members predict alike"
    );
    // ... and the ensemble's logit is their mean: for many inputs (member by member) and for
    // a few (on flex, plain loops over each member's weights).
    let many = predictor.logits(&inputs).unwrap();
    let few: Vec<f32> = inputs
        .chunks(3)
        .flat_map(|c| predictor.logits(c).unwrap())
        .collect();
    for (k, (m, f)) in many.iter().zip(&few).enumerate() {
        let want = (first[k] + second[k]) / 2.0;
        assert!((m - want).abs() < 1e-5, "input {k}: {m} vs {want}");
        assert!(
            (f - want).abs() < 1e-5,
            "input {k}, in threes: {f} vs {want}"
        );
    }

    // A member's weights changed after training: refused, naming the file.
    let second_weights = member_weights(&out, 1);
    let mut bytes = std::fs::read(&second_weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&second_weights, &bytes).unwrap();
    let err = format!("{:#}", Predictor::load(&out).unwrap_err());
    assert!(
        err.contains("members/2/model.bpk") && err.contains("does not match the manifest"),
        "{err}"
    );
}

#[test]
fn a_fused_ensemble_gives_its_members_mean_logit() {
    use burn::module::Module;
    use holdadvisor_models::backend::Backend;
    use holdadvisor_models::inference::{ensemble_logits, model_logits};
    use holdadvisor_models::model::fuse_ensemble;
    use holdadvisor_models::testkit::Rng;

    let device = Backend::Flex.device();
    let (steps, width) = (5, 7);
    let cfg = ModelConfig::new(width)
        .with_hidden_size(4)
        .with_num_layers(2);
    let members: Vec<_> = (0..3)
        .map(|k| {
            device.seed(100 + k);
            cfg.init(&device).valid()
        })
        .collect();
    let mut rng = Rng::new(3);
    let inputs = holdadvisor_models::testkit::padded_inputs(&mut rng, 12, steps, width);
    let refs: Vec<&EpisodeInput> = inputs.iter().collect();
    let want = ensemble_logits(&members, &refs, &device);
    let fused = fuse_ensemble(&members, &device);
    let got = model_logits(&fused, &refs, &device);
    // The members differ, so a fused network that used one of them would fail here.
    let one = model_logits(&members[0], &refs, &device);
    assert!(one.iter().zip(&want).any(|(a, b)| (a - b).abs() > 1e-3));
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() < 1e-5, "input {k}: fused {g} vs mean {w}");
    }
}
