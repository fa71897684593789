//! The one table of HoldReasonCodes.
//!
//! Symbolic names are HTCondor's (`condor_holdcodes.h`); they are also the keys of a job's
//! `NumHoldsByReason`. The `advice` column is holdadvisor's prior reading of each code, not
//! an HTCondor statement: the model learns from the pool's own history and may overrule it.

/// What a code usually calls for before any pool history is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HoldPrior {
    /// Usually transient or infrastructure: a plain `condor_release` is reasonable.
    Retry,
    /// The job as submitted fails again: change something, then release.
    FixThenRelease,
    /// A person or the job's own policy held it: do not second-guess.
    UserIntent,
    /// A site or execution-point configuration problem.
    Admin,
    /// Too generic: decide from the reason text and subcode.
    Inspect,
    /// Clears itself (spooling).
    Wait,
}

/// One row of the hold-code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldCodeInfo {
    pub code: i32,
    pub name: &'static str,
    pub meaning: &'static str,
    pub prior: HoldPrior,
    /// Whether this code reports a file-transfer failure (the codes a site outage produces).
    pub transfer: bool,
}

macro_rules! hold_table {
    ($( $code:literal, $name:literal, $prior:ident, $transfer:literal, $meaning:literal; )*) => {
        /// Every HoldReasonCode HTCondor defines, in code order.
        pub const HOLD_CODE_TABLE: &[HoldCodeInfo] = &[
            $( HoldCodeInfo { code: $code, name: $name, meaning: $meaning, prior: HoldPrior::$prior, transfer: $transfer }, )*
        ];
    };
}

hold_table! {
    0, "Unspecified", Inspect, false, "No specific code (legacy paths, grid jobs)";
    1, "UserRequest", UserIntent, false, "Held by condor_hold";
    2, "GlobusGramError", Inspect, false, "Grid (GRAM) error";
    3, "JobPolicy", UserIntent, false, "The job's periodic_hold or on_exit_hold was true";
    4, "CorruptedCredential", FixThenRelease, false, "Credentials invalid";
    5, "JobPolicyUndefined", FixThenRelease, false, "A job policy expression evaluated to UNDEFINED";
    6, "FailedToCreateProcess", FixThenRelease, false, "The starter could not execute the job";
    7, "UnableToOpenOutput", FixThenRelease, false, "The stdout file could not be opened";
    8, "UnableToOpenInput", FixThenRelease, false, "The stdin file could not be opened";
    9, "UnableToOpenOutputStream", Inspect, false, "Streamed stdout could not be opened";
    10, "UnableToOpenInputStream", Inspect, false, "Streamed stdin could not be opened";
    11, "InvalidTransferAck", Retry, true, "File-transfer protocol error";
    12, "TransferOutputError", Inspect, true, "Output transfer failed";
    13, "TransferInputError", Inspect, true, "Input transfer failed";
    14, "IwdError", FixThenRelease, false, "initialdir not accessible";
    15, "SubmittedOnHold", UserIntent, false, "Submitted with hold = true";
    16, "SpoolingInput", Wait, false, "Input still being spooled";
    17, "JobShadowMismatch", Admin, false, "Standard universe job/shadow mismatch";
    18, "InvalidTransferGoAhead", Retry, true, "File-transfer protocol error";
    19, "HookPrepareJobFailure", Admin, false, "Prepare-job hook failed";
    20, "MissedDeferredExecutionTime", FixThenRelease, false, "deferral_time was missed";
    21, "StartdHeldJob", Inspect, false, "The execution point's WANT_HOLD policy was true";
    22, "UnableToInitUserLog", FixThenRelease, false, "The job event log could not be opened";
    23, "FailedToAccessUserAccount", Admin, false, "Could not use the user account";
    24, "NoCompatibleShadow", Admin, false, "No compatible shadow";
    25, "InvalidCronSettings", FixThenRelease, false, "Bad cron_* settings";
    26, "SystemPolicy", Inspect, false, "SYSTEM_PERIODIC_HOLD was true";
    27, "SystemPolicyUndefined", Admin, false, "System periodic policy evaluated to UNDEFINED";
    28, "GlexecChownSandboxToUser", Admin, false, "glexec chown failed";
    29, "PrivsepChownSandboxToUser", Admin, false, "privsep chown failed";
    30, "GlexecChownSandboxToCondor", Admin, false, "glexec chown failed";
    31, "PrivsepChownSandboxToCondor", Admin, false, "privsep chown failed";
    32, "MaxTransferInputSizeExceeded", FixThenRelease, true, "Input exceeded MAX_TRANSFER_INPUT_MB";
    33, "MaxTransferOutputSizeExceeded", FixThenRelease, true, "Output exceeded MAX_TRANSFER_OUTPUT_MB";
    34, "JobOutOfResources", FixThenRelease, false, "Usage exceeded a provisioned limit (memory 102, disk 104)";
    35, "InvalidDockerImage", Inspect, false, "Container image invalid or not pulled";
    36, "FailedToCheckpoint", FixThenRelease, false, "Job failed when sent its checkpoint signal";
    37, "EC2UserError", FixThenRelease, false, "EC2 user error";
    38, "EC2InternalError", Admin, false, "EC2 internal error";
    39, "EC2AdminError", Admin, false, "EC2 admin error";
    40, "EC2ConnectionProblem", Retry, false, "EC2 connection problem";
    41, "EC2ServerError", Retry, false, "EC2 server error";
    42, "EC2InstancePotentiallyLostError", Admin, false, "EC2 instance may be lost";
    43, "PreScriptFailed", FixThenRelease, false, "Job pre-script failed";
    44, "PostScriptFailed", FixThenRelease, false, "Job post-script failed";
    45, "SingularityTestFailed", Retry, false, "The execution point's container self-test failed";
    46, "JobDurationExceeded", FixThenRelease, false, "allowed_job_duration exceeded";
    47, "JobExecuteExceeded", FixThenRelease, false, "allowed_execute_duration exceeded";
    48, "HookShadowPrepareJobFailure", Admin, false, "Shadow prepare-job hook said hold";
    49, "CannotSwitchPrimaryGroup", Admin, false, "Could not switch primary group";
}

/// HoldReasonSubCode of code 34 for memory (since 24.0.12; older writers use 0).
pub const SUBCODE_OUT_OF_MEMORY: i32 = 102;
/// HoldReasonSubCode of code 34 for disk.
pub const SUBCODE_OUT_OF_DISK: i32 = 104;

/// The row for a HoldReasonCode, if HTCondor defines it.
pub fn hold_code(code: i32) -> Option<&'static HoldCodeInfo> {
    usize::try_from(code)
        .ok()
        .and_then(|i| HOLD_CODE_TABLE.get(i))
}

/// The `NumHoldsByReason` key of a code (`Code<n>` for codes HTCondor does not define).
pub fn hold_code_name(code: i32) -> String {
    hold_code(code).map_or_else(|| format!("Code{code}"), |row| row.name.to_string())
}

/// The code of a `NumHoldsByReason` key.
pub fn hold_code_by_name(name: &str) -> Option<i32> {
    HOLD_CODE_TABLE
        .iter()
        .find(|row| row.name == name)
        .map(|row| row.code)
}

/// HTCondor vacates instead of holding for these (`shouldVacateJobBasedOnCodes`).
pub fn is_vacate_code(code: i32, subcode: i32) -> bool {
    code <= 0 || code >= 1000 || subcode <= -1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_dense_and_named() {
        for (i, row) in HOLD_CODE_TABLE.iter().enumerate() {
            assert_eq!(row.code as usize, i);
        }
        assert_eq!(hold_code_name(34), "JobOutOfResources");
        assert_eq!(hold_code_by_name("TransferInputError"), Some(13));
        assert_eq!(hold_code_name(77), "Code77");
        assert!(hold_code(-1).is_none());
        assert!(is_vacate_code(1022, 0));
        assert!(is_vacate_code(13, -1001));
        assert!(!is_vacate_code(13, 2));
    }
}
