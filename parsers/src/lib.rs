//! Readers of HTCondor job event logs, and of `condor_q -json` output.
//!
//! The text format HTCondor writes by default, its JSON format and its XML format are read
//! into the same [`Event`]s, detected per file from the first byte that is not white space.
//! Reading streams with bounded memory, keeps going past malformed events (each one becomes a
//! [`ParseError`] naming file, line and byte offset), and never panics on any input.
//!
//! ```no_run
//! use holdadvisor_parsers::{EventReader, ReadOptions};
//! let mut reader = EventReader::open("job.log", ReadOptions::default()).unwrap();
//! for item in reader.by_ref() {
//!     match item {
//!         Ok(event) => if let Some(hold) = event.held() {
//!             println!("{} held: code {} subcode {}", event.id, hold.code, hold.subcode);
//!         },
//!         Err(e) => eprintln!("{e}"),
//!     }
//! }
//! if let Some(partial) = reader.incomplete() {
//!     eprintln!("last event still being written at byte {}", partial.offset);
//! }
//! ```
//!
//! To count events without handing them out, [`EventReader::count_only`] counts each one on
//! the thread that parsed it (what `holdadvisor events --summary` does).
//!
//! The tables of event numbers ([`event_type`]) and HoldReasonCodes
//! ([`hold_code`](mod@hold_code)) are defined here once for the whole project.

pub mod attrs;
pub mod condor_q;
pub mod error;
pub mod event;
pub mod event_type;
pub mod hold_code;
pub mod markup;
mod newlines;
pub mod reader;
pub mod text;
pub mod time;
pub mod value;
pub mod writer;

pub use error::ParseError;
pub use event::{Event, EventBody, Held, JobId, Position, Termination};
pub use event_type::EventType;
pub use hold_code::{HOLD_CODE_TABLE, HoldCodeInfo, hold_code, hold_code_name};
pub use reader::{EventReader, Format, Incomplete, LogRead, ReadOptions, Tally, read_path};
pub use time::Zone;
pub use value::Value;
