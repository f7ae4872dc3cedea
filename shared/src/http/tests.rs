use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::idempotency::MemoryIdempotencyStore;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Order {
    customer: String,
    lines: Vec<Line>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[allow(dead_code)]
    sku: String,
    quantity: u32,
}

#[derive(Debug, Deserialize)]
struct Reason {
    reason: String,
}

/// Counts the handlers' runs.
#[derive(Default)]
struct Runs(AtomicUsize);

async fn place(runs: Arc<Runs>, request: HttpRequest<Order>) -> Result<Reply, Problem> {
    let n = runs.0.fetch_add(1, Ordering::SeqCst);
    if request.body.customer == "down" {
        return Err(Problem::unavailable("the order table is down"));
    }
    if request.body.customer == "refused" {
        return Err(Problem::conflict("Refused", "refused this time"));
    }
    let quantity: u32 = request.body.lines.iter().map(|l| l.quantity).sum();
    Ok(Reply::accepted(json!({"run": n, "quantity": quantity})).header("location", "/orders/o-1"))
}

async fn cancel(_: Arc<Runs>, request: HttpRequest<Option<Reason>>) -> Result<Reply, Problem> {
    let reason = request.body.as_ref().map(|r| r.reason.clone());
    Ok(Reply::ok(
        json!({"id": request.param("id"), "reason": reason, "correlation": request.correlation_id()}),
    ))
}

async fn get(_: Arc<Runs>, request: HttpRequest<()>) -> Result<Reply, Problem> {
    Ok(Reply::ok(
        json!({"id": request.param("id"), "fields": request.query("fields")}),
    ))
}

async fn summary(_: Arc<Runs>, _: HttpRequest<()>) -> Result<Reply, Problem> {
    Ok(Reply::ok(json!("summary")))
}

fn api() -> Api<Runs> {
    Api::with_state(Runs::default())
        .idempotency_store(MemoryIdempotencyStore::default())
        .post("/orders", place)
        .expects("an order ({\"customer\", \"lines\": [{\"sku\", \"quantity\"}]})")
        .idempotent_by_header("Idempotency-Key")
        .get("/orders/{id}", get)
        .get("/orders/summary", summary)
        .post("/orders/{id}/cancel", cancel)
}

fn request(method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(path);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

async fn call(
    api: &Api<Runs>,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, String, Value) {
    let response = api.handle(request(method, path, body, headers)).await;
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = match response.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("not a text body: {other:?}"),
    };
    (response.status().as_u16(), content_type, body)
}

const ORDER: &str = r#"{"customer": "c-1", "lines": [{"sku": "mug", "quantity": 2}]}"#;

#[tokio::test]
async fn routes_match_behind_a_stage_and_name_their_parameters() {
    let api = api();
    api.validate().unwrap();
    let (status, _, body) = call(&api, "GET", "/Prod/orders/o-7", "", &[]).await;
    assert_eq!((status, body), (200, json!({"id": "o-7", "fields": null})));
    // The query string as lambda_http reads it from the API Gateway event.
    let with_query = request("GET", "/orders/o-7", "", &[]).with_query_string_parameters(
        std::collections::HashMap::from([("fields".to_owned(), "status".to_owned())]),
    );
    let response = api.handle(with_query).await;
    let Body::Text(text) = response.body() else {
        panic!("text body")
    };
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap()["fields"],
        "status"
    );
    // The literal route is more specific than the parameter, whatever the order added.
    let (_, _, body) = call(&api, "GET", "/orders/summary", "", &[]).await;
    assert_eq!(body, json!("summary"));
    let (status, _, body) = call(
        &api,
        "POST",
        "/orders/o-7/cancel",
        r#"{"reason": "late"}"#,
        &[(CORRELATION_ID, "corr-1")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"id": "o-7", "reason": "late", "correlation": "corr-1"})
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_are_problems_naming_the_routes() {
    let api = api();
    let (status, content_type, problem) = call(&api, "GET", "/customers", "", &[]).await;
    assert_eq!(
        (status, content_type.as_str()),
        (404, "application/problem+json")
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("no route for GET /customers"), "{detail}");
    assert!(detail.contains("POST /orders/{id}/cancel"), "{detail}");
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["type"], "about:blank");

    let response = api.handle(request("DELETE", "/orders/o-1", "", &[])).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
}

#[tokio::test]
async fn a_body_that_is_not_the_routes_type_is_a_400_naming_the_field() {
    let api = api();
    for (body, needles) in [
        (
            "{not json",
            vec!["the body is not an order", "key must be a string"],
        ),
        (
            r#"{"customer": "c", "lines": [{"sku": "x", "quantity": -1}]}"#,
            vec!["lines[0].quantity", "invalid value"],
        ),
        (
            r#"{"customer": "c", "lines": [], "coupon": "x"}"#,
            vec!["unknown field `coupon`"],
        ),
        (
            r#"{"customer": "c", "lines": []} trailing"#,
            vec!["trailing characters"],
        ),
        ("", vec!["the body is empty"]),
    ] {
        let (status, content_type, problem) = call(&api, "POST", "/orders", body, &[]).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(problem["title"], "Invalid request body");
        let detail = problem["detail"].as_str().unwrap();
        for needle in needles {
            assert!(detail.contains(needle), "{detail} should say {needle}");
        }
    }
    assert_eq!(api.state().0.load(Ordering::SeqCst), 0, "no handler ran");

    // An optional body may be absent; a route without one refuses one, naming its type.
    let (status, _, body) = call(&api, "POST", "/orders/o-1/cancel", "", &[]).await;
    assert_eq!((status, &body["reason"]), (200, &Value::Null));
    let (status, _, problem) = call(&api, "GET", "/orders/o-1", "{}", &[]).await;
    assert_eq!(status, 400);
    assert!(problem["detail"].as_str().unwrap().contains("a JSON `()`"));
}

#[tokio::test]
async fn a_retry_with_its_key_gets_the_first_answer_and_another_body_is_refused() {
    let api = api();
    let key = [("Idempotency-Key", "k-1")];
    let first = api.handle(request("POST", "/orders", ORDER, &key)).await;
    let again = api.handle(request("POST", "/orders", ORDER, &key)).await;
    assert_eq!(first.status(), 202);
    assert_eq!(again.status(), 202);
    assert_eq!(first.body(), again.body());
    assert_eq!(
        again.headers()["location"],
        "/orders/o-1",
        "headers replayed"
    );
    assert_eq!(
        api.state().0.load(Ordering::SeqCst),
        1,
        "the handler ran once"
    );

    let other = ORDER.replace("c-1", "c-2");
    let (status, _, problem) = call(&api, "POST", "/orders", &other, &key).await;
    assert_eq!(status, 422);
    assert!(problem["detail"].as_str().unwrap().contains("`k-1`"));

    // Without the header, every request runs.
    call(&api, "POST", "/orders", ORDER, &[]).await;
    call(&api, "POST", "/orders", ORDER, &[]).await;
    assert_eq!(api.state().0.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_problem_is_not_remembered_and_a_5xx_is_a_failed_request() {
    let api = api();
    let key = [("Idempotency-Key", "k-2")];
    let refused = r#"{"customer": "refused", "lines": []}"#;
    for _ in 0..2 {
        let (status, _, problem) = call(&api, "POST", "/orders", refused, &key).await;
        assert_eq!(
            (status, problem["detail"].as_str()),
            (409, Some("refused this time"))
        );
    }
    assert_eq!(
        api.state().0.load(Ordering::SeqCst),
        2,
        "the retry ran again"
    );

    let down = r#"{"customer": "down", "lines": []}"#;
    let (status, content_type, problem) = call(&api, "POST", "/orders", down, &[]).await;
    assert_eq!(
        (status, content_type.as_str()),
        (503, "application/problem+json")
    );
    assert_eq!(problem["title"], "Try again");
}

#[test]
fn mistakes_in_the_routes_fail_validation_by_name() {
    let no_store = Api::with_state(())
        .post("/orders", |_, _: HttpRequest<()>| async {
            Ok(Reply::ok(json!({})))
        })
        .idempotent_by_header("Idempotency-Key");
    let e = no_store.validate().unwrap_err().to_string();
    assert!(e.contains("before idempotency_store()"), "{e}");

    let twice = Api::with_state(())
        .get("/orders/{id}", |_, _: HttpRequest<()>| async {
            Ok(Reply::ok(json!({})))
        })
        .get("/orders/{id}", |_, _: HttpRequest<()>| async {
            Ok(Reply::ok(json!({})))
        })
        .get("orders", |_, _: HttpRequest<()>| async {
            Ok(Reply::ok(json!({})))
        });
    let e = twice.validate().unwrap_err().to_string();
    assert!(e.contains("GET /orders/{id} is routed twice"), "{e}");
    assert!(e.contains("must start with `/`"), "{e}");

    let e = Api::with_state(()).validate().unwrap_err().to_string();
    assert!(e.contains("no routes"), "{e}");
}

#[test]
fn type_names_in_messages_drop_their_module_paths() {
    assert_eq!(short_type_name::<Vec<Order>>(), "Vec<Order>");
    assert_eq!(short_type_name::<Option<String>>(), "Option<String>");
}
