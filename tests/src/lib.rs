//! Helpers for the end-to-end tests and the demo: the deployed stack, copies of its
//! functions, a fault-injecting proxy; and, re-exported, what they share with the
//! benchmarks (`eventkit-testkit`).

pub mod fault_proxy;
pub mod function_copy;
pub mod saga;
pub mod stack;

pub use eventkit_testkit::*;
