//! Parsed job events: the header every event has, and a typed body per event number.

use std::borrow::Cow;

use chrono::NaiveDateTime;

use crate::event_type::EventType;
use crate::value::Value;

/// `ClusterId.ProcId.SubProc` as the header writes it. Cluster-level events carry proc -1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct JobId {
    pub cluster: i64,
    pub proc: i64,
    pub subproc: i64,
}

impl JobId {
    pub fn new(cluster: i64, proc: i64) -> JobId {
        JobId {
            cluster,
            proc,
            subproc: 0,
        }
    }

    /// Whether this is of ClusterId `cluster` and, if `proc` is given, that ProcId (what
    /// `--job CLUSTER[.PROC]` selects).
    pub fn is_of(&self, cluster: i64, proc: Option<i64>) -> bool {
        self.cluster == cluster && proc.is_none_or(|p| self.proc == p)
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.cluster, self.proc)
    }
}

/// Where an event starts in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Byte offset of the first byte of the event.
    pub offset: u64,
    /// 1-based line number of the header line (0 for formats without lines).
    pub line: u64,
}

/// How the event's time was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateForm {
    /// `YYYY-MM-DD HH:MM:SS`.
    #[default]
    Iso,
    /// `MM/DD HH:MM:SS`, no year: the reader inferred it.
    Legacy,
    /// An `EventTime` attribute of a JSON or XML event.
    Attribute,
}

/// The outcome of a process: normal exit with a value, or a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Termination {
    Normal {
        return_value: i64,
    },
    Abnormal {
        signal: i64,
        core_file: Option<String>,
    },
}

/// One row of the resource usage table of events 004, 005 and 015.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    /// Resource name: the label up to its first space (`Disk (KB)` is `Disk`). The names
    /// HTCondor writes in every table are borrowed, not copied per row.
    pub resource: Cow<'static, str>,
    pub usage: Option<Value>,
    pub request: Option<Value>,
    pub allocated: Option<Value>,
    pub assigned: Option<Value>,
}

/// The usage text of no usage at all, which local usage nearly always reads.
pub const NO_USAGE: &str = "Usr 0 00:00:00, Sys 0 00:00:00";

/// The four `Usr D HH:MM:SS, Sys D HH:MM:SS` lines and four byte counters of 005/015.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rusage {
    /// Each `Usr D HH:MM:SS, Sys D HH:MM:SS` as written; no usage at all (local usage
    /// nearly always) is borrowed, not copied per event.
    pub run_remote: Option<Cow<'static, str>>,
    pub run_local: Option<Cow<'static, str>>,
    pub total_remote: Option<Cow<'static, str>>,
    pub total_local: Option<Cow<'static, str>>,
    pub sent_bytes: Option<f64>,
    pub received_bytes: Option<f64>,
    pub total_sent_bytes: Option<f64>,
    pub total_received_bytes: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Terminated {
    pub termination: Termination,
    pub rusage: Rusage,
    pub usage: Vec<UsageRow>,
    /// Node number for 015 (parallel universe).
    pub node: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Evicted {
    pub checkpointed: bool,
    /// Set when the job terminated and was requeued (`(0) Job terminated and was requeued`).
    pub requeued: Option<Termination>,
    pub terminated_and_requeued: bool,
    pub reason: Option<String>,
    /// `Code C Subcode S` on the header (vacate codes, since 24.3).
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    pub rusage: Rusage,
    pub usage: Vec<UsageRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// HoldReason; `None` when the writer said `Reason unspecified`.
    pub reason: Option<String>,
    pub code: i64,
    pub subcode: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Execute {
    pub host: String,
    pub slot_name: Option<String>,
    /// The `Name = value` lines after `SlotName:` (ExecuteProps). The slot properties every
    /// execute event carries (`Cpus`, `Memory`, ...) are named without a copy.
    pub props: Vec<(Cow<'static, str>, Value)>,
    /// Node number for 014.
    pub node: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Submit {
    pub host: String,
    pub log_notes: Option<String>,
    pub user_notes: Option<String>,
    pub warnings: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImageSize {
    pub size_kb: i64,
    pub memory_usage_mb: Option<i64>,
    pub resident_set_size_kb: Option<i64>,
    pub proportional_set_size_kb: Option<i64>,
}

/// Kinds of event 040, numbered as `FileTransferEvent.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTransferKind {
    InputQueued = 1,
    InputStarted = 2,
    InputFinished = 3,
    OutputQueued = 4,
    OutputStarted = 5,
    OutputFinished = 6,
}

impl FileTransferKind {
    pub fn from_number(n: i64) -> Option<FileTransferKind> {
        use FileTransferKind::*;
        Some(match n {
            1 => InputQueued,
            2 => InputStarted,
            3 => InputFinished,
            4 => OutputQueued,
            5 => OutputStarted,
            6 => OutputFinished,
            _ => return None,
        })
    }
    pub fn title(self) -> &'static str {
        crate::event_type::FILE_TRANSFER_TITLES[self as usize - 1]
    }
}

/// The typed body of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    Submit(Submit),
    Execute(Execute),
    ExecutableError {
        error_type: i64,
    },
    Evicted(Box<Evicted>),
    Terminated(Box<Terminated>),
    ImageSize(ImageSize),
    ShadowException {
        message: String,
        sent_bytes: Option<f64>,
        received_bytes: Option<f64>,
    },
    Generic {
        info: String,
    },
    Aborted {
        reason: Option<String>,
    },
    Suspended {
        num_pids: i64,
    },
    Held(Held),
    Released {
        reason: Option<String>,
    },
    PostScriptTerminated {
        termination: Termination,
        dag_node: Option<String>,
    },
    RemoteError {
        critical: bool,
        daemon: String,
        host: String,
        message: String,
        code: i64,
        subcode: i64,
    },
    Disconnected {
        reason: String,
        startd_name: String,
        startd_addr: String,
    },
    Reconnected {
        startd_name: String,
        startd_addr: String,
        starter_addr: String,
    },
    ReconnectFailed {
        reason: String,
        startd_name: String,
    },
    GridResource {
        resource: String,
    },
    GridSubmit {
        resource: String,
        job_id: String,
    },
    /// 028: the `Attr = value` lines.
    JobAdInformation {
        attrs: Vec<(String, Value)>,
    },
    AttributeUpdate {
        attribute: String,
        old_value: Option<String>,
        value: String,
    },
    ClusterSubmit {
        host: String,
    },
    ClusterRemove {
        next_proc: i64,
        next_row: i64,
        completion: i64,
        notes: Option<String>,
    },
    FileTransfer {
        kind: FileTransferKind,
        queueing_delay: Option<i64>,
        host: Option<String>,
    },
    PreSkip {
        dag_node: Option<String>,
    },
    /// Any other event: its title, raw body lines and the `Name = value` lines among them.
    Other {
        head: String,
        lines: Vec<String>,
        attrs: Vec<(String, Value)>,
    },
}

/// One job event from an event log.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event number (`EventTypeNumber`); may be one HTCondor does not define yet.
    pub number: u16,
    pub id: JobId,
    /// Wall-clock time as written, year resolved for legacy dates, milliseconds kept.
    pub time: NaiveDateTime,
    /// The time was written in UTC (`Z`).
    pub utc: bool,
    /// Seconds since the Unix epoch (see `ReadOptions::zone` for times without `Z`).
    pub timestamp: i64,
    pub date_form: DateForm,
    pub body: EventBody,
    pub position: Position,
}

impl Event {
    pub fn event_type(&self) -> Option<EventType> {
        EventType::from_number(self.number)
    }

    pub fn is(&self, t: EventType) -> bool {
        self.number == t as u16
    }

    /// The hold, when this is a 012.
    pub fn held(&self) -> Option<&Held> {
        match &self.body {
            EventBody::Held(h) => Some(h),
            _ => None,
        }
    }

    /// The DAG node this event names, wherever the writer put it (submit notes, POST script
    /// and PRE_SKIP events, structured notes).
    pub fn dag_node(&self) -> Option<&str> {
        match &self.body {
            EventBody::Submit(s) => s.log_notes.as_deref().and_then(dag_node_of_notes),
            EventBody::PostScriptTerminated { dag_node, .. } | EventBody::PreSkip { dag_node } => {
                dag_node.as_deref()
            }
            EventBody::JobAdInformation { attrs } => attrs
                .iter()
                .find(|(k, _)| k == "LogNotes")
                .and_then(|(_, v)| v.as_str())
                .and_then(dag_node_of_notes),
            _ => None,
        }
    }
}

/// `DAG Node: NAME` (old notes) or a structured-notes ClassAd naming `DAGNodeName`.
pub fn dag_node_of_notes(notes: &str) -> Option<&str> {
    let notes = notes.trim();
    if let Some(name) = notes.strip_prefix("DAG Node: ") {
        return Some(name.trim());
    }
    let at = notes.find("DAGNodeName")?;
    let rest = notes[at + "DAGNodeName".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let rest = rest.strip_prefix('"')?;
    rest.find('"').map(|end| &rest[..end])
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_stays_small_enough_to_move_cheaply() {
        // Events are moved through iterators by value: keep large bodies boxed (guard against growth).
        assert!(
            std::mem::size_of::<super::Event>() <= 168,
            "{}",
            std::mem::size_of::<super::Event>()
        );
    }
}
