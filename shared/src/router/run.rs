//! The Lambda loop: `Router::run`, and the time an invocation has left.

use super::*;
use crate::idempotency::{prewarm, prewarm_connections, PREWARM};

/// The time left before the invocation's deadline (epoch milliseconds).
pub fn remaining_time(deadline_ms: u64) -> Option<Duration> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    deadline_ms.checked_sub(now).map(Duration::from_millis)
}

impl<S: Send + Sync + 'static> Router<S> {
    /// Opens [`PREWARM`] connections to the idempotency store during init, when a handler is
    /// idempotent (see [`crate::idempotency::prewarm`]).
    async fn prewarm(&self) -> Result<(), RouteError> {
        self.prewarm_as(crate::config::optional(PREWARM).as_deref())
            .await
            .map(drop)
    }

    /// [`Router::prewarm`] with `setting` as [`PREWARM`]'s value; how many it opened.
    pub(super) async fn prewarm_as(&self, setting: Option<&str>) -> Result<usize, RouteError> {
        // Only a store some handler uses: a function may hold one it has no grant to read.
        let Some(store) = &self.store else {
            return Ok(0);
        };
        if self.routes.iter().all(|r| r.idempotency.is_none()) {
            return Ok(0);
        }
        let connections =
            prewarm_connections(setting).map_err(|e| RouteError::Config(e.to_string()))?;
        prewarm(store.as_ref(), connections).await;
        Ok(connections)
    }

    /// Runs the function: validates the configuration (an init error names the problem),
    /// then serves invocations with [`Router::handle_json`] until the runtime stops.
    pub async fn run(self) -> Result<(), lambda_runtime::Error> {
        self.validate()?;
        emf::init();
        self.prewarm().await?;
        tracing::info!(handles = %self.handled_list(), "router ready");
        let router = Arc::new(self);
        lambda_runtime::run(lambda_runtime::service_fn(
            // The payload as text: an SQS batch is then parsed once, not into a `Value` first.
            move |event: lambda_runtime::LambdaEvent<Box<serde_json::value::RawValue>>| {
                let router = router.clone();
                async move {
                    let remaining = remaining_time(event.context.deadline);
                    // The invocation's X-Ray trace: the parent of an event that carries none.
                    let xray = otel::xray_context(event.context.xray_trace_id.as_deref());
                    let result = router
                        .handle_json(event.payload.get(), remaining)
                        .with_context(xray)
                        .await;
                    // After every invocation, so a frozen or reclaimed sandbox loses none.
                    emf::flush_invocation(&event.context.request_id);
                    result.map_err(Diagnostic::from)
                }
            },
        ))
        .await
    }
}
