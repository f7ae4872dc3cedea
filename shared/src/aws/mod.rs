//! AWS adapters for the kit's ports. Only this module names `aws-sdk-*` types; handlers
//! take the ports (traits) and get these in production, in-memory stores in unit tests.
//!
//! Endpoints come from the standard SDK configuration, so `AWS_ENDPOINT_URL` points every
//! client at LocalStack without code changes.

pub mod dynamodb;
pub mod eventbridge;
pub mod s3;
pub mod sqs;

/// Loads the SDK configuration once (region, credentials, endpoint) from the environment.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Boxes an SDK error with its full context (service code and message), which the SDK's
/// own `Display` leaves out.
pub(crate) fn boxed<E: std::error::Error + Send + Sync + 'static>(
    e: E,
) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(SdkFailure(
        format!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        ),
        Box::new(e),
    ))
}

#[derive(Debug)]
struct SdkFailure(String, Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for SdkFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SdkFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.1.as_ref())
    }
}

/// The claim check named by `CLAIM_CHECK_BUCKET`, when set: S3 in that bucket (under
/// `CLAIM_CHECK_PREFIX`, if set), offloading above `transport`'s default threshold.
/// Pointers elsewhere are refused on redemption.
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
