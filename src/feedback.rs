//! How past advice turned out: the scores of predictions whose hold's outcome the event
//! log has since shown, all together, by week and by hold code. `feedback` prints them and
//! the dashboard shows them.

use std::collections::BTreeMap;

use chrono::Datelike;
use holdadvisor_models::decision::{CostModel, Decision};
use holdadvisor_models::evaluate::RulePolicy;
use holdadvisor_models::metrics::ece;

use crate::advice::Action;
use crate::cache::JudgedPrediction;
use crate::predict::parse_action;

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Score {
    pub group: String,
    /// Predictions whose hold was released and then recovered or not: the scored ones.
    pub predictions: usize,
    /// Holds removed while still held (censored): whether a release would have worked is
    /// unknown, so they are neither a success nor a failure of the advice, and not scored.
    pub censored: usize,
    /// Scored advice that matched the outcome: a release (plain, once, or after raising a
    /// request) and the job recovered, or a removal and it did not.
    pub correct: usize,
    /// `None` when nothing was scored.
    pub accuracy: Option<f64>,
    pub brier: Option<f64>,
    /// Expected calibration error over 10 bins of predicted probability.
    pub ece: Option<f64>,
}

/// Whether the outcome is known: released, then recovered (`Some(true)`) or not.
fn outcome(p: &JudgedPrediction) -> Option<bool> {
    match p.label.as_str() {
        "positive" => Some(true),
        "negative" => Some(false),
        _ => None,
    }
}

/// The predictions whose outcome is known, each with it (censored ones left out).
fn scored<'a>(
    items: impl IntoIterator<Item = &'a JudgedPrediction>,
) -> Vec<(&'a JudgedPrediction, bool)> {
    items
        .into_iter()
        .filter_map(|p| Some((p, outcome(p)?)))
        .collect()
}

/// Whether the advice was to release (in any form); `None` for a stored word this version
/// does not know.
fn advised_release(p: &JudgedPrediction) -> Option<bool> {
    parse_action(&p.advice).map(|a| a.releases() || a == Action::Wait)
}

pub fn score(group: String, items: &[&JudgedPrediction]) -> Score {
    let censored = items.iter().filter(|p| outcome(p).is_none()).count();
    let scored = scored(items.iter().copied());
    let n = scored.len();
    let correct = scored
        .iter()
        .filter(|(p, ok)| advised_release(p) == Some(*ok))
        .count();
    let (probs, labels) = probs_and_labels(&scored);
    let some = |v: f64| (n > 0).then_some(v);
    Score {
        group,
        predictions: n,
        censored,
        correct,
        accuracy: some(correct as f64 / n.max(1) as f64),
        brier: some(
            scored
                .iter()
                .map(|(p, ok)| (p.probability - f64::from(u8::from(*ok))).powi(2))
                .sum::<f64>()
                / n.max(1) as f64,
        ),
        ece: some(ece(&probs, &labels, 10)),
    }
}

fn probs_and_labels(scored: &[(&JudgedPrediction, bool)]) -> (Vec<f32>, Vec<bool>) {
    scored
        .iter()
        .map(|(p, ok)| (p.probability as f32, *ok))
        .unzip()
}

/// How past advice turned out, all together, by ISO week of the hold and by hold code.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub all: Score,
    pub by_week: Vec<Score>,
    pub by_code: Vec<Score>,
    /// Regret in hours under the default cost model over the scored holds: the advice as
    /// given, and the rule policies people run that the cache can replay (all but the
    /// remove-after timers, which need when the hold was released).
    pub regret_hours: Vec<(String, f64)>,
}

pub fn report(judged: &[JudgedPrediction]) -> Report {
    let mut by_week: BTreeMap<String, Vec<&JudgedPrediction>> = BTreeMap::new();
    let mut by_code: BTreeMap<(i64, i64), Vec<&JudgedPrediction>> = BTreeMap::new();
    for p in judged {
        by_week.entry(week(p.hold_time)).or_default().push(p);
        by_code.entry((p.code, p.subcode)).or_default().push(p);
    }
    let costs = CostModel::default();
    let scored = scored(judged);
    let regret = |decide: &dyn Fn(&JudgedPrediction) -> Decision| {
        scored
            .iter()
            .map(|(p, ok)| costs.regret(decide(p), *ok))
            .sum::<f64>()
    };
    let as_given = |p: &JudgedPrediction| match advised_release(p) {
        Some(false) => Decision::Remove,
        _ => Decision::Release,
    };
    Report {
        all: score("all".into(), &judged.iter().collect::<Vec<_>>()),
        by_week: by_week.into_iter().map(|(k, v)| score(k, &v)).collect(),
        by_code: by_code
            .into_iter()
            .map(|((c, s), v)| score(format!("{c}/{s}"), &v))
            .collect(),
        regret_hours: std::iter::once(("the advice as given".to_string(), regret(&as_given)))
            .chain(
                RulePolicy::all()
                    .into_iter()
                    // The cache does not keep when a hold was released: the remove-after
                    // timers cannot be replayed from it.
                    .filter(|r| !r.needs_hold_duration())
                    .map(|r| {
                        let decide = |p: &JudgedPrediction| {
                            let num_holds = u32::try_from(p.episode + 1).unwrap_or(u32::MAX);
                            r.decide_on(p.code, num_holds, None)
                        };
                        (r.name(), regret(&decide))
                    }),
            )
            .collect(),
    }
}

/// P and outcome of every scored prediction (censored ones left out): the reliability
/// diagram's input.
pub fn scored_probabilities(judged: &[JudgedPrediction]) -> (Vec<f32>, Vec<bool>) {
    probs_and_labels(&scored(judged))
}

fn week(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| {
            let w = d.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        })
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jp(p: f64, advice: &str, label: &str) -> JudgedPrediction {
        JudgedPrediction {
            hold_time: 0,
            episode: 0,
            code: 13,
            subcode: 2,
            probability: p,
            advice: advice.into(),
            label: label.into(),
        }
    }

    #[test]
    fn scores_by_hand() {
        let items = [
            jp(0.95, "release", "positive"),
            jp(0.85, "release", "negative"),
            jp(0.15, "remove", "negative"),
            jp(0.25, "remove", "positive"),
        ];
        let s = score("x".into(), &items.iter().collect::<Vec<_>>());
        assert_eq!((s.predictions, s.correct, s.censored), (4, 2, 0));
        let brier = (0.0025 + 0.7225 + 0.0225 + 0.5625) / 4.0;
        assert!((s.brier.unwrap() - brier).abs() < 1e-6);
        // One hold per bin: |0.95 − 1| + |0.85 − 0| + |0.15 − 0| + |0.25 − 1|, over 4.
        let e = s.ece.unwrap();
        assert!((e - (0.05 + 0.85 + 0.15 + 0.75) / 4.0).abs() < 1e-6, "{e}");
    }

    #[test]
    fn censored_holds_are_left_out_of_accuracy() {
        // A followed `remove` on a hold that was never released says nothing of the advice.
        let items = [
            jp(0.1, "remove", "censored"),
            jp(0.1, "remove", "censored"),
            jp(0.7, "release", "negative"),
            jp(0.3, "raise-memory:4096", "positive"),
        ];
        let s = score("x".into(), &items.iter().collect::<Vec<_>>());
        assert_eq!((s.predictions, s.censored, s.correct), (2, 2, 1));
        assert_eq!(s.accuracy, Some(0.5));
        let only_censored = [jp(0.1, "remove", "censored")];
        let s = score("y".into(), &only_censored.iter().collect::<Vec<_>>());
        assert_eq!((s.predictions, s.censored), (0, 1));
        assert_eq!((s.accuracy, s.brier, s.ece), (None, None, None));
    }

    #[test]
    fn regret_of_the_advice_and_of_the_rules_by_hand() {
        // Default costs: a failed release regrets 2 h (its run; the look is paid either
        // way), a removal of a job a release would have fixed 6.25 h.
        let mut items = vec![
            jp(0.9, "release", "positive"),
            jp(0.8, "release", "negative"),
            jp(0.1, "remove", "positive"),
            jp(0.1, "remove", "censored"),
        ];
        items[1].code = 14; // CHTC's template never releases code 14
        let r = report(&items);
        let by: std::collections::HashMap<&str, f64> = r
            .regret_hours
            .iter()
            .map(|(n, h)| (n.as_str(), *h))
            .collect();
        assert_eq!(by["the advice as given"], 2.0 + 6.25);
        assert_eq!(by["always release"], 2.0);
        assert_eq!(by["always remove"], 6.25 + 6.25);
        assert_eq!(by["CHTC template (30 min, 4 times, not 6/14/22)"], 0.0);
        assert!(!by.keys().any(|n| n.starts_with("remove after")));
    }
}
