//! What a hold episode's label is: the one definition the whole project uses.
//!
//! A *hold episode* starts at a job's `012 Job was held` event and lasts until the job is held
//! again, leaves the queue, or the log ends. Its label says whether releasing the job was
//! worth it, judged only by what the job did after the **next** `013 Job was released`:
//!
//! | label | after the next release, the job ... |
//! |---|---|
//! | [`Label::Positive`] | terminated normally (`005`, return value 0) without being held again |
//! | [`Label::Negative`] | was held again (`012`), terminated abnormally (signal) or with a non-zero return value, or was removed (`009`) |
//! | [`Label::Censored`] | — it was never released: it was removed while held. Whether a release would have worked is unknown |
//! | [`Label::Open`] | — the log ends before anything above happened (still held, or released and still running) |
//!
//! Evictions (`004`), disconnections, shadow exceptions and the like after the release decide
//! nothing: the job is still trying. Censored episodes are counted and then excluded or
//! down-weighted as negatives according to [`CensoredPolicy`]; open episodes are never
//! trained or scored on (they are what `q` and `scan` predict for).

use holdadvisor_parsers::{Event, EventBody, EventType, Termination};
use serde::{Deserialize, Serialize};

/// The outcome of a hold episode. See the module documentation for the definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Label {
    Positive,
    Negative,
    Censored,
    Open,
}

impl Label {
    /// 1.0 / 0.0 for labelled episodes, `None` for censored and open ones.
    pub fn target(self) -> Option<f32> {
        match self {
            Label::Positive => Some(1.0),
            Label::Negative => Some(0.0),
            Label::Censored | Label::Open => None,
        }
    }

    /// The `label` column of `--predictions`: `1`, `0`, or empty.
    pub fn csv(self) -> &'static str {
        match self {
            Label::Positive => "1",
            Label::Negative => "0",
            Label::Censored | Label::Open => "",
        }
    }
}

/// What training does with censored episodes (never released, then removed).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "weight")]
pub enum CensoredPolicy {
    /// Left out of training (they are still counted and reported).
    #[default]
    Exclude,
    /// Trained on as negatives with this sample weight (0 < w <= 1).
    DownWeight(f32),
}

impl CensoredPolicy {
    /// The training target and sample weight of an episode with this label, if it is used.
    pub fn training_target(self, label: Label) -> Option<(f32, f32)> {
        match (label, self) {
            (Label::Positive, _) => Some((1.0, 1.0)),
            (Label::Negative, _) => Some((0.0, 1.0)),
            (Label::Censored, CensoredPolicy::DownWeight(w)) if w > 0.0 => Some((0.0, w)),
            _ => None,
        }
    }

    /// Parses `exclude` or `weight:W`.
    pub fn parse(text: &str) -> Result<CensoredPolicy, String> {
        if text == "exclude" {
            return Ok(CensoredPolicy::Exclude);
        }
        if let Some(w) = text.strip_prefix("weight:") {
            let w: f32 = w
                .parse()
                .map_err(|_| format!("censored policy {text:?}: bad weight"))?;
            if w > 0.0 && w <= 1.0 {
                return Ok(CensoredPolicy::DownWeight(w));
            }
        }
        Err(format!(
            "censored policy {text:?}: expected `exclude` or `weight:W` with 0 < W <= 1"
        ))
    }
}

/// Where one episode's labelling stands, fed the job's later events one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labeller {
    released: bool,
    label: Label,
}

impl Default for Labeller {
    fn default() -> Self {
        Labeller {
            released: false,
            label: Label::Open,
        }
    }
}

impl Labeller {
    pub fn new() -> Labeller {
        Labeller::default()
    }

    /// The label so far ([`Label::Open`] until decided).
    pub fn label(&self) -> Label {
        self.label
    }

    /// Whether the label is final.
    pub fn decided(&self) -> bool {
        self.label != Label::Open
    }

    /// Feeds the next event of the same job (after the hold). Returns true when this event
    /// decided the label.
    pub fn observe(&mut self, event: &Event) -> bool {
        if self.decided() {
            return false;
        }
        let decided = match event.event_type() {
            Some(EventType::JobReleased) => {
                self.released = true;
                None
            }
            Some(EventType::JobHeld) if self.released => Some(Label::Negative),
            Some(EventType::JobAborted) => Some(if self.released {
                Label::Negative
            } else {
                Label::Censored
            }),
            Some(EventType::JobTerminated) if self.released => match &event.body {
                EventBody::Terminated(t) => Some(match t.termination {
                    Termination::Normal { return_value: 0 } => Label::Positive,
                    _ => Label::Negative,
                }),
                _ => Some(Label::Negative),
            },
            // A 005 while still held cannot happen in HTCondor; a 012 while held is a
            // repeated hold of the same episode. Neither decides anything.
            _ => None,
        };
        match decided {
            Some(label) => {
                self.label = label;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::ev;

    fn label_of(events: &[Event]) -> Label {
        let mut l = Labeller::new();
        for e in events {
            l.observe(e);
        }
        l.label()
    }

    #[test]
    fn released_then_terminated_zero_is_positive() {
        assert_eq!(
            label_of(&[
                ev::released(1, 10),
                ev::execute(1, 20),
                ev::terminated(1, 30, 0)
            ]),
            Label::Positive
        );
    }

    #[test]
    fn evictions_after_release_do_not_decide() {
        assert_eq!(
            label_of(&[
                ev::released(1, 10),
                ev::execute(1, 20),
                ev::evicted(1, 25),
                ev::execute(1, 26),
                ev::terminated(1, 30, 0)
            ]),
            Label::Positive
        );
    }

    #[test]
    fn negative_cases() {
        assert_eq!(
            label_of(&[ev::released(1, 10), ev::held(1, 20, 13, 2)]),
            Label::Negative
        );
        assert_eq!(
            label_of(&[ev::released(1, 10), ev::terminated(1, 30, 1)]),
            Label::Negative
        );
        assert_eq!(
            label_of(&[ev::released(1, 10), ev::terminated_signal(1, 30, 9)]),
            Label::Negative
        );
        assert_eq!(
            label_of(&[ev::released(1, 10), ev::aborted(1, 30)]),
            Label::Negative
        );
        // decided by the first outcome: a later success does not undo a re-hold
        assert_eq!(
            label_of(&[
                ev::released(1, 10),
                ev::held(1, 20, 13, 2),
                ev::released(1, 25),
                ev::terminated(1, 30, 0)
            ]),
            Label::Negative
        );
    }

    #[test]
    fn censored_and_open() {
        assert_eq!(label_of(&[ev::aborted(1, 30)]), Label::Censored);
        assert_eq!(label_of(&[]), Label::Open);
        assert_eq!(
            label_of(&[ev::released(1, 10), ev::execute(1, 20)]),
            Label::Open
        );
    }

    #[test]
    fn censored_policy() {
        assert_eq!(
            CensoredPolicy::Exclude.training_target(Label::Censored),
            None
        );
        assert_eq!(
            CensoredPolicy::DownWeight(0.25).training_target(Label::Censored),
            Some((0.0, 0.25))
        );
        assert_eq!(CensoredPolicy::Exclude.training_target(Label::Open), None);
        assert_eq!(
            CensoredPolicy::parse("weight:0.5"),
            Ok(CensoredPolicy::DownWeight(0.5))
        );
        assert!(CensoredPolicy::parse("weight:2").is_err());
    }
}
