//! Function configuration from environment variables, read once at init. A missing
//! variable is an init error naming it, never a panic in a handler.
//!
//! Settings read at init: a missing variable is an error naming it; blank reads as unset.
//!
//! ```
//! use eventkit::config::{optional, required, MissingEnv};
//!
//! struct Settings { table: String, prefix: Option<String> }
//!
//! fn settings() -> Result<Settings, MissingEnv> {
//!     Ok(Settings { table: required("ORDERS_TABLE")?, prefix: optional("ORDERS_PREFIX") })
//! }
//!
//! # std::env::remove_var("ORDERS_TABLE");
//! let Err(missing) = settings() else { panic!("ORDERS_TABLE is unset") };
//! assert_eq!(missing.0, "ORDERS_TABLE");
//! std::env::set_var("ORDERS_TABLE", "orders");
//! std::env::set_var("ORDERS_PREFIX", " ");
//! let read = settings().unwrap();
//! assert_eq!(read.table, "orders");
//! assert_eq!(read.prefix, None);
//! ```

/// A required variable is not set.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not set; the template sets it (for `cargo lambda watch`, export it or run `make watch`)")]
pub struct MissingEnv(pub String);

/// The value of a required variable.
pub fn required(name: &str) -> Result<String, MissingEnv> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(MissingEnv(name.to_owned())),
    }
}

/// The value of an optional variable (unset and empty are the same).
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named() {
        let err = required("EVENTKIT_SURELY_UNSET_VARIABLE").unwrap_err();
        assert!(err.to_string().contains("EVENTKIT_SURELY_UNSET_VARIABLE"));
        assert_eq!(optional("EVENTKIT_SURELY_UNSET_VARIABLE"), None);
    }
}
