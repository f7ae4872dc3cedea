//! S3 as the claim-check [`PayloadStore`].

use async_trait::async_trait;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use super::boxed;
use crate::claim_check::{ClaimCheckError, PayloadStore, S3Ref};

/// Builds an S3 client; path-style addressing when an endpoint override is set (LocalStack
/// and other emulators), since virtual-host names need DNS they may not have.
pub fn client(config: &aws_config::SdkConfig) -> Client {
    let path_style = std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    Client::from_conf(s3_config)
}

/// Claim-check objects in S3.
#[derive(Debug, Clone)]
pub struct S3PayloadStore {
    client: Client,
}

impl S3PayloadStore {
    /// A store using `client` (see [`client`]).
    pub fn new(client: Client) -> Self {
        S3PayloadStore { client }
    }
}

fn classify<E>(location: &S3Ref, e: aws_sdk_s3::error::SdkError<E>) -> ClaimCheckError
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + Send + Sync + 'static,
{
    match e.as_service_error().and_then(|s| s.code()) {
        Some("NoSuchBucket") => ClaimCheckError::NoSuchBucket(location.bucket.clone()),
        Some("NoSuchKey") => ClaimCheckError::NotFound {
            bucket: location.bucket.clone(),
            key: location.key.clone(),
        },
        _ => ClaimCheckError::Store(boxed(e)),
    }
}

#[async_trait]
impl PayloadStore for S3PayloadStore {
    async fn put(&self, location: &S3Ref, bytes: Vec<u8>) -> Result<(), ClaimCheckError> {
        self.client
            .put_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| classify(location, e))?;
        Ok(())
    }

    async fn get(&self, location: &S3Ref) -> Result<Vec<u8>, ClaimCheckError> {
        let object = self
            .client
            .get_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(GetObjectError::NoSuchKey(_)) => ClaimCheckError::NotFound {
                    bucket: location.bucket.clone(),
                    key: location.key.clone(),
                },
                _ => classify(location, e),
            })?;
        // Streamed into one buffer of the object's size: collecting the chunks and then
        // joining them held the payload three times at the peak.
        let size = object.content_length().unwrap_or(0).max(0) as usize;
        let mut bytes = Vec::with_capacity(size);
        let mut body = object.body;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| ClaimCheckError::Store(Box::new(e)))?
        {
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    async fn delete(&self, location: &S3Ref) -> Result<(), ClaimCheckError> {
        self.client
            .delete_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .send()
            .await
            .map_err(|e| classify(location, e))?;
        Ok(())
    }
}
