//! The shipped default model (`models/default`) must load with this build's encoder and
//! predict. If this fails after an encoder change, retrain it (see `models/default/README.md`).

use holdadvisor_models::encode::{EpisodeStream, extract};
use holdadvisor_models::inference::Predictor;
use holdadvisor_models::testkit::synth_pool;

#[test]
fn shipped_default_model_loads_and_predicts() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/default");
    let p = Predictor::load(dir).unwrap();
    assert!(p.manifest().data_note.contains("SIMULATED"));
    let events = synth_pool(3, 60);
    let episodes = extract(&events, vec![p.encoder().clone()]);
    let inputs: Vec<_> = episodes.iter().map(|e| &e.inputs[0]).collect();
    let probs = p.predict_refs(&inputs).unwrap();
    assert_eq!(probs.len(), episodes.len());
    assert!(probs.iter().all(|x| (0.0..=1.0).contains(x)));
    let _ = EpisodeStream::new(vec![p.encoder().clone()]);
    let r = Predictor::load(format!("{dir}/reference")).unwrap();
    assert_eq!(r.encoder().shape(), (10, 460));
}

/// A model saved before a training option existed still loads its `training.json`, with the
/// option at its default (what that model was trained with): the shipped file without the
/// fields added since.
#[test]
fn shipped_training_config_loads_with_later_options_at_their_defaults() {
    use burn::config::Config;
    use holdadvisor_models::training::TrainingConfig;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/default/training.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let removed = json.as_object_mut().unwrap().remove("cluster_weight_cap");
    assert_eq!(
        removed,
        Some(serde_json::Value::Null),
        "shipped with no cap"
    );
    let dir = tempfile::tempdir().unwrap();
    let older = dir.path().join("training.json");
    std::fs::write(&older, json.to_string()).unwrap();
    let cfg = TrainingConfig::load(&older).unwrap();
    assert_eq!(cfg.cluster_weight_cap, None);
    let shipped = TrainingConfig::load(path).unwrap();
    assert_eq!(
        serde_json::to_value(&cfg).unwrap(),
        serde_json::to_value(&shipped).unwrap()
    );
}
