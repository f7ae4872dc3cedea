//! Function configuration from environment variables, read once at init. A missing
//! variable is an init error naming it, never a panic in a handler.

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
