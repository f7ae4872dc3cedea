//! AWS adapters for the kit's ports. Only this module names `aws-sdk-*` types; handlers
//! take the ports (traits) and get these in production, in-memory stores in unit tests.
//!
//! Endpoints come from the standard SDK configuration, so `AWS_ENDPOINT_URL` points every
//! client at LocalStack without code changes.
//!
//! The claim check a function gets from `CLAIM_CHECK_BUCKET`, which refuses a pointer into
//! another bucket before any S3 call.
//!
//! ```
//! use eventkit::aws::claim_check_from_env;
//! use eventkit::claim_check::{ClaimCheckError, Transport};
//! use eventkit::Envelope;
//! use serde_json::json;
//!
//! # tokio_test(async {
//! // In a function: `eventkit::aws::load_config().await` (region, credentials, endpoint).
//! let config = aws_config::SdkConfig::builder()
//!     .behavior_version(aws_config::BehaviorVersion::latest())
//!     .region(aws_config::Region::new("us-east-1"))
//!     .build();
//! # std::env::remove_var("CLAIM_CHECK_BUCKET");
//! assert!(claim_check_from_env(&config, Transport::Sqs).is_none());
//! std::env::set_var("CLAIM_CHECK_BUCKET", "shop-payloads");
//! let claim_check = claim_check_from_env(&config, Transport::Sqs).unwrap();
//! let mut forged = Envelope::new("elsewhere", "document.received", json!(null));
//! forged.dataref = Some("s3://someone-elses-bucket/secret".into());
//! let err = claim_check.redeem(&mut forged).await.unwrap_err();
//! assert!(matches!(err, ClaimCheckError::Foreign { .. }), "{err}");
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "eventbridge")]
pub mod eventbridge;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "sqs")]
pub mod sqs;

/// Loads the SDK configuration once (region, credentials, endpoint) from the environment.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

// The DynamoDB adapter maps its errors into its own types instead.
#[cfg(any(feature = "sqs", feature = "eventbridge", feature = "s3"))]
pub(crate) use sdk_error::boxed;

#[cfg(any(feature = "sqs", feature = "eventbridge", feature = "s3"))]
mod sdk_error {
    /// Boxes an SDK error with its full context (service code and message), which the SDK's
    /// own `Display` leaves out.
    pub(crate) fn boxed<E: std::error::Error + Send + Sync + 'static>(
        e: E,
    ) -> Box<dyn std::error::Error + Send + Sync> {
        Box::new(crate::idempotency::Chained(
            format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            ),
            Box::new(e),
        ))
    }
}

/// The claim check named by `CLAIM_CHECK_BUCKET`, when set: S3 in that bucket (under
/// `CLAIM_CHECK_PREFIX`, if set), offloading above `transport`'s default threshold.
/// Pointers elsewhere are refused on redemption.
#[cfg(feature = "s3")]
pub fn claim_check_from_env(
    config: &aws_config::SdkConfig,
    transport: crate::claim_check::Transport,
) -> Option<crate::claim_check::ClaimCheck> {
    let bucket = crate::config::optional("CLAIM_CHECK_BUCKET")?;
    let store = std::sync::Arc::new(s3::S3PayloadStore::new(s3::client(config)));
    let claim_check = crate::claim_check::ClaimCheck::new(
        store,
        bucket,
        crate::claim_check::Offload::Above(transport.default_threshold()),
    );
    Some(match crate::config::optional("CLAIM_CHECK_PREFIX") {
        Some(prefix) => claim_check.with_key_prefix(prefix),
        None => claim_check,
    })
}
