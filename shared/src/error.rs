//! An error's type, named once: Step Functions' `Retry`/`Catch` match it, Lambda reports it
//! as `errorType`, and the router's failure logs and EMF outcome carry it.
//!
//! ```
//! use eventkit::ErrorType;
//!
//! #[derive(Debug, thiserror::Error, ErrorType)]
//! enum PaymentError {
//!     /// Named after the variant: `Declined`.
//!     #[error("card declined: {0}")]
//!     Declined(String),
//!     /// Every transient failure under one name, for one `Retry` rule.
//!     #[error("payment provider unavailable: {0}")]
//!     #[error_type("TransientError")]
//!     Unavailable(String),
//! }
//!
//! let e = PaymentError::Unavailable("timeout".into());
//! assert_eq!(e.error_type(), "TransientError");
//! let d = e.into_diagnostic();
//! assert_eq!(d.error_message, "payment provider unavailable: timeout");
//! assert_eq!(PaymentError::Declined("stolen".into()).error_type(), "Declined");
//! ```

use lambda_runtime::Diagnostic;

/// An error that names its type. Derive it (`#[derive(ErrorType)]`, with
/// `#[error_type("Name")]` or `#[error_type(transparent)]` where the variant's own name is
/// not the one to report) on a `thiserror` enum; router handlers return such errors.
///
/// The derive refuses, at compile time, a name Step Functions reserves:
///
/// ```compile_fail
/// #[derive(Debug, thiserror::Error, eventkit::ErrorType)]
/// enum E {
///     #[error("timed out")]
///     #[error_type("States.Timeout")]
///     TimedOut,
/// }
/// ```
///
/// and `transparent` on a variant that does not wrap exactly one error:
///
/// ```compile_fail
/// #[derive(Debug, thiserror::Error, eventkit::ErrorType)]
/// enum E {
///     #[error("{0} {1}")]
///     #[error_type(transparent)]
///     Two(String, String),
/// }
/// ```
pub trait ErrorType {
    /// What a Step Functions `Retry`/`Catch` matches (`PaymentDeclined`, `TransientError`):
    /// name it after what happened, one name per way of handling it.
    fn error_type(&self) -> &str;

    /// The message for people: what is wrong and what to do.
    fn error_message(&self) -> String;

    /// The Lambda diagnostic: [`ErrorType::error_type`] and [`ErrorType::error_message`].
    fn into_diagnostic(self) -> Diagnostic
    where
        Self: Sized,
    {
        Diagnostic {
            error_type: self.error_type().to_owned(),
            error_message: self.error_message(),
        }
    }
}

/// A diagnostic built by hand keeps its type.
impl ErrorType for Diagnostic {
    fn error_type(&self) -> &str {
        &self.error_type
    }

    fn error_message(&self) -> String {
        self.error_message.clone()
    }

    fn into_diagnostic(self) -> Diagnostic {
        self
    }
}

/// `lambda_runtime::Error`, a boxed error of no declared type: reported as `HandlerError`.
impl ErrorType for Box<dyn std::error::Error + Send + Sync> {
    fn error_type(&self) -> &str {
        "HandlerError"
    }

    fn error_message(&self) -> String {
        self.to_string()
    }
}

/// A message alone (a prototype's `Err(format!(..))`): reported as `HandlerError`.
impl ErrorType for String {
    fn error_type(&self) -> &str {
        "HandlerError"
    }

    fn error_message(&self) -> String {
        self.clone()
    }
}

/// A fixed message: reported as `HandlerError`.
impl ErrorType for &'static str {
    fn error_type(&self) -> &str {
        "HandlerError"
    }

    fn error_message(&self) -> String {
        (*self).to_owned()
    }
}

/// A handler that cannot fail.
impl ErrorType for std::convert::Infallible {
    fn error_type(&self) -> &str {
        match *self {}
    }

    fn error_message(&self) -> String {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use crate::router::RouteError;
    // The trait and its derive.
    use crate::ErrorType;

    #[derive(Debug, thiserror::Error, ErrorType)]
    #[error_type("StoreFailure")]
    enum Defaulted {
        #[error("a")]
        A,
        #[error("b {0}")]
        #[error_type("Bee")]
        B(u8),
        #[error("c {code}")]
        C { code: u8 },
    }

    #[derive(Debug, thiserror::Error, ErrorType)]
    enum Wrapping {
        #[error(transparent)]
        #[error_type(transparent)]
        Route(RouteError),
        #[error("own: {0}")]
        Own(String),
    }

    #[derive(Debug, thiserror::Error, ErrorType)]
    #[error("refused {0}")]
    struct Refused(&'static str);

    #[test]
    fn each_variant_reports_its_declared_type_and_its_display() {
        assert_eq!(Defaulted::A.error_type(), "StoreFailure");
        assert_eq!(Defaulted::B(2).error_type(), "Bee");
        assert_eq!(Defaulted::C { code: 1 }.error_type(), "StoreFailure");
        let route = RouteError::Config("no table".into());
        let expected = route.error_type().to_owned();
        assert_eq!(Wrapping::Route(route).error_type(), expected);
        assert_eq!(Wrapping::Own("x".into()).error_type(), "Own");
        let d = Refused("it").into_diagnostic();
        assert_eq!(
            (d.error_type.as_str(), d.error_message.as_str()),
            ("Refused", "refused it")
        );
    }

    #[test]
    fn an_undeclared_error_is_a_handler_error_with_its_message() {
        let e: lambda_runtime::Error = "the disk is full".into();
        let d = e.into_diagnostic();
        assert_eq!(d.error_type, "HandlerError");
        assert_eq!(d.error_message, "the disk is full");
        let d = String::from("no such account").into_diagnostic();
        assert_eq!(
            (d.error_type.as_str(), d.error_message.as_str()),
            ("HandlerError", "no such account")
        );
        assert_eq!("late".error_type(), "HandlerError");
    }
}
