//! The HTTP entry: API Gateway (REST or HTTP API) and Lambda function URL requests through
//! the kit's machinery, on `lambda_http`.
//!
//! ```
//! use std::sync::Arc;
//! use eventkit::http::{Api, HttpRequest, Problem, Reply};
//! use eventkit::idempotency::MemoryIdempotencyStore;
//! use lambda_http::{Body, Request};
//! use serde::Deserialize;
//! use serde_json::json;
//!
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Deposit { amount: u64 }
//!
//! struct Bank { name: &'static str }
//!
//! // The body arrives typed; a body that is not a `Deposit` never reaches the handler.
//! async fn deposit(bank: Arc<Bank>, request: HttpRequest<Deposit>) -> Result<Reply, Problem> {
//!     if request.body.amount == 0 {
//!         return Err(Problem::bad_request("Invalid deposit", "`amount` must be at least 1"));
//!     }
//!     let account = request.param("account");
//!     Ok(Reply::accepted(json!({"bank": bank.name, "account": account, "amount": request.body.amount})))
//! }
//!
//! # tokio_test(async {
//! let api = Api::with_state(Bank { name: "eventkit" })
//!     .idempotency_store(MemoryIdempotencyStore::default())
//!     .post("/accounts/{account}/deposits", deposit)
//!     .idempotent_by_header("Idempotency-Key");
//! api.validate().unwrap();
//!
//! let request = |key: &str, body: &str| {
//!     lambda_http::http::Request::builder()
//!         .method("POST")
//!         .uri("/Prod/accounts/a-1/deposits") // an API Gateway stage in front: ignored
//!         .header("Idempotency-Key", key)
//!         .body(Body::from(body.to_owned()))
//!         .unwrap()
//! };
//! let first = api.handle(request("k-1", r#"{"amount": 5}"#)).await;
//! assert_eq!(first.status(), 202);
//! // The same key and body: the first answer again, the handler not run twice.
//! assert_eq!(api.handle(request("k-1", r#"{"amount": 5}"#)).await.body(), first.body());
//! // The same key with another body: refused.
//! assert_eq!(api.handle(request("k-1", r#"{"amount": 6}"#)).await.status(), 422);
//! // Not a `Deposit`: 400, application/problem+json, naming the field.
//! let refused = api.handle(request("k-2", r#"{"amount": 5, "memo": "x"}"#)).await;
//! assert_eq!(refused.status(), 400);
//! assert_eq!(refused.headers()["content-type"], "application/problem+json");
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```
//!
//! * **Routes** by method and template (`/orders/{id}/cancel`), matched against the end of
//!   the path, so an API Gateway stage or a custom domain's base path in front is ignored;
//!   of two matching templates the one with more literal segments answers. An unknown path
//!   is a `404` and a known path with another method a `405` (with `Allow`), each naming
//!   the routes there are.
//! * **Typed bodies**: the handler's `HttpRequest<T>` holds the body as `T`, read with
//!   serde; one that does not read is a `400` naming the field and what the route expects
//!   ([`Api::expects`]). An empty body reads as JSON `null`: `Option<T>` for an optional
//!   body, `()` for none.
//! * **Answers**: [`Reply`] (JSON) or [`Problem`] (`application/problem+json`, RFC 9457).
//! * **Idempotency by a key the route names**: [`Api::idempotent_by_header`] keeps each
//!   `Reply` in the [`crate::idempotency`] table under the header's value, so a client's
//!   retry gets the first answer; the same key with another body is a `422`, one still
//!   running a `409`. A `Problem` is not remembered: the retry runs again. Without the
//!   header, the request runs as it is.
//! * **Observability**: each request is a server span `<METHOD> <template>` continuing the
//!   caller's `traceparent` (else the invocation's X-Ray trace), in which the handler runs,
//!   so the envelopes it writes carry the trace on; EMF `RecordsProcessed` /
//!   `RecordsFailed` per request (a `5xx` fails it), flushed after each invocation; a `5xx`
//!   is logged as an error with its detail.

mod reply;
mod template;
#[cfg(test)]
mod tests;

pub use lambda_http::http::{Method, StatusCode};
pub use reply::{Problem, Reply};

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lambda_http::http::{Extensions, HeaderMap};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::idempotency::{
    prewarm, prewarm_connections, Idempotency, IdempotencyConfig, IdempotencyError,
    IdempotencyStore, PREWARM,
};
use crate::otel::FutureExt as _;
use crate::router::remaining_time;
use crate::{emf, otel};
use template::Template;

/// The header a caller sets to join an existing conversation ([`HttpRequest::correlation_id`]).
pub const CORRELATION_ID: &str = "x-correlation-id";

/// A request as a route's handler receives it: the body typed, the path's parameters, the
/// headers.
#[derive(Debug)]
pub struct HttpRequest<T> {
    /// The body, read as the route's type.
    pub body: T,
    /// The path parameters the route's template names.
    pub params: BTreeMap<String, String>,
    /// The request's headers.
    pub headers: HeaderMap,
    /// The Lambda request id (empty outside Lambda).
    pub request_id: String,
    /// What `lambda_http` attached to the request: `lambda_http::RequestExt` reads the query
    /// string, the API Gateway request context and the Lambda context from it.
    pub extensions: Extensions,
}

impl<T> HttpRequest<T> {
    /// The path parameter `name` of the route's template (`{id}`); empty for a name the
    /// template does not have.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// A header's value, trimmed; `None` when absent, empty or not text.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The first value of the query string parameter `name`, if any.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.extensions
            .query_string_parameters_ref()
            .and_then(|q| q.first(name))
    }

    /// The conversation the caller asks to join ([`CORRELATION_ID`]), if any.
    pub fn correlation_id(&self) -> Option<&str> {
        self.header(CORRELATION_ID)
    }
}

/// Why an [`Api`] cannot start; the message names the route and what to change.
#[derive(Debug, thiserror::Error)]
#[error("http routes: {0}")]
pub struct ConfigError(String);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Call<S> = Arc<dyn Fn(Arc<S>, Parts) -> BoxFuture<Result<Reply, Problem>> + Send + Sync>;
type SharedIdempotency = Idempotency<Arc<dyn IdempotencyStore>>;

/// What a route's erased handler gets: the request without its typed body.
struct Parts {
    body: Vec<u8>,
    params: BTreeMap<String, String>,
    headers: HeaderMap,
    request_id: String,
    extensions: Extensions,
    expects: String,
}

struct Route<S> {
    method: Method,
    template: Template,
    expects: String,
    idempotency: Option<(String, SharedIdempotency)>,
    call: Call<S>,
}

/// HTTP routes over shared state `S`, served on `lambda_http` by [`Api::run`].
pub struct Api<S> {
    state: Arc<S>,
    routes: Vec<Route<S>>,
    store: Option<Arc<dyn IdempotencyStore>>,
    problems: Vec<String>,
}

impl<S: Send + Sync + 'static> Api<S> {
    /// Routes handing `state` to every handler.
    pub fn with_state(state: S) -> Self {
        Api {
            state: Arc::new(state),
            routes: Vec::new(),
            store: None,
            problems: Vec::new(),
        }
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<S> {
        &self.state
    }

    /// Handles `method` on `template` (`/orders/{id}`) with `handler`, its body read as `T`.
    pub fn route<T, F, Fut>(mut self, method: Method, template: &str, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Arc<S>, HttpRequest<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply, Problem>> + Send + 'static,
    {
        let template = match Template::parse(template) {
            Ok(t) => t,
            Err(e) => {
                self.problems.push(e);
                return self;
            }
        };
        if self
            .routes
            .iter()
            .any(|r| r.method == method && r.template == template)
        {
            self.problems
                .push(format!("{method} {} is routed twice", template.text));
        }
        let handler = Arc::new(handler);
        let call: Call<S> = Arc::new(move |state, parts: Parts| {
            let handler = handler.clone();
            Box::pin(async move {
                let body = read_body::<T>(&parts.body, &parts.expects)?;
                handler(
                    state,
                    HttpRequest {
                        body,
                        params: parts.params,
                        headers: parts.headers,
                        request_id: parts.request_id,
                        extensions: parts.extensions,
                    },
                )
                .await
            })
        });
        self.routes.push(Route {
            method,
            expects: format!("a JSON `{}`", short_type_name::<T>()),
            template,
            idempotency: None,
            call,
        });
        self
    }

    /// [`Api::route`] for `GET`.
    pub fn get<T, F, Fut>(self, template: &str, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Arc<S>, HttpRequest<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply, Problem>> + Send + 'static,
    {
        self.route(Method::GET, template, handler)
    }

    /// [`Api::route`] for `POST`.
    pub fn post<T, F, Fut>(self, template: &str, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Arc<S>, HttpRequest<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply, Problem>> + Send + 'static,
    {
        self.route(Method::POST, template, handler)
    }

    /// [`Api::route`] for `PUT`.
    pub fn put<T, F, Fut>(self, template: &str, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Arc<S>, HttpRequest<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply, Problem>> + Send + 'static,
    {
        self.route(Method::PUT, template, handler)
    }

    /// [`Api::route`] for `DELETE`.
    pub fn delete<T, F, Fut>(self, template: &str, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Arc<S>, HttpRequest<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply, Problem>> + Send + 'static,
    {
        self.route(Method::DELETE, template, handler)
    }

    /// What the route registered last expects, for the `400` a body that does not read
    /// gets: "the body is not `<what>`: <serde's reason>". By default "a JSON `<type>`".
    pub fn expects(mut self, what: &str) -> Self {
        match self.routes.last_mut() {
            Some(route) => route.expects = what.to_owned(),
            None => self
                .problems
                .push("expects() was called before any route".into()),
        }
        self
    }

    /// The idempotency table for [`Api::idempotent_by_header`].
    pub fn idempotency_store(mut self, store: impl IdempotencyStore + 'static) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Makes the route registered last idempotent on the value of `header`
    /// (`Idempotency-Key`): records keyed `<function>.<METHOD> <template>#<hash>`, kept an
    /// hour.
    pub fn idempotent_by_header(self, header: &str) -> Self {
        let name = match self.routes.last() {
            Some(r) => format!("{} {}", r.method, r.template.text),
            None => String::new(),
        };
        self.idempotent_by_header_with(header, IdempotencyConfig::for_handler(&name))
    }

    /// [`Api::idempotent_by_header`] with explicit settings (the key prefix, expiry, local
    /// cache); the key and the body check are the header's value and the body.
    pub fn idempotent_by_header_with(mut self, header: &str, config: IdempotencyConfig) -> Self {
        let Some(store) = self.store.clone() else {
            self.problems.push(
                "idempotent_by_header() was called before idempotency_store(): set the table first"
                    .into(),
            );
            return self;
        };
        let Some(route) = self.routes.last_mut() else {
            self.problems
                .push("idempotent_by_header() was called before any route".into());
            return self;
        };
        let config = config.key_pointer("/key").validate_payload("/body");
        route.idempotency = Some((header.to_ascii_lowercase(), Idempotency::new(store, config)));
        self
    }

    /// Checks the routes: an error names each mistake (a malformed template, a route twice,
    /// idempotency without a table). [`Api::run`] calls it first, so they fail the init.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.routes.is_empty() && self.problems.is_empty() {
            return Err(ConfigError(
                "no routes: add one with route(), get() or post()".into(),
            ));
        }
        match self.problems.is_empty() {
            true => Ok(()),
            false => Err(ConfigError(self.problems.join("; "))),
        }
    }

    /// The routes, as `METHOD /template` joined for messages.
    pub fn routes(&self) -> Vec<String> {
        self.routes
            .iter()
            .map(|r| format!("{} {}", r.method, r.template.text))
            .collect()
    }

    /// Answers one request: routed, read, handled (through idempotency where the route has
    /// it), in a server span, counted in the metrics.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let (parts, body) = request.into_parts();
        // Where `lambda_http` puts the invocation's context (`RequestExt::lambda_context_ref`).
        let context = parts.extensions.get::<lambda_http::Context>().cloned();
        let method = parts.method;
        let path = parts.uri.path().to_owned();
        let headers = parts.headers;
        let segments = template::segments(&path);
        let found = self.find(&method, &segments);
        let route_name = match &found {
            Found::Route(r, _) => r.template.text.clone(),
            _ => "unmatched".to_owned(),
        };
        let cx = otel::server(
            method.as_str(),
            &route_name,
            &path,
            header(&headers, "traceparent"),
            header(&headers, "tracestate"),
            context.as_ref().and_then(|c| c.xray_trace_id.as_deref()),
        );
        let request_id = context
            .as_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_default();
        let remaining = context.as_ref().and_then(|c| remaining_time(c.deadline));
        let mut allow = Vec::new();
        let answer = match found {
            Found::Route(route, params) => {
                let parts = Parts {
                    body: body_bytes(body),
                    params,
                    headers,
                    request_id: request_id.clone(),
                    extensions: parts.extensions,
                    expects: route.expects.clone(),
                };
                self.answer(route, parts, remaining)
                    .with_context(cx.clone())
                    .await
            }
            Found::OtherMethods(allowed) => {
                let problem = self.not_allowed(&method, &path, &allowed);
                allow.push(("allow".to_owned(), allowed.join(", ")));
                Err(problem)
            }
            Found::Nothing => Err(Problem::not_found(
                "Not found",
                format!("no route for {method} {path}; {}", self.routes_hint()),
            )),
        };
        let status = match &answer {
            Ok(r) => r.status,
            Err(p) => p.status,
        };
        let failed = status >= 500;
        let detail = answer.as_ref().err().map(|p| p.detail.clone());
        otel::http_finish(
            &cx,
            status,
            detail
                .as_ref()
                .filter(|_| failed)
                .map(|d| d as &dyn std::fmt::Display),
        );
        if failed {
            tracing::error!(status, route = %route_name, detail = detail.as_deref().unwrap_or_default(), "request failed");
        }
        emf::records(u64::from(!failed), u64::from(failed));
        if !request_id.is_empty() {
            emf::flush_invocation(&request_id);
        }
        match answer {
            Ok(reply) => reply.into_response(),
            Err(problem) => problem.into_response(&allow),
        }
    }

    async fn answer(
        &self,
        route: &Route<S>,
        parts: Parts,
        remaining: Option<std::time::Duration>,
    ) -> Result<Reply, Problem> {
        let key = route
            .idempotency
            .as_ref()
            .and_then(|(name, layer)| Some((header(&parts.headers, name)?.to_owned(), layer)));
        let Some((key, layer)) = key else {
            return (route.call)(self.state.clone(), parts).await;
        };
        // The key and the body: the same key with another body is refused.
        let event = json!({"key": key, "body": String::from_utf8_lossy(&parts.body)});
        let call = route.call.clone();
        let state = self.state.clone();
        match layer
            .run(&event, remaining, || async move { call(state, parts).await })
            .await
        {
            Ok(outcome) => Ok(outcome.into_inner()),
            Err(IdempotencyError::Handler(problem)) => Err(problem),
            Err(IdempotencyError::PayloadMismatch { .. }) => Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Idempotency key reused",
                format!("the key `{key}` was used with a different body; use a new key for a new request"),
            )),
            Err(IdempotencyError::AlreadyInProgress { .. }) => Err(Problem::conflict(
                "Request in progress",
                format!("a request with the key `{key}` is still being processed; retry in a moment"),
            )),
            Err(e) => Err(Problem::unavailable(e.to_string())),
        }
    }

    fn find(&self, method: &Method, segments: &[&str]) -> Found<'_, S> {
        let mut best: Option<(&Route<S>, BTreeMap<String, String>)> = None;
        let mut allowed = Vec::new();
        for route in &self.routes {
            let Some(params) = route.template.matches(segments) else {
                continue;
            };
            if route.method != *method {
                allowed.push(route.method.to_string());
                continue;
            }
            let better = best
                .as_ref()
                .is_none_or(|(b, _)| route.template.specificity() > b.template.specificity());
            if better {
                best = Some((route, params));
            }
        }
        match (best, allowed.is_empty()) {
            (Some((route, params)), _) => Found::Route(route, params),
            (None, false) => {
                allowed.sort();
                allowed.dedup();
                Found::OtherMethods(allowed)
            }
            (None, true) => Found::Nothing,
        }
    }

    fn not_allowed(&self, method: &Method, path: &str, allowed: &[String]) -> Problem {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            format!(
                "{method} is not allowed on {path} (allowed: {}); {}",
                allowed.join(", "),
                self.routes_hint()
            ),
        )
    }

    fn routes_hint(&self) -> String {
        let routes = self.routes();
        match routes.split_last() {
            Some((last, [])) => format!("use {last}"),
            Some((last, rest)) => format!("use {} or {last}", rest.join(", ")),
            None => "this function has no routes".to_owned(),
        }
    }

    /// Runs the function: checks the routes (an init error names the mistake), opens
    /// [`PREWARM`] connections to the idempotency table when a route uses it, then serves
    /// requests until the runtime stops.
    pub async fn run(self) -> Result<(), lambda_http::Error> {
        self.validate()?;
        emf::init();
        if let Some(store) = &self.store {
            if self.routes.iter().any(|r| r.idempotency.is_some()) {
                let setting = crate::config::optional(PREWARM);
                prewarm(store.as_ref(), prewarm_connections(setting.as_deref())?).await;
            }
        }
        tracing::info!(routes = %self.routes().join(", "), "http routes ready");
        let api = Arc::new(self);
        lambda_http::run(lambda_http::service_fn(move |request: Request| {
            let api = api.clone();
            async move { Ok::<_, lambda_http::Error>(api.handle(request).await) }
        }))
        .await
    }
}

enum Found<'a, S> {
    Route(&'a Route<S>, BTreeMap<String, String>),
    OtherMethods(Vec<String>),
    Nothing,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn body_bytes(body: Body) -> Vec<u8> {
    match body {
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    }
}

fn read_body<T: DeserializeOwned>(bytes: &[u8], expects: &str) -> Result<T, Problem> {
    let empty = bytes.iter().all(u8::is_ascii_whitespace);
    let text: &[u8] = if empty { b"null" } else { bytes };
    let mut de = serde_json::Deserializer::from_slice(text);
    let read = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| match e.path().to_string().as_str() {
            "." => e.inner().to_string(),
            path => format!("{path}: {}", e.inner()),
        })
        .and_then(|v| de.end().map(|()| v).map_err(|e| e.to_string()));
    read.map_err(|reason| {
        let reason = match empty {
            true => format!("the body is empty ({reason})"),
            false => reason,
        };
        Problem::bad_request(
            "Invalid request body",
            format!("the body is not {expects}: {reason}"),
        )
    })
}

/// `alloc::vec::Vec<my_crate::Line>` as `Vec<Line>`: the module paths are noise to a caller.
fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    let mut word = String::new();
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            out.push_str(word.rsplit("::").next().unwrap_or_default());
            word.clear();
            out.push(c);
        }
    }
    out.push_str(word.rsplit("::").next().unwrap_or_default());
    out
}
