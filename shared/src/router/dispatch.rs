//! One envelope to its handler: the route found, the span and metrics around it,
//! idempotency, the claim check redeemed.

use super::error::idempotency_failure;
use super::*;

impl<S: Send + Sync + 'static> Router<S> {
    fn find(&self, envelope: &Envelope) -> Result<&Route<S>, RouteError> {
        let same_type = || {
            self.routes
                .iter()
                .filter(|r| r.event_type == envelope.event_type)
        };
        if let Some(route) = same_type()
            .find(|r| r.version.as_deref() == Some(envelope.schemaversion.as_str()))
            .or_else(|| same_type().find(|r| r.version.is_none()))
        {
            return Ok(route);
        }
        let versions: BTreeSet<&str> = same_type().filter_map(|r| r.version.as_deref()).collect();
        if versions.is_empty() {
            Err(RouteError::UnknownType {
                event_type: envelope.event_type.clone(),
                handled: self.handled_list(),
            })
        } else {
            Err(RouteError::UnknownVersion {
                event_type: envelope.event_type.clone(),
                version: envelope.schemaversion.clone(),
                handled: versions.into_iter().collect::<Vec<_>>().join(", "),
            })
        }
    }

    /// [`Router::dispatch`], logging a failure in the envelope's span (sources whose
    /// failure is not logged by the batch: EventBridge, task inputs, streams).
    pub(super) async fn dispatch_logged(
        &self,
        envelope: Envelope,
        remaining: Option<Duration>,
    ) -> Result<Value, RouteError> {
        let span = observability::envelope_span(&envelope);
        let result = self.dispatch(envelope, remaining).await;
        if let Err(e) = &result {
            span.in_scope(
                || tracing::error!(error = %e, error_type = e.error_type(), "event failed"),
            );
        }
        result
    }

    /// Dispatches one envelope (already redeemed) to its handler; the handler's output, or
    /// `null` for a skipped unknown type.
    pub async fn dispatch(
        &self,
        envelope: Envelope,
        remaining: Option<Duration>,
    ) -> Result<Value, RouteError> {
        let cx = otel::consumer(&envelope);
        let span = observability::envelope_span(&envelope);
        if let Some(trace_id) = otel::trace_id(&cx) {
            span.record("trace_id", trace_id);
        }
        let age = emf::age_ms(envelope.time);
        let result = async {
            let route = match self.find(&envelope) {
                Ok(route) => route,
                Err(e @ (RouteError::UnknownType { .. } | RouteError::UnknownVersion { .. })) => {
                    emf::unknown_type();
                    if self.unknown == UnknownType::Skip {
                        tracing::warn!(reason = %e, "skipped: no handler (UnknownType::Skip)");
                        return Ok(Value::Null);
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            let result = self.call(route, envelope, remaining).await;
            emf::dispatched(route.metric_type.as_ref(), result.is_ok(), age);
            result
        }
        .instrument(span)
        .with_context(cx.clone())
        .await;
        otel::finish(
            &cx,
            result.as_ref().err().map(|e| e as &dyn std::fmt::Display),
        );
        result
    }

    /// Runs a route's handler, through its idempotency when it has one.
    async fn call(
        &self,
        route: &Route<S>,
        envelope: Envelope,
        remaining: Option<Duration>,
    ) -> Result<Value, RouteError> {
        match &route.idempotency {
            None => {
                fault::of(&envelope)
                    .around((route.call)(self.state.clone(), envelope, None))
                    .await
            }
            // Boxed: the idempotent run's state (the store's SDK calls) is kilobytes, and
            // every record's future, idempotent or not, would otherwise be as large.
            Some((key, idempotency)) => {
                Box::pin(self.call_idempotent(route, key, idempotency, envelope, remaining)).await
            }
        }
    }

    async fn call_idempotent(
        &self,
        route: &Route<S>,
        key: &KeySource,
        idempotency: &SharedIdempotency,
        envelope: Envelope,
        remaining: Option<Duration>,
    ) -> Result<Value, RouteError> {
        let state = self.state.clone();
        let call = route.call.clone();
        // The fault hook (debug builds) runs inside the idempotent run: after the claim.
        let outcome = match key {
            KeySource::EnvelopeId => {
                let fault = fault::of(&envelope);
                let run =
                    |completion| fault.around(call(state, envelope.clone(), Some(completion)));
                idempotency
                    .run_envelope_completing(&envelope, remaining, run)
                    .await
            }
            KeySource::Pointer(_) => {
                let value = serde_json::to_value(&envelope)
                    .map_err(|e| RouteError::Envelope(EnvelopeError::Payload(e)))?;
                let fault = fault::of(&envelope);
                let run = || fault.around(call(state, envelope.clone(), None));
                idempotency.run(&value, remaining, run).await
            }
        };
        match outcome {
            Ok(Outcome::Executed(output)) => Ok(output),
            Ok(Outcome::Replayed(output)) => {
                tracing::info!("duplicate absorbed: replayed the stored result");
                emf::duplicate_absorbed(route.metric_type.as_ref());
                Ok(output)
            }
            Err(IdempotencyError::Handler(e)) => Err(e),
            Err(other) => Err(idempotency_failure(other)),
        }
    }

    pub(super) async fn redeem(&self, envelope: &mut Envelope) -> Result<(), RouteError> {
        match &self.claim_check {
            Some(cc) => {
                cc.redeem(envelope).await?;
                Ok(())
            }
            None if envelope.dataref.is_some() => Err(RouteError::Config(
                "envelope is claim-checked (`dataref`) but no claim check is configured; call Router::claim_check".into(),
            )),
            None => Ok(()),
        }
    }
}
