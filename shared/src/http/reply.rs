//! What a route answers: a [`Reply`] (remembered for an idempotent retry) or a [`Problem`]
//! (RFC 9457 `application/problem+json`, never remembered).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A successful answer: a status, a JSON body and any headers. Serialisable, so a retried
/// idempotent request gets exactly the first answer back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
    /// Extra headers (`location`, ...), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// `status` with `body`.
    pub fn new(status: StatusCode, body: Value) -> Self {
        Reply {
            status: status.as_u16(),
            body,
            headers: Vec::new(),
        }
    }

    /// `200 OK` with `body`.
    pub fn ok(body: Value) -> Self {
        Reply::new(StatusCode::OK, body)
    }

    /// `202 Accepted` with `body`: the work goes on after the answer.
    pub fn accepted(body: Value) -> Self {
        Reply::new(StatusCode::ACCEPTED, body)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub(super) fn into_response(self) -> Response<Body> {
        respond(self.status, "application/json", &self.body, &self.headers)
    }
}

/// A refusal or a failure as `application/problem+json` (RFC 9457): `title` says what kind
/// of problem, `detail` what is wrong with this request and what to do. A route's handler
/// returns it as its error; a `5xx` fails the request in the metrics and the span, a `4xx`
/// does not (the caller's mistake, answered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{status} {title}: {detail}")]
pub struct Problem {
    /// A URI naming the problem type; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short and the same for every occurrence ("Invalid order").
    pub title: String,
    /// The status code.
    pub status: u16,
    /// This occurrence: the field, the value, what to do.
    pub detail: String,
}

impl Problem {
    /// A problem of type `about:blank`.
    pub fn new(status: StatusCode, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: "about:blank".to_owned(),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
        }
    }

    /// `400 Bad Request`.
    pub fn bad_request(title: &str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, title, detail)
    }

    /// `404 Not Found`.
    pub fn not_found(title: &str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, title, detail)
    }

    /// `409 Conflict`.
    pub fn conflict(title: &str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::CONFLICT, title, detail)
    }

    /// `503 Service Unavailable`, titled "Try again": a dependency failed and nothing was
    /// done, so the same request may succeed later.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Try again", detail)
    }

    /// `500 Internal Server Error`: a fault of this function, not of the request.
    pub fn internal(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", detail)
    }

    pub(super) fn into_response(self, headers: &[(String, String)]) -> Response<Body> {
        let body = serde_json::to_value(&self).unwrap_or(Value::Null);
        respond(self.status, "application/problem+json", &body, headers)
    }
}

fn respond(
    status: u16,
    content_type: &str,
    body: &Value,
    headers: &[(String, String)],
) -> Response<Body> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", content_type);
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|e| {
            // Only a header name or value HTTP refuses gets here: answer, and say which.
            tracing::error!(error = %e, "response not built; a header is not valid HTTP");
            let mut response = Response::new(Body::from(
                r#"{"type":"about:blank","title":"Internal error","status":500,"detail":"the response had a header that is not valid HTTP"}"#,
            ));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        })
}
