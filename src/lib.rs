//! The `holdadvisor` command: tells HTCondor users whether a held job is worth releasing.
//!
//! Data flows one way: event logs → [`holdadvisor_parsers`] → events → models → predictions
//! → cache → output. This crate holds the commands (`commands`) over the parsers, the models,
//! the DAG generator and the pool simulator (`holdadvisor_simulate`); the binary in `main.rs`
//! only parses arguments and dispatches.

pub mod advice;
pub mod cache;
pub mod commands;
pub mod config;
pub mod dashboard;
pub mod feedback;
pub mod groups;
pub mod jobspec;
pub mod predict;
pub mod progress;
pub mod publish;
pub mod report;
pub mod schedd;
pub mod timing;
