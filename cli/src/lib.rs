//! The `eventkit` command line, as a library: what each command does, so tests drive the
//! same code the binary runs.
//!
//! * [`stack`] — a deployed stack's outputs (from CloudFormation, or a `KEY=VALUE` file).
//! * [`trace`] — a conversation as a causation tree (pure).
//! * [`fetch`] — the conversation's events from the audit log and its failures from the
//!   functions' logs (CloudWatch Logs).
//! * [`estimate`] — a pattern's cost per million events and the quota it reaches first as
//!   the rate grows (pure; docs/CAPACITY.md).

pub mod dlq;
pub mod estimate;
pub mod fetch;
pub mod stack;
pub mod trace;
