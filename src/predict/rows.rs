//! The cache's rows for a hold and its advice, and the stable form of an action in them.

use holdadvisor_models::encode::Episode;

use crate::advice::{Action, Advice, MAX_DISK_KB, MAX_MEMORY_MB};
use crate::cache::{NewEpisode, PredictionRow};

/// The cache's row for an advice given now by this model.
pub fn prediction_row(model_id: &str, advice: &Advice, commands: &[String]) -> PredictionRow {
    PredictionRow {
        episode_id: 0,
        model_id: model_id.to_string(),
        probability: f64::from(advice.probability),
        advice: encode_action(&advice.action),
        confidence: f64::from(advice.confidence),
        explanation: advice.why.clone(),
        commands: commands.join("\n"),
        created: chrono::Utc::now().timestamp(),
    }
}

/// The cache's record of a hold episode the models found in a log.
pub fn new_episode(ep: &Episode, reason: Option<String>, entered: Option<i64>) -> NewEpisode {
    NewEpisode {
        cluster: ep.job.cluster,
        proc: ep.job.proc,
        episode: i64::from(ep.index),
        hold_time: ep.hold_time,
        code: ep.code,
        subcode: ep.subcode,
        reason,
        site: ep.site.clone(),
        entered,
    }
}

/// The `advice` column: a stable machine form of the action.
pub fn encode_action(a: &Action) -> String {
    match a {
        Action::Release => "release".into(),
        Action::ReleaseOnce => "release-once".into(),
        Action::Remove => "remove".into(),
        Action::RaiseMemory(mb) => format!("raise-memory:{mb}"),
        Action::RaiseDisk(kb) => format!("raise-disk:{kb}"),
        Action::Wait => "wait".into(),
    }
}

/// The action an `advice` column names; `None` for anything [`encode_action`] does not
/// write (an unknown word is never read as a removal, nor a bad size as 0 MB).
pub fn parse_action(s: &str) -> Option<Action> {
    let size = |v: &str, max: i64| {
        v.parse::<i64>()
            .ok()
            .filter(|n| *n > 0 && *n <= max && v.bytes().all(|b| b.is_ascii_digit()))
    };
    match s.split_once(':') {
        Some(("raise-memory", v)) => size(v, MAX_MEMORY_MB).map(Action::RaiseMemory),
        Some(("raise-disk", v)) => size(v, MAX_DISK_KB).map(Action::RaiseDisk),
        Some(_) => None,
        None => match s {
            "release" => Some(Action::Release),
            "release-once" => Some(Action::ReleaseOnce),
            "remove" => Some(Action::Remove),
            "wait" => Some(Action::Wait),
            _ => None,
        },
    }
}
