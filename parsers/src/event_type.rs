//! The one table of HTCondor job event numbers.
//!
//! Numbers, `ULOG_*` names, the bindings' `MyType` names and the title text the writer puts
//! after the date follow HTCondor's `condor_event.{h,cpp}`. Everything else in the project
//! names event types through [`EventType`]; nothing else hard-codes an event number.

/// One row of the event table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTypeInfo {
    pub number: u16,
    /// HTCondor's enum name without the `ULOG_` prefix, e.g. `JOB_HELD`.
    pub name: &'static str,
    /// The `MyType` of the event's ClassAd (what the bindings and the JSON format carry).
    pub my_type: &'static str,
    /// The title text the writer puts on the header line (constant part only).
    pub title: &'static str,
}

macro_rules! event_table {
    ($( $variant:ident = $num:literal, $name:literal, $my_type:literal, $title:literal; )*) => {
        /// HTCondor's job event types (`ULogEventNumber`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum EventType { $( $variant = $num, )* }

        /// Every event type HTCondor defines, in number order.
        pub const EVENT_TABLE: &[EventTypeInfo] = &[
            $( EventTypeInfo { number: $num, name: $name, my_type: $my_type, title: $title }, )*
        ];

        impl EventType {
            /// All event types, in number order.
            pub const ALL: &'static [EventType] = &[ $( EventType::$variant, )* ];

            /// The event type with this number, if HTCondor defines one.
            pub fn from_number(number: u16) -> Option<EventType> {
                match number {
                    $( $num => Some(EventType::$variant), )*
                    _ => None,
                }
            }

            pub fn info(self) -> &'static EventTypeInfo {
                match self {
                    $( EventType::$variant => &EventTypeInfo { number: $num, name: $name, my_type: $my_type, title: $title }, )*
                }
            }
        }
    };
}

event_table! {
    Submit = 0, "SUBMIT", "SubmitEvent", "Job submitted from host:";
    Execute = 1, "EXECUTE", "ExecuteEvent", "Job executing on host:";
    ExecutableError = 2, "EXECUTABLE_ERROR", "ExecutableErrorEvent", "Job file not executable.";
    Checkpointed = 3, "CHECKPOINTED", "CheckpointedEvent", "Job was checkpointed.";
    JobEvicted = 4, "JOB_EVICTED", "JobEvictedEvent", "Job was evicted.";
    JobTerminated = 5, "JOB_TERMINATED", "JobTerminatedEvent", "Job terminated.";
    ImageSize = 6, "IMAGE_SIZE", "JobImageSizeEvent", "Image size of job updated:";
    ShadowException = 7, "SHADOW_EXCEPTION", "ShadowExceptionEvent", "Shadow exception!";
    Generic = 8, "GENERIC", "GenericEvent", "";
    JobAborted = 9, "JOB_ABORTED", "JobAbortedEvent", "Job was aborted.";
    JobSuspended = 10, "JOB_SUSPENDED", "JobSuspendedEvent", "Job was suspended.";
    JobUnsuspended = 11, "JOB_UNSUSPENDED", "JobUnsuspendedEvent", "Job was unsuspended.";
    JobHeld = 12, "JOB_HELD", "JobHeldEvent", "Job was held.";
    JobReleased = 13, "JOB_RELEASED", "JobReleaseEvent", "Job was released.";
    NodeExecute = 14, "NODE_EXECUTE", "NodeExecuteEvent", "Node executing on host:";
    NodeTerminated = 15, "NODE_TERMINATED", "NodeTerminatedEvent", "Node terminated.";
    PostScriptTerminated = 16, "POST_SCRIPT_TERMINATED", "PostScriptTerminatedEvent", "POST Script terminated.";
    GlobusSubmit = 17, "GLOBUS_SUBMIT", "FutureEvent", "Job submitted to Globus";
    GlobusSubmitFailed = 18, "GLOBUS_SUBMIT_FAILED", "FutureEvent", "Globus job submission failed!";
    GlobusResourceUp = 19, "GLOBUS_RESOURCE_UP", "FutureEvent", "Globus Resource Back Up";
    GlobusResourceDown = 20, "GLOBUS_RESOURCE_DOWN", "FutureEvent", "Detected Down Globus Resource";
    RemoteError = 21, "REMOTE_ERROR", "RemoteErrorEvent", "Error from";
    JobDisconnected = 22, "JOB_DISCONNECTED", "JobDisconnectedEvent", "Job disconnected, attempting to reconnect";
    JobReconnected = 23, "JOB_RECONNECTED", "JobReconnectedEvent", "Job reconnected to";
    JobReconnectFailed = 24, "JOB_RECONNECT_FAILED", "JobReconnectFailedEvent", "Job reconnection failed";
    GridResourceUp = 25, "GRID_RESOURCE_UP", "GridResourceUpEvent", "Grid Resource Back Up";
    GridResourceDown = 26, "GRID_RESOURCE_DOWN", "GridResourceDownEvent", "Detected Down Grid Resource";
    GridSubmit = 27, "GRID_SUBMIT", "GridSubmitEvent", "Job submitted to grid resource";
    JobAdInformation = 28, "JOB_AD_INFORMATION", "JobAdInformationEvent", "Job ad information event triggered.";
    JobStatusUnknown = 29, "JOB_STATUS_UNKNOWN", "JobStatusUnknownEvent", "The job's remote status is unknown";
    JobStatusKnown = 30, "JOB_STATUS_KNOWN", "JobStatusKnownEvent", "The job's remote status is known again";
    JobStageIn = 31, "JOB_STAGE_IN", "JobStageInEvent", "Job is performing stage-in of input files";
    JobStageOut = 32, "JOB_STAGE_OUT", "JobStageOutEvent", "Job is performing stage-out of output files";
    AttributeUpdate = 33, "ATTRIBUTE_UPDATE", "AttributeUpdateEvent", "Changing job attribute";
    PreSkip = 34, "PRESKIP", "PreSkipEvent", "PRE script return value is PRE_SKIP value";
    ClusterSubmit = 35, "CLUSTER_SUBMIT", "ClusterSubmitEvent", "Cluster submitted from host:";
    ClusterRemove = 36, "CLUSTER_REMOVE", "ClusterRemoveEvent", "Cluster removed";
    FactoryPaused = 37, "FACTORY_PAUSED", "FactoryPausedEvent", "Job Materialization Paused";
    FactoryResumed = 38, "FACTORY_RESUMED", "FactoryResumedEvent", "Job Materialization Resumed";
    None = 39, "NONE", "FutureEvent", "None";
    FileTransfer = 40, "FILE_TRANSFER", "FileTransferEvent", "File transfer";
    ReserveSpace = 41, "RESERVE_SPACE", "ReserveSpaceEvent", "";
    ReleaseSpace = 42, "RELEASE_SPACE", "ReleaseSpaceEvent", "";
    FileComplete = 43, "FILE_COMPLETE", "FileCompleteEvent", "";
    FileUsed = 44, "FILE_USED", "FileUsedEvent", "";
    FileRemoved = 45, "FILE_REMOVED", "FileRemovedEvent", "";
    DataflowJobSkipped = 46, "DATAFLOW_JOB_SKIPPED", "DataflowJobSkippedEvent", "Dataflow job was skipped.";
    CommonFiles = 47, "COMMON_FILES", "FutureEvent", "Common files event:";
}

impl EventType {
    pub fn number(self) -> u16 {
        self as u16
    }
    pub fn name(self) -> &'static str {
        self.info().name
    }
    pub fn my_type(self) -> &'static str {
        self.info().my_type
    }
}

/// The `ULOG_*` style name of any event number, `FUTURE_<n>` for numbers HTCondor does not define.
pub fn event_name(number: u16) -> String {
    match EventType::from_number(number) {
        Some(t) => t.name().to_string(),
        None => format!("FUTURE_{number}"),
    }
}

/// The `MyType` of any event number (`FutureEvent` for unknown numbers, as the bindings say).
pub fn my_type(number: u16) -> &'static str {
    EventType::from_number(number).map_or("FutureEvent", |t| t.my_type())
}

/// The event number of a `MyType`, for formats that carry only `MyType`.
pub fn number_of_my_type(my_type: &str) -> Option<u16> {
    EVENT_TABLE
        .iter()
        .find(|row| row.my_type == my_type && row.my_type != "FutureEvent")
        .map(|row| row.number)
}

/// Events counted per event number (what `holdadvisor events --summary` prints).
#[derive(Debug, Clone)]
pub struct EventCounts {
    /// The numbers HTCondor defines index an array: a map entry per event was a visible part
    /// of reading a large log.
    defined: [u64; EVENT_TABLE.len()],
    /// Any other number.
    other: std::collections::BTreeMap<u16, u64>,
}

impl Default for EventCounts {
    fn default() -> EventCounts {
        EventCounts {
            defined: [0; EVENT_TABLE.len()],
            other: Default::default(),
        }
    }
}

impl EventCounts {
    pub fn add(&mut self, number: u16) {
        match self.defined.get_mut(usize::from(number)) {
            Some(n) => *n += 1,
            None => *self.other.entry(number).or_default() += 1,
        }
    }

    /// Adds another count to this one.
    pub fn merge(&mut self, other: &EventCounts) {
        for (mine, theirs) in self.defined.iter_mut().zip(other.defined.iter()) {
            *mine += theirs;
        }
        for (number, n) in &other.other {
            *self.other.entry(*number).or_default() += n;
        }
    }

    /// All events counted.
    pub fn total(&self) -> u64 {
        self.defined.iter().sum::<u64>() + self.other.values().sum::<u64>()
    }

    /// `(number, count)` of every number seen, in number order.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        let defined = (0u16..).zip(self.defined.iter().copied());
        defined
            .filter(|(_, n)| *n > 0)
            .chain(self.other.iter().map(|(k, n)| (*k, *n)))
    }
}

/// The kinds of event 040 (`FileTransferEvent.Type`), 1-based as HTCondor numbers them.
pub const FILE_TRANSFER_TITLES: [&str; 6] = [
    "Entered queue to transfer input files",
    "Started transferring input files",
    "Finished transferring input files",
    "Entered queue to transfer output files",
    "Started transferring output files",
    "Finished transferring output files",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_number_order_and_round_trips() {
        for (i, row) in EVENT_TABLE.iter().enumerate() {
            assert_eq!(row.number as usize, i, "row {i} out of order");
            let t = EventType::from_number(row.number).unwrap();
            assert_eq!(t.info(), row);
        }
        assert_eq!(EventType::from_number(48), None);
        assert_eq!(my_type(13), "JobReleaseEvent");
        assert_eq!(number_of_my_type("JobHeldEvent"), Some(12));
        assert_eq!(number_of_my_type("FutureEvent"), None);
        assert_eq!(event_name(104), "FUTURE_104");
    }

    #[test]
    fn counts_come_out_in_number_order() {
        let mut counts = EventCounts::default();
        for n in [12, 104, 0, 12, 1000, 47] {
            counts.add(n);
        }
        let seen: Vec<(u16, u64)> = counts.iter().collect();
        assert_eq!(seen, [(0, 1), (12, 2), (47, 1), (104, 1), (1000, 1)]);
    }
}
