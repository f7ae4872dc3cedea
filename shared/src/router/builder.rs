//! Building a router: handlers by type and version, idempotency, the unknown-type policy,
//! claim check, batch and stream settings, and the checks `run` makes first.

use super::*;

impl<S: Send + Sync + 'static> Router<S> {
    /// A router handing `state` to every handler.
    pub fn with_state(state: S) -> Self {
        Router {
            state: Arc::new(state),
            routes: Vec::new(),
            unknown: UnknownType::Fail,
            claim_check: None,
            batch: BatchOptions::default(),
            store: None,
            function_name: std::env::var("AWS_LAMBDA_FUNCTION_NAME")
                .unwrap_or_else(|_| "test-func".to_owned()),
            stream: StreamReader::outbox(),
            problems: Vec::new(),
        }
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<S> {
        &self.state
    }

    /// Handles `event_type` (any schema version) with `handler`.
    pub fn on<A, R, E, F, Fut>(self, event_type: &str, handler: F) -> Self
    where
        A: FromEnvelope + Send + 'static,
        R: Serialize + Send + 'static,
        E: ErrorType + Send + 'static,
        F: Fn(Arc<S>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        self.add(event_type, None, handler)
    }

    /// Handles `event_type` at exactly `schemaversion` with `handler`; other versions of
    /// the type go to their own handlers (or the versionless one).
    pub fn on_version<A, R, E, F, Fut>(self, event_type: &str, version: &str, handler: F) -> Self
    where
        A: FromEnvelope + Send + 'static,
        R: Serialize + Send + 'static,
        E: ErrorType + Send + 'static,
        F: Fn(Arc<S>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        self.add(event_type, Some(version.to_owned()), handler)
    }

    /// Handles `event_type` with a handler that commits its idempotency record with its
    /// effect: made idempotent on the envelope id (set [`Router::idempotency_store`]
    /// first), it receives the [`Completion`] to put in its own `TransactWriteItems`
    /// (`aws::dynamodb::completion_write`) and calls [`Completion::committed`] once that
    /// transaction succeeds. A crash after the commit leaves a `COMPLETED` record (the
    /// retry replays); a crash before it leaves no effect (the retry applies it once).
    pub fn on_completing<A, R, E, F, Fut>(self, event_type: &str, handler: F) -> Self
    where
        A: FromEnvelope + Send + 'static,
        R: Serialize + Send + 'static,
        E: ErrorType + Send + 'static,
        F: Fn(Arc<S>, A, Completion) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let call = move |state, event: A, completion: Option<Completion>| {
            let handler = handler.clone();
            async move {
                let Some(completion) = completion else {
                    return Err(RouteError::Config(
                        "a completing handler ran without its idempotency record".into(),
                    ));
                };
                handler(state, event, completion)
                    .await
                    .map_err(|e| RouteError::Handler(e.into_diagnostic()))
            }
        };
        self.add_call(event_type, None, call).idempotent()
    }

    fn add<A, R, E, F, Fut>(self, event_type: &str, version: Option<String>, handler: F) -> Self
    where
        A: FromEnvelope + Send + 'static,
        R: Serialize + Send + 'static,
        E: ErrorType + Send + 'static,
        F: Fn(Arc<S>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let call = move |state, event: A, _: Option<Completion>| {
            let running = handler(state, event);
            async move {
                running
                    .await
                    .map_err(|e| RouteError::Handler(e.into_diagnostic()))
            }
        };
        self.add_call(event_type, version, call)
    }

    fn add_call<A, R, F, Fut>(
        mut self,
        event_type: &str,
        version: Option<String>,
        handler: F,
    ) -> Self
    where
        A: FromEnvelope + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(Arc<S>, A, Option<Completion>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, RouteError>> + Send + 'static,
    {
        if self
            .routes
            .iter()
            .any(|r| r.event_type == event_type && r.version == version)
        {
            self.problems.push(format!(
                "two handlers for `{event_type}`{}",
                version
                    .as_deref()
                    .map(|v| format!(" schemaversion `{v}`"))
                    .unwrap_or_default()
            ));
        }
        let call: Call<S> = Arc::new(move |state, envelope, completion| {
            // Logged as it came, but only once its payload fits the handler: a refused
            // payload (a card number where an amount belongs) stays out of the logs.
            let logged = observability::envelopes_logged().then(|| envelope.clone());
            let typed = match A::from_envelope(envelope) {
                Ok(typed) => typed,
                Err(e) => return Box::pin(std::future::ready(Err(e))),
            };
            if let Some(received) = logged {
                observability::log_envelope(observability::Passage::Received, &received);
            }
            let running = handler(state, typed, completion);
            Box::pin(async move {
                let output = running.await?;
                serde_json::to_value(output).map_err(|e| {
                    RouteError::Handler(Diagnostic {
                        error_type: "OutputNotJson".into(),
                        error_message: format!("the handler's output is not JSON: {e}"),
                    })
                })
            })
        });
        self.routes.push(Route {
            event_type: event_type.to_owned(),
            metric_type: emf::type_label(event_type),
            version,
            call,
            idempotency: None,
        });
        self
    }

    /// The idempotency table idempotent handlers use (set before [`Router::idempotent`]).
    pub fn idempotency_store(mut self, store: impl IdempotencyStore + 'static) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Makes the handler registered last idempotent on the envelope id: a redelivered or
    /// replayed envelope gets the first run's stored output, and the handler does not run.
    pub fn idempotent(self) -> Self {
        self.make_idempotent(KeySource::EnvelopeId, None)
    }

    /// Makes the handler registered last idempotent on the value at a JSON pointer into the
    /// envelope (`/subject`, `/data/orderId`): for producers that send one fact under several
    /// envelope ids.
    pub fn idempotent_on(self, pointer: &str) -> Self {
        self.make_idempotent(KeySource::Pointer(pointer.to_owned()), None)
    }

    /// [`Router::idempotent`] with explicit settings (expiry, key prefix, payload validation,
    /// local cache).
    pub fn idempotent_with(self, config: IdempotencyConfig) -> Self {
        let key = match &config.key_pointer {
            Some(p) => KeySource::Pointer(p.clone()),
            None => KeySource::EnvelopeId,
        };
        self.make_idempotent(key, Some(config))
    }

    fn make_idempotent(mut self, key: KeySource, config: Option<IdempotencyConfig>) -> Self {
        let Some(store) = self.store.clone() else {
            self.problems.push(
                "idempotent() was called before idempotency_store(): set the table first".into(),
            );
            return self;
        };
        let function = self.function_name.clone();
        let Some(route) = self.routes.last_mut() else {
            self.problems
                .push("idempotent() was called before any handler was registered".into());
            return self;
        };
        let mut config = config.unwrap_or_else(|| {
            let mut c = IdempotencyConfig::for_handler(&route.event_type);
            c.key_prefix = format!("{function}.{}", route.event_type);
            c
        });
        // The pointer is applied by the router to the envelope's JSON form.
        config.key_pointer = match &key {
            KeySource::Pointer(p) => Some(p.clone()),
            KeySource::EnvelopeId => None,
        };
        route.idempotency = Some((key, Arc::new(Idempotency::new(store, config))));
        self
    }

    /// What to do with an unknown type (default: fail the record).
    pub fn on_unknown(mut self, policy: UnknownType) -> Self {
        self.unknown = policy;
        self
    }

    /// Redeem claim-checked payloads (SQS Extended Client bodies and `dataref`) with this.
    pub fn claim_check(mut self, claim_check: ClaimCheck) -> Self {
        self.claim_check = Some(claim_check);
        self
    }

    /// SQS batch settings (concurrency, FIFO behaviour).
    pub fn batch_options(mut self, options: BatchOptions) -> Self {
        self.batch = options;
        self
    }

    /// How envelopes are read from DynamoDB stream records, and which records are skipped
    /// on purpose (default: [`StreamReader::outbox`]). A record neither skipped nor read
    /// fails the batch at that record.
    pub fn stream_reader(mut self, reader: StreamReader) -> Self {
        self.stream = reader;
        self
    }

    /// The configuration problems found while building (duplicate handlers, idempotency
    /// without a table). [`Router::run`] refuses to start with any.
    pub fn validate(&self) -> Result<(), RouteError> {
        if self.routes.is_empty() {
            return Err(RouteError::Config("no handler is registered".into()));
        }
        match self.problems.as_slice() {
            [] => Ok(()),
            problems => Err(RouteError::Config(problems.join("; "))),
        }
    }

    /// The event types (and versions) handled, for messages and logs.
    pub fn handled(&self) -> Vec<String> {
        self.routes
            .iter()
            .map(|r| match &r.version {
                Some(v) => format!("{}@{v}", r.event_type),
                None => r.event_type.clone(),
            })
            .collect()
    }

    pub(super) fn handled_list(&self) -> String {
        let list = self.handled();
        if list.is_empty() {
            "nothing".to_owned()
        } else {
            list.iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}
