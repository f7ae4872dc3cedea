//! Per-request CPU of the front door, in process: an API Gateway request (the committed
//! sample) turned into a `lambda_http` request as the runtime does, served against
//! in-memory stores, the response built. Tracing and metrics off (their cost is the
//! kit's `metrics` bench). Cases: a new order (`POST /orders`, no key), the same request
//! retried with its `Idempotency-Key` (answered from the record), and `GET /orders/{id}`.

use criterion::{criterion_main, Criterion};
use eventkit::http::Api;
use eventkit::idempotency::MemoryIdempotencyStore;
use front_door::MemoryOrders;
use lambda_http::{Body, Request, Response};

const SAMPLE: &str = include_str!("../../../events/front-door/apigw-post-order.json");

type Door = Api<MemoryOrders>;

fn door() -> Door {
    front_door::api(MemoryOrders::default(), MemoryIdempotencyStore::default())
}

async fn serve(door: &Door, request: Request) -> Response<Body> {
    door.handle(request).await
}

/// The sample with its `Idempotency-Key` header removed, or its path and method changed.
fn sample(key: bool, method: &str, path: &str) -> String {
    let mut event: serde_json::Value = serde_json::from_str(SAMPLE).expect("sample");
    if !key {
        for headers in ["headers", "multiValueHeaders"] {
            event[headers]
                .as_object_mut()
                .expect("headers")
                .remove("Idempotency-Key");
        }
    }
    event["httpMethod"] = method.into();
    event["path"] = path.into();
    event["requestContext"]["httpMethod"] = method.into();
    if method == "GET" {
        event["body"] = serde_json::Value::Null;
    }
    event.to_string()
}

fn requests(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let d = door();
    let new_order = sample(false, "POST", "/orders");
    let retried = sample(true, "POST", "/orders");
    let placed = rt.block_on(serve(
        &d,
        lambda_http::request::from_str(&new_order).expect("request"),
    ));
    assert_eq!(placed.status(), 202);
    let Body::Text(body) = placed.body() else {
        panic!("text body")
    };
    let id = serde_json::from_str::<serde_json::Value>(body).expect("json")["order_id"]
        .as_str()
        .expect("order_id")
        .to_owned();
    let get = sample(false, "GET", &format!("/orders/{id}"));
    rt.block_on(serve(
        &d,
        lambda_http::request::from_str(&retried).expect("request"),
    ));

    let mut group = c.benchmark_group("front-door");
    for (name, text, status) in [
        ("POST /orders", &new_order, 202),
        ("POST /orders, retried with its key", &retried, 202),
        ("GET /orders/{id}", &get, 200),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let request = lambda_http::request::from_str(text).expect("request");
                let response = rt.block_on(serve(&d, request));
                assert_eq!(response.status(), status);
                response
            })
        });
    }
    group.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    requests(&mut c);
}

criterion_main!(benches);
