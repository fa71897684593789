//! Events as ClassAds: the attribute names HTCondor's JSON/XML formats and Python bindings
//! use (`MyType`, `EventTypeNumber`, `HoldReasonCode`, ...), in both directions.

use std::borrow::Cow;

use chrono::NaiveDateTime;

use crate::event::*;
use crate::event_type::{EventType, my_type};
use crate::time::{Zone, format_event_time, parse_event_time};
use crate::value::Value;

type Attrs = Vec<(String, Value)>;

fn put(a: &mut Attrs, name: &str, v: Value) {
    a.push((name.to_string(), v));
}
fn put_str(a: &mut Attrs, name: &str, s: &str) {
    put(a, name, Value::Str(s.to_string()));
}
fn put_opt_str(a: &mut Attrs, name: &str, s: &Option<String>) {
    if let Some(s) = s {
        put_str(a, name, s);
    }
}
fn put_nonempty(a: &mut Attrs, name: &str, s: &str) {
    if !s.is_empty() {
        put_str(a, name, s);
    }
}

fn termination_attrs(a: &mut Attrs, t: &Termination) {
    match t {
        Termination::Normal { return_value } => {
            put(a, "TerminatedNormally", Value::Bool(true));
            put(a, "ReturnValue", Value::Int(*return_value));
        }
        Termination::Abnormal { signal, core_file } => {
            put(a, "TerminatedNormally", Value::Bool(false));
            put(a, "TerminatedBySignal", Value::Int(*signal));
            put_opt_str(a, "CoreFile", core_file);
        }
    }
}

fn usage_attrs(a: &mut Attrs, rows: &[UsageRow]) {
    for row in rows {
        if let Some(v) = &row.usage {
            put(a, &format!("{}Usage", row.resource), v.clone());
        }
        if let Some(v) = &row.request {
            put(a, &format!("Request{}", row.resource), v.clone());
        }
        if let Some(v) = &row.allocated {
            put(a, &row.resource, v.clone());
        }
        if let Some(v) = &row.assigned {
            put(a, &format!("Assigned{}", row.resource), v.clone());
        }
    }
}

fn rusage_str(s: &Option<Cow<'static, str>>) -> Value {
    Value::Str(s.as_deref().unwrap_or(NO_USAGE).to_string())
}

impl Event {
    /// The event's ClassAd, with the attribute names and value types HTCondor's bindings give.
    pub fn to_attrs(&self) -> Attrs {
        let mut a = Attrs::with_capacity(12);
        put_str(&mut a, "MyType", my_type(self.number));
        put(&mut a, "EventTypeNumber", Value::Int(self.number.into()));
        put_str(
            &mut a,
            "EventTime",
            &format_event_time(&self.time, self.utc),
        );
        if self.id.cluster >= 0 {
            put(&mut a, "Cluster", Value::Int(self.id.cluster));
        }
        if self.id.proc >= 0 {
            put(&mut a, "Proc", Value::Int(self.id.proc));
        }
        if self.id.subproc >= 0 {
            put(&mut a, "Subproc", Value::Int(self.id.subproc));
        }
        match &self.body {
            EventBody::Submit(s) => {
                put_nonempty(&mut a, "SubmitHost", &s.host);
                put_opt_str(&mut a, "LogNotes", &s.log_notes);
                put_opt_str(&mut a, "UserNotes", &s.user_notes);
                put_opt_str(&mut a, "Warnings", &s.warnings);
                if let Some(node) = s.log_notes.as_deref().and_then(dag_node_of_notes) {
                    put(
                        &mut a,
                        "StructuredNotes",
                        Value::Ad(vec![("DAGNodeName".into(), Value::Str(node.into()))]),
                    );
                }
            }
            EventBody::Execute(e) => {
                if let Some(n) = e.node {
                    put(&mut a, "Node", Value::Int(n));
                }
                put_nonempty(&mut a, "ExecuteHost", &e.host);
                put_opt_str(&mut a, "SlotName", &e.slot_name);
                if !e.props.is_empty() {
                    put(
                        &mut a,
                        "ExecuteProps",
                        Value::Ad(
                            e.props
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.clone()))
                                .collect(),
                        ),
                    );
                }
            }
            EventBody::ExecutableError { error_type } => {
                if *error_type >= 0 {
                    put(&mut a, "ExecuteErrorType", Value::Int(*error_type));
                }
            }
            EventBody::Evicted(e) => {
                put(&mut a, "Checkpointed", Value::Bool(e.checkpointed));
                put(&mut a, "RunLocalUsage", rusage_str(&e.rusage.run_local));
                put(&mut a, "RunRemoteUsage", rusage_str(&e.rusage.run_remote));
                put(
                    &mut a,
                    "SentBytes",
                    Value::Real(e.rusage.sent_bytes.unwrap_or(0.0)),
                );
                put(
                    &mut a,
                    "ReceivedBytes",
                    Value::Real(e.rusage.received_bytes.unwrap_or(0.0)),
                );
                put(
                    &mut a,
                    "TerminatedAndRequeued",
                    Value::Bool(e.terminated_and_requeued),
                );
                match &e.requeued {
                    Some(t) => termination_attrs(&mut a, t),
                    None => put(&mut a, "TerminatedNormally", Value::Bool(false)),
                }
                put_opt_str(&mut a, "Reason", &e.reason);
                if let Some(c) = e.code {
                    put(&mut a, "ReasonCode", Value::Int(c));
                    put(&mut a, "ReasonSubCode", Value::Int(e.subcode.unwrap_or(0)));
                }
            }
            EventBody::Terminated(t) => {
                if let Some(n) = t.node {
                    put(&mut a, "Node", Value::Int(n));
                }
                usage_attrs(&mut a, &t.usage);
                termination_attrs(&mut a, &t.termination);
                let r = &t.rusage;
                put(&mut a, "RunLocalUsage", rusage_str(&r.run_local));
                put(&mut a, "RunRemoteUsage", rusage_str(&r.run_remote));
                put(&mut a, "TotalLocalUsage", rusage_str(&r.total_local));
                put(&mut a, "TotalRemoteUsage", rusage_str(&r.total_remote));
                put(
                    &mut a,
                    "SentBytes",
                    Value::Real(r.sent_bytes.unwrap_or(0.0)),
                );
                put(
                    &mut a,
                    "ReceivedBytes",
                    Value::Real(r.received_bytes.unwrap_or(0.0)),
                );
                put(
                    &mut a,
                    "TotalSentBytes",
                    Value::Real(r.total_sent_bytes.unwrap_or(0.0)),
                );
                put(
                    &mut a,
                    "TotalReceivedBytes",
                    Value::Real(r.total_received_bytes.unwrap_or(0.0)),
                );
            }
            EventBody::ImageSize(i) => {
                if i.size_kb >= 0 {
                    put(&mut a, "Size", Value::Int(i.size_kb));
                }
                if let Some(m) = i.memory_usage_mb.filter(|m| *m >= 0) {
                    put(&mut a, "MemoryUsage", Value::Int(m));
                }
                // HTCondor's reader defaults ResidentSetSize to 0 when the line is absent.
                put(
                    &mut a,
                    "ResidentSetSize",
                    Value::Int(i.resident_set_size_kb.unwrap_or(0)),
                );
                if let Some(p) = i.proportional_set_size_kb.filter(|p| *p >= 0) {
                    put(&mut a, "ProportionalSetSize", Value::Int(p));
                }
            }
            EventBody::ShadowException {
                message,
                sent_bytes,
                received_bytes,
            } => {
                put_str(&mut a, "Message", message);
                put(&mut a, "SentBytes", Value::Real(sent_bytes.unwrap_or(0.0)));
                put(
                    &mut a,
                    "ReceivedBytes",
                    Value::Real(received_bytes.unwrap_or(0.0)),
                );
            }
            EventBody::Generic { info } => put_nonempty(&mut a, "Info", info),
            EventBody::Aborted { reason } | EventBody::Released { reason } => {
                put_opt_str(&mut a, "Reason", reason)
            }
            EventBody::Suspended { num_pids } => put(&mut a, "NumberOfPIDs", Value::Int(*num_pids)),
            EventBody::Held(h) => {
                put_opt_str(&mut a, "HoldReason", &h.reason);
                put(&mut a, "HoldReasonCode", Value::Int(h.code));
                put(&mut a, "HoldReasonSubCode", Value::Int(h.subcode));
            }
            EventBody::PostScriptTerminated {
                termination,
                dag_node,
            } => {
                termination_attrs(&mut a, termination);
                put_opt_str(&mut a, "DAGNodeName", dag_node);
            }
            EventBody::PreSkip { dag_node } => {
                if let Some(n) = dag_node {
                    put_str(&mut a, "SkipEventLogNotes", &format!("DAG Node: {n}"));
                }
            }
            EventBody::RemoteError {
                critical,
                daemon,
                host,
                message,
                code,
                subcode,
            } => {
                put_nonempty(&mut a, "Daemon", daemon);
                put_nonempty(&mut a, "ExecuteHost", host);
                put_nonempty(&mut a, "ErrorMsg", message);
                if !critical {
                    put(&mut a, "CriticalError", Value::Int(0));
                }
                if *code != 0 {
                    put(&mut a, "HoldReasonCode", Value::Int(*code));
                    put(&mut a, "HoldReasonSubCode", Value::Int(*subcode));
                }
            }
            EventBody::Disconnected {
                reason,
                startd_name,
                startd_addr,
            } => {
                put_str(
                    &mut a,
                    "EventDescription",
                    "Job disconnected, attempting to reconnect",
                );
                put_nonempty(&mut a, "DisconnectReason", reason);
                put_nonempty(&mut a, "StartdName", startd_name);
                put_nonempty(&mut a, "StartdAddr", startd_addr);
            }
            EventBody::Reconnected {
                startd_name,
                startd_addr,
                starter_addr,
            } => {
                put_nonempty(&mut a, "StartdName", startd_name);
                put_nonempty(&mut a, "StartdAddr", startd_addr);
                put_nonempty(&mut a, "StarterAddr", starter_addr);
            }
            EventBody::ReconnectFailed {
                reason,
                startd_name,
            } => {
                put_str(
                    &mut a,
                    "EventDescription",
                    "Job reconnect impossible: rescheduling job",
                );
                put_nonempty(&mut a, "Reason", reason);
                put_nonempty(&mut a, "StartdName", startd_name);
            }
            EventBody::GridResource { resource } => put_nonempty(&mut a, "GridResource", resource),
            EventBody::GridSubmit { resource, job_id } => {
                put_nonempty(&mut a, "GridResource", resource);
                put_nonempty(&mut a, "GridJobId", job_id);
            }
            EventBody::JobAdInformation { attrs } => {
                for (k, v) in attrs {
                    if !matches!(
                        k.as_str(),
                        "MyType" | "EventTypeNumber" | "EventTime" | "Cluster" | "Proc" | "Subproc"
                    ) {
                        a.push((k.clone(), v.clone()));
                    }
                }
            }
            EventBody::AttributeUpdate {
                attribute,
                old_value,
                value,
            } => {
                put_str(&mut a, "Attribute", attribute);
                put_str(&mut a, "Value", value);
                put_opt_str(&mut a, "OldValue", old_value);
            }
            EventBody::ClusterSubmit { host } => put_nonempty(&mut a, "SubmitHost", host),
            EventBody::ClusterRemove {
                next_proc,
                next_row,
                completion,
                notes,
            } => {
                put(&mut a, "NextProcId", Value::Int(*next_proc));
                put(&mut a, "NextRow", Value::Int(*next_row));
                put(&mut a, "Completion", Value::Int(*completion));
                put_opt_str(&mut a, "Notes", notes);
            }
            EventBody::FileTransfer {
                kind,
                queueing_delay,
                host,
            } => {
                put(&mut a, "Type", Value::Int(*kind as i64));
                if let Some(d) = queueing_delay {
                    put(&mut a, "QueueingDelay", Value::Int(*d));
                }
                put_opt_str(&mut a, "Host", host);
            }
            EventBody::Other { head, attrs, .. } => {
                if my_type(self.number) == "FutureEvent" {
                    put_str(&mut a, "EventHead", head);
                }
                for (k, v) in attrs {
                    if !a.iter().any(|(n, _)| n == k) {
                        a.push((k.clone(), v.clone()));
                    }
                }
            }
        }
        a
    }

    /// The event's ClassAd as HTCondor's JSON format writes it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.to_attrs()
                .into_iter()
                .map(|(k, v)| (k, v.to_json()))
                .collect(),
        )
    }
}

/// Looks up attributes of an event ClassAd by name (case-insensitively, as ClassAds do).
struct Ad<'a>(&'a [(String, Value)]);

impl Ad<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
    fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_i64)
    }
    fn real(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(Value::as_f64)
    }
    fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(Value::as_bool)
    }
    fn string(&self, name: &str) -> Option<String> {
        self.get(name).and_then(Value::as_str).map(str::to_string)
    }
    fn text(&self, name: &str) -> String {
        self.string(name).unwrap_or_default()
    }
    fn termination(&self) -> Termination {
        if self.bool("TerminatedNormally").unwrap_or(false) {
            Termination::Normal {
                return_value: self.int("ReturnValue").unwrap_or(-1),
            }
        } else {
            Termination::Abnormal {
                signal: self.int("TerminatedBySignal").unwrap_or(-1),
                core_file: self.string("CoreFile"),
            }
        }
    }
    fn rusage(&self) -> Rusage {
        Rusage {
            run_remote: self.string("RunRemoteUsage").map(Cow::Owned),
            run_local: self.string("RunLocalUsage").map(Cow::Owned),
            total_remote: self.string("TotalRemoteUsage").map(Cow::Owned),
            total_local: self.string("TotalLocalUsage").map(Cow::Owned),
            sent_bytes: self.real("SentBytes"),
            received_bytes: self.real("ReceivedBytes"),
            total_sent_bytes: self.real("TotalSentBytes"),
            total_received_bytes: self.real("TotalReceivedBytes"),
        }
    }
    /// `Request<R>` with a matching `<R>` makes a usage row, as HTCondor's reader decides.
    fn usage_rows(&self) -> Vec<UsageRow> {
        let mut rows = Vec::new();
        for (k, v) in self.0 {
            let Some(res) = k.strip_prefix("Request") else {
                continue;
            };
            if res.is_empty() {
                continue;
            }
            let Some(alloc) = self.get(res) else { continue };
            rows.push(UsageRow {
                resource: res.to_string().into(),
                usage: self.get(&format!("{res}Usage")).cloned(),
                request: Some(v.clone()),
                allocated: Some(alloc.clone()),
                assigned: self.get(&format!("Assigned{res}")).cloned(),
            });
        }
        rows
    }
}

/// What an event ClassAd lacked to be read as an event.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrError(pub String);

/// Builds an event from its ClassAd (JSON and XML formats). The common attributes must be
/// present; the body takes what it finds, as HTCondor's `initFromClassAd` does.
pub fn event_from_attrs(
    attrs: Vec<(String, Value)>,
    zone: Zone,
    position: Position,
) -> Result<Event, AttrError> {
    let ad = Ad(&attrs);
    let number = match ad.int("EventTypeNumber") {
        Some(n) => {
            u16::try_from(n).map_err(|_| AttrError(format!("EventTypeNumber {n} out of range")))?
        }
        None => ad
            .string("MyType")
            .and_then(|t| crate::event_type::number_of_my_type(&t))
            .ok_or_else(|| AttrError("an EventTypeNumber attribute".into()))?,
    };
    let time_text = ad
        .string("EventTime")
        .ok_or_else(|| AttrError("an EventTime attribute".into()))?;
    let ht = parse_event_time(&time_text)
        .ok_or_else(|| AttrError(format!("an ISO EventTime, found {time_text:?}")))?;
    let year = ht
        .year
        .ok_or_else(|| AttrError("a year in EventTime".into()))?;
    let time: NaiveDateTime = chrono::NaiveDate::from_ymd_opt(year, ht.month, ht.day)
        .ok_or_else(|| AttrError(format!("a valid date in EventTime, found {time_text:?}")))?
        .and_time(ht.time);
    let timestamp = if ht.utc {
        Zone::Utc.to_unix(time)
    } else if let Some(off) = ht.offset {
        Zone::Fixed(off).to_unix(time)
    } else {
        zone.to_unix(time)
    };
    let id = JobId {
        cluster: ad.int("Cluster").unwrap_or(-1),
        proc: ad.int("Proc").unwrap_or(-1),
        subproc: ad.int("Subproc").unwrap_or(-1),
    };
    let body = body_from_attrs(number, &ad);
    Ok(Event {
        number,
        id,
        time,
        utc: ht.utc,
        timestamp,
        date_form: DateForm::Attribute,
        body,
        position,
    })
}

fn body_from_attrs(number: u16, ad: &Ad) -> EventBody {
    use EventType as T;
    let Some(kind) = EventType::from_number(number) else {
        return other_from_attrs(ad);
    };
    match kind {
        T::Submit => EventBody::Submit(Submit {
            host: ad.text("SubmitHost"),
            log_notes: ad.string("LogNotes"),
            user_notes: ad.string("UserNotes"),
            warnings: ad.string("Warnings"),
        }),
        T::Execute | T::NodeExecute => EventBody::Execute(Execute {
            host: ad.text("ExecuteHost"),
            slot_name: ad.string("SlotName"),
            props: match ad.get("ExecuteProps") {
                Some(Value::Ad(p)) => p
                    .iter()
                    .map(|(k, v)| (Cow::Owned(k.clone()), v.clone()))
                    .collect(),
                _ => Vec::new(),
            },
            node: if kind == T::NodeExecute {
                ad.int("Node")
            } else {
                None
            },
        }),
        T::ExecutableError => EventBody::ExecutableError {
            error_type: ad.int("ExecuteErrorType").unwrap_or(-1),
        },
        T::JobEvicted => {
            let requeued = ad.bool("TerminatedAndRequeued").unwrap_or(false);
            EventBody::Evicted(Box::new(Evicted {
                checkpointed: ad.bool("Checkpointed").unwrap_or(false),
                requeued: requeued.then(|| ad.termination()),
                terminated_and_requeued: requeued,
                reason: ad.string("Reason"),
                code: ad.int("ReasonCode"),
                subcode: ad.int("ReasonSubCode"),
                rusage: ad.rusage(),
                usage: Vec::new(),
            }))
        }
        T::JobTerminated | T::NodeTerminated => EventBody::Terminated(Box::new(Terminated {
            termination: ad.termination(),
            rusage: ad.rusage(),
            usage: ad.usage_rows(),
            node: if kind == T::NodeTerminated {
                ad.int("Node")
            } else {
                None
            },
        })),
        T::ImageSize => EventBody::ImageSize(ImageSize {
            size_kb: ad.int("Size").unwrap_or(-1),
            memory_usage_mb: ad.int("MemoryUsage"),
            resident_set_size_kb: ad.int("ResidentSetSize"),
            proportional_set_size_kb: ad.int("ProportionalSetSize"),
        }),
        T::ShadowException => EventBody::ShadowException {
            message: ad.text("Message"),
            sent_bytes: ad.real("SentBytes"),
            received_bytes: ad.real("ReceivedBytes"),
        },
        T::Generic => EventBody::Generic {
            info: ad.text("Info"),
        },
        T::JobAborted => EventBody::Aborted {
            reason: ad.string("Reason"),
        },
        T::JobSuspended => EventBody::Suspended {
            num_pids: ad.int("NumberOfPIDs").unwrap_or(-1),
        },
        T::JobHeld => EventBody::Held(Held {
            reason: ad.string("HoldReason"),
            code: ad.int("HoldReasonCode").unwrap_or(0),
            subcode: ad.int("HoldReasonSubCode").unwrap_or(0),
        }),
        T::JobReleased => EventBody::Released {
            reason: ad.string("Reason"),
        },
        T::PostScriptTerminated => EventBody::PostScriptTerminated {
            termination: ad.termination(),
            dag_node: ad.string("DAGNodeName"),
        },
        T::PreSkip => EventBody::PreSkip {
            dag_node: ad
                .string("SkipEventLogNotes")
                .map(|n| n.strip_prefix("DAG Node: ").unwrap_or(&n).to_string()),
        },
        T::RemoteError => EventBody::RemoteError {
            critical: ad.int("CriticalError").is_none_or(|c| c != 0),
            daemon: ad.text("Daemon"),
            host: ad.text("ExecuteHost"),
            message: ad.text("ErrorMsg"),
            code: ad.int("HoldReasonCode").unwrap_or(0),
            subcode: ad.int("HoldReasonSubCode").unwrap_or(0),
        },
        T::JobDisconnected => EventBody::Disconnected {
            reason: ad.text("DisconnectReason"),
            startd_name: ad.text("StartdName"),
            startd_addr: ad.text("StartdAddr"),
        },
        T::JobReconnected => EventBody::Reconnected {
            startd_name: ad.text("StartdName"),
            startd_addr: ad.text("StartdAddr"),
            starter_addr: ad.text("StarterAddr"),
        },
        T::JobReconnectFailed => EventBody::ReconnectFailed {
            reason: ad.text("Reason"),
            startd_name: ad.text("StartdName"),
        },
        T::GridResourceUp | T::GridResourceDown => EventBody::GridResource {
            resource: ad.text("GridResource"),
        },
        T::GridSubmit => EventBody::GridSubmit {
            resource: ad.text("GridResource"),
            job_id: ad.text("GridJobId"),
        },
        T::JobAdInformation => EventBody::JobAdInformation {
            attrs: ad
                .0
                .iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "MyType" | "EventTypeNumber" | "EventTime" | "Cluster" | "Proc" | "Subproc"
                    )
                })
                .cloned()
                .collect(),
        },
        T::AttributeUpdate => EventBody::AttributeUpdate {
            attribute: ad.text("Attribute"),
            old_value: ad.string("OldValue"),
            value: ad.text("Value"),
        },
        T::ClusterSubmit => EventBody::ClusterSubmit {
            host: ad.text("SubmitHost"),
        },
        T::ClusterRemove => EventBody::ClusterRemove {
            next_proc: ad.int("NextProcId").unwrap_or(0),
            next_row: ad.int("NextRow").unwrap_or(0),
            completion: ad.int("Completion").unwrap_or(0),
            notes: ad.string("Notes"),
        },
        T::FileTransfer => match ad.int("Type").and_then(FileTransferKind::from_number) {
            Some(kind) => EventBody::FileTransfer {
                kind,
                queueing_delay: ad.int("QueueingDelay"),
                host: ad.string("Host"),
            },
            None => other_from_attrs(ad),
        },
        _ => other_from_attrs(ad),
    }
}

fn other_from_attrs(ad: &Ad) -> EventBody {
    EventBody::Other {
        head: ad.text("EventHead"),
        lines: Vec::new(),
        attrs: ad
            .0
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "MyType"
                        | "EventTypeNumber"
                        | "EventTime"
                        | "Cluster"
                        | "Proc"
                        | "Subproc"
                        | "EventHead"
                )
            })
            .cloned()
            .collect(),
    }
}
