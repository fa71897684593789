//! The two state files DAGMan writes, in DAGMan's formats: the node status file (ClassAds,
//! rewritten as the DAG runs) and the jobstate log (one line per event, appended). `dag run`
//! writes both the same way; `dag status` reads them whoever wrote them.

use std::collections::BTreeMap;
use std::path::Path;

/// DAGMan's node states (`NodeStatus` / `DagStatus` in the node status file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeState {
    NotReady = 0,
    Ready = 1,
    PreRun = 2,
    Submitted = 3,
    PostRun = 4,
    Done = 5,
    Error = 6,
    Futile = 7,
}

impl NodeState {
    pub fn from_code(c: i64) -> Option<NodeState> {
        use NodeState::*;
        Some(match c {
            0 => NotReady,
            1 => Ready,
            2 => PreRun,
            3 => Submitted,
            4 => PostRun,
            5 => Done,
            6 => Error,
            7 => Futile,
            _ => return None,
        })
    }

    /// DAGMan's name (`STATUS_DONE`, ...).
    pub fn name(self) -> &'static str {
        use NodeState::*;
        match self {
            NotReady => "STATUS_NOT_READY",
            Ready => "STATUS_READY",
            PreRun => "STATUS_PRERUN",
            Submitted => "STATUS_SUBMITTED",
            PostRun => "STATUS_POSTRUN",
            Done => "STATUS_DONE",
            Error => "STATUS_ERROR",
            Futile => "STATUS_FUTILE",
        }
    }

    /// A short word for people.
    pub fn word(self) -> &'static str {
        use NodeState::*;
        match self {
            NotReady => "waiting",
            Ready => "ready",
            PreRun => "pre",
            Submitted => "running",
            PostRun => "post",
            Done => "done",
            Error => "failed",
            Futile => "futile",
        }
    }
}

/// One node's line in the node status file.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeStatus {
    pub node: String,
    pub state: NodeState,
    pub details: String,
    pub retry_count: u32,
    pub procs_queued: u32,
}

/// The whole node status file.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusFile {
    pub dag_file: String,
    pub timestamp: i64,
    pub dag_state: NodeState,
    pub nodes: Vec<NodeStatus>,
    pub next_update: i64,
}

impl StatusFile {
    /// Renders the file as DAGMan does (New ClassAds, one per DAG, node and end).
    pub fn render(&self) -> String {
        let count = |s: NodeState| self.nodes.iter().filter(|n| n.state == s).count();
        let mut out = String::new();
        out.push_str("[\n  Type = \"DagStatus\";\n");
        out.push_str(&format!(
            "  DagFiles = {{\n    \"{}\"\n  }};\n",
            self.dag_file
        ));
        out.push_str(&format!("  Timestamp = {};\n", self.timestamp));
        out.push_str(&format!(
            "  DagStatus = {}; /* \"{}\" */\n",
            self.dag_state as i64,
            self.dag_state.name()
        ));
        out.push_str(&format!("  NodesTotal = {};\n", self.nodes.len()));
        for (key, s) in [
            ("NodesDone", NodeState::Done),
            ("NodesPre", NodeState::PreRun),
            ("NodesQueued", NodeState::Submitted),
            ("NodesPost", NodeState::PostRun),
            ("NodesReady", NodeState::Ready),
            ("NodesUnready", NodeState::NotReady),
            ("NodesFutile", NodeState::Futile),
            ("NodesFailed", NodeState::Error),
        ] {
            out.push_str(&format!("  {key} = {};\n", count(s)));
        }
        out.push_str("  JobProcsHeld = 0;\n");
        out.push_str("  JobProcsIdle = 0;\n]\n");
        for n in &self.nodes {
            out.push_str("[\n  Type = \"NodeStatus\";\n");
            out.push_str(&format!("  Node = \"{}\";\n", n.node));
            out.push_str(&format!(
                "  NodeStatus = {}; /* \"{}\" */\n",
                n.state as i64,
                n.state.name()
            ));
            out.push_str(&format!(
                "  StatusDetails = \"{}\";\n",
                n.details.replace('"', "'")
            ));
            out.push_str(&format!("  RetryCount = {};\n", n.retry_count));
            out.push_str(&format!("  JobProcsQueued = {};\n", n.procs_queued));
            out.push_str("  JobProcsHeld = 0;\n]\n");
        }
        out.push_str(&format!(
            "[\n  Type = \"StatusEnd\";\n  EndTime = {};\n  NextUpdate = {};\n]\n",
            self.timestamp, self.next_update
        ));
        out
    }

    /// Writes atomically (a reader never sees half a file).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp-status");
        std::fs::write(&tmp, self.render())?;
        std::fs::rename(&tmp, path)
    }

    /// Parses a node status file written by DAGMan or by `dag run`.
    pub fn parse(text: &str) -> Option<StatusFile> {
        let ads = classads(text);
        let dag = ads
            .iter()
            .find(|a| a.get("Type").map(String::as_str) == Some("DagStatus"))?;
        let int = |a: &BTreeMap<String, String>, k: &str| -> Option<i64> {
            a.get(k).and_then(|v| v.parse().ok())
        };
        let nodes = ads
            .iter()
            .filter(|a| a.get("Type").map(String::as_str) == Some("NodeStatus"))
            .filter_map(|a| {
                Some(NodeStatus {
                    node: a.get("Node")?.clone(),
                    state: NodeState::from_code(int(a, "NodeStatus")?)?,
                    details: a.get("StatusDetails").cloned().unwrap_or_default(),
                    retry_count: int(a, "RetryCount").unwrap_or(0) as u32,
                    procs_queued: int(a, "JobProcsQueued").unwrap_or(0) as u32,
                })
            })
            .collect();
        let end = ads
            .iter()
            .find(|a| a.get("Type").map(String::as_str) == Some("StatusEnd"));
        Some(StatusFile {
            dag_file: dag
                .get("DagFiles")
                .cloned()
                .unwrap_or_default()
                .trim_matches(|c| c == '{' || c == '}' || c == ' ' || c == '"')
                .to_string(),
            timestamp: int(dag, "Timestamp").unwrap_or(0),
            dag_state: NodeState::from_code(int(dag, "DagStatus").unwrap_or(0))?,
            nodes,
            next_update: end.and_then(|e| int(e, "NextUpdate")).unwrap_or(0),
        })
    }
}

/// `[ Key = value; ... ]` blocks into maps (comments dropped, strings unquoted, lists kept as
/// text). Enough for the node status file.
fn classads(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut cur: Option<BTreeMap<String, String>> = None;
    let mut pending: Option<(String, String)> = None;
    for raw in text.lines() {
        let line = match raw.find("/*") {
            Some(i) => &raw[..i],
            None => raw,
        }
        .trim();
        if let Some((k, mut v)) = pending.take() {
            v.push_str(line);
            if line.ends_with(';') {
                let v = v.trim_end_matches(';').trim().to_string();
                if let Some(ad) = cur.as_mut() {
                    ad.insert(k, v);
                }
            } else {
                pending = Some((k, v));
            }
            continue;
        }
        if line == "[" {
            cur = Some(BTreeMap::new());
        } else if line == "]" {
            if let Some(ad) = cur.take() {
                out.push(ad);
            }
        } else if let Some((k, v)) = line.split_once('=') {
            let k = k.trim().to_string();
            let v = v.trim();
            if v.ends_with(';') {
                let v = v.trim_end_matches(';').trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .unwrap_or(v);
                if let Some(ad) = cur.as_mut() {
                    ad.insert(k, v.to_string());
                }
            } else {
                pending = Some((k, v.to_string()));
            }
        }
    }
    out
}

/// One line of a jobstate log.
#[derive(Debug, Clone, PartialEq)]
pub enum JobstateLine {
    /// `*** DAGMAN_STARTED id ***`, `*** DAGMAN_FINISHED code ***`, recovery markers.
    Internal {
        time: i64,
        event: String,
        arg: String,
    },
    /// `time node EVENT condorID jobTag - sequence`.
    Node {
        time: i64,
        node: String,
        event: String,
        condor_id: String,
        sequence: u64,
    },
}

/// Formats a node line as DAGMan does (job tag `-`).
pub fn jobstate_node_line(
    time: i64,
    node: &str,
    event: &str,
    condor_id: &str,
    sequence: u64,
) -> String {
    format!("{time} {node} {event} {condor_id} - - {sequence}\n")
}

/// Formats an INTERNAL line.
pub fn jobstate_internal_line(time: i64, event: &str, arg: &str) -> String {
    if arg.is_empty() {
        format!("{time} INTERNAL *** {event} ***\n")
    } else {
        format!("{time} INTERNAL *** {event} {arg} ***\n")
    }
}

/// Parses a jobstate log; unreadable lines are skipped.
pub fn parse_jobstate(text: &str) -> Vec<JobstateLine> {
    let mut out = Vec::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let Some(time) = w.first().and_then(|t| t.parse::<i64>().ok()) else {
            continue;
        };
        if w.get(1) == Some(&"INTERNAL") && w.len() >= 5 {
            out.push(JobstateLine::Internal {
                time,
                event: w[3].to_string(),
                arg: if w.len() >= 6 {
                    w[4].to_string()
                } else {
                    String::new()
                },
            });
        } else if w.len() >= 7 {
            out.push(JobstateLine::Node {
                time,
                node: w[1].to_string(),
                event: w[2].to_string(),
                condor_id: w[3].to_string(),
                sequence: w[6].parse().unwrap_or(0),
            });
        }
    }
    out
}

/// What a jobstate log says about each node: its last event, attempts, and whether its last
/// attempt succeeded (`JOB_SUCCESS` with no POST script, or `POST_SCRIPT_SUCCESS`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeHistory {
    pub last_event: String,
    pub attempts: u32,
    pub succeeded: bool,
    pub failed: bool,
}

/// Folds a jobstate log into per-node histories. `has_post` says which nodes have a POST
/// script (their success is the script's).
pub fn node_histories(
    lines: &[JobstateLine],
    has_post: &dyn Fn(&str) -> bool,
) -> BTreeMap<String, NodeHistory> {
    let mut out: BTreeMap<String, NodeHistory> = BTreeMap::new();
    for l in lines {
        if let JobstateLine::Node { node, event, .. } = l {
            let h = out.entry(node.clone()).or_default();
            h.last_event = event.clone();
            match event.as_str() {
                "SUBMIT" => {
                    h.attempts += 1;
                    h.succeeded = false;
                    h.failed = false;
                }
                "JOB_SUCCESS" if !has_post(node) => h.succeeded = true,
                "JOB_FAILURE" if !has_post(node) => h.failed = true,
                "POST_SCRIPT_SUCCESS" => h.succeeded = true,
                "POST_SCRIPT_FAILURE" => h.failed = true,
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_file_round_trips() {
        let s = StatusFile {
            dag_file: "train.dag".into(),
            timestamp: 10,
            dag_state: NodeState::Submitted,
            nodes: vec![
                NodeStatus {
                    node: "prepare".into(),
                    state: NodeState::Done,
                    details: String::new(),
                    retry_count: 0,
                    procs_queued: 0,
                },
                NodeStatus {
                    node: "train_1".into(),
                    state: NodeState::Submitted,
                    details: "running".into(),
                    retry_count: 1,
                    procs_queued: 1,
                },
            ],
            next_update: 15,
        };
        assert_eq!(StatusFile::parse(&s.render()), Some(s));
    }

    #[test]
    fn jobstate_lines_parse_and_fold() {
        let text = format!(
            "{}{}{}{}{}",
            jobstate_internal_line(1, "DAGMAN_STARTED", "7.0"),
            jobstate_node_line(2, "a", "SUBMIT", "8.0", 1),
            jobstate_node_line(3, "a", "JOB_SUCCESS", "0", 1),
            jobstate_node_line(4, "a", "POST_SCRIPT_SUCCESS", "8.0", 1),
            "1292620526 NodeA JOB_TERMINATED 4973.0 local - 1\n"
        );
        let lines = parse_jobstate(&text);
        assert_eq!(lines.len(), 5);
        let h = node_histories(&lines, &|_| true);
        assert!(h["a"].succeeded);
        assert_eq!(h["NodeA"].last_event, "JOB_TERMINATED");
    }
}
