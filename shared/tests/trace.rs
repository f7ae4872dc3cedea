//! One trace across hops, in process: the router continues each record's trace (the
//! envelope's `traceparent`, else the SQS message's X-Ray header), what a handler sends is
//! stamped with the handler's span, and the exported spans link up. A malformed
//! `traceparent` starts a new trace and the record is still processed.
//!
//! Its own binary: the tracer is process-wide.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use eventkit::{otel, Envelope, Router};
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Every exported span, with its resource's service name.
    fn spans(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| {
                let doc: Value = serde_json::from_str(line).expect("one JSON document a line");
                let resource = &doc["resourceSpans"][0];
                assert_eq!(
                    resource["resource"]["attributes"][0]["key"], "service.name",
                    "{line}"
                );
                let scope = &resource["scopeSpans"][0];
                assert_eq!(scope["scope"]["name"], "eventkit");
                scope["spans"][0].clone()
            })
            .collect()
    }

    fn span_of(&self, event_id: &str) -> Value {
        self.spans()
            .into_iter()
            .find(|s| attribute(s, "cloudevents.event_id") == Some(event_id.to_owned()))
            .unwrap_or_else(|| panic!("no span for event {event_id}"))
    }
}

/// The process's one tracer, writing into one capture every test reads.
fn capture() -> Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = Capture::default();
            otel::init_with_writer(capture.clone());
            capture
        })
        .clone()
}

fn attribute(span: &Value, key: &str) -> Option<String> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .and_then(|a| a["value"]["stringValue"].as_str().map(str::to_owned))
}

/// What each handled event would send on: its id and the `traceparent` it would carry.
type Sent = Mutex<Vec<(String, Option<String>)>>;

fn sqs_record(id: &str, body: &str, xray: Option<&str>) -> Value {
    let mut attributes = json!({"ApproximateReceiveCount": "1"});
    if let Some(header) = xray {
        attributes["AWSTraceHeader"] = json!(header);
    }
    json!({
        "messageId": id,
        "receiptHandle": format!("rh-{id}"),
        "body": body,
        "attributes": attributes,
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:orders",
        "awsRegion": "us-east-1"
    })
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn each_record_continues_its_trace_and_what_it_sends_carries_it_on() {
    let capture = capture();
    let router = Router::with_state(Sent::default()).on(
        "order.placed",
        |sent: Arc<Sent>, e: Envelope<Value>| async move {
            let next = e.caused("eventkit.test", "order.routed", json!({}));
            let traceparent = otel::stamped(&next).traceparent.clone();
            sent.lock().unwrap().push((e.id.clone(), traceparent));
            Ok::<_, std::convert::Infallible>(())
        },
    );

    let mut traced = Envelope::new("eventkit.test", "order.placed", json!({}));
    traced.traceparent = Some(format!("00-{TRACE}-{PARENT}-01"));
    let xray_only = Envelope::new("eventkit.test", "order.placed", json!({}));
    let mut malformed = Envelope::new("eventkit.test", "order.placed", json!({}));
    malformed.traceparent = Some("00-not-a-trace-01".into());
    let untraced = Envelope::new("eventkit.test", "order.placed", json!({}));
    let xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    let records = vec![
        // The envelope's trace context wins over the message's X-Ray header.
        sqs_record("m1", &traced.to_json(), Some(xray)),
        sqs_record("m2", &xray_only.to_json(), Some(xray)),
        sqs_record("m3", &malformed.to_json(), None),
        sqs_record("m4", &untraced.to_json(), None),
    ];
    let response = router
        .handle(json!({ "Records": records }), None)
        .await
        .unwrap();
    assert_eq!(
        response["batchItemFailures"],
        json!([]),
        "every record processed"
    );

    let sent: Vec<(String, Option<String>)> = router.state().lock().unwrap().clone();
    assert_eq!(sent.len(), 4);
    let sent_for = |id: &str| {
        sent.iter()
            .find(|(e, _)| e == id)
            .and_then(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("{id} sent nothing traced"))
    };

    // Continued: the consumer span is the envelope's span's child, in its trace, and the
    // follow-up's traceparent names the consumer span as its parent.
    let span = capture.span_of(&traced.id);
    assert_eq!(span["traceId"], TRACE);
    assert_eq!(span["parentSpanId"], PARENT);
    assert_eq!(span["name"], "process order.placed");
    assert_eq!(span["kind"], 5, "a consumer span");
    assert_eq!(span["status"]["code"], 1);
    assert_eq!(
        sent_for(&traced.id),
        format!("00-{TRACE}-{}-01", span["spanId"].as_str().unwrap())
    );

    // Bridged: no traceparent, so the X-Ray header's trace and segment are the parent.
    let span = capture.span_of(&xray_only.id);
    assert_eq!(span["traceId"], "5759e988bd862e3fe1be46a994272793");
    assert_eq!(span["parentSpanId"], "53995c3f42cd8ad8");
    assert!(sent_for(&xray_only.id).starts_with("00-5759e988bd862e3fe1be46a994272793-"));

    // Malformed or missing: a new root trace, its own, still processed.
    let mut roots = Vec::new();
    for e in [&malformed, &untraced] {
        let span = capture.span_of(&e.id);
        assert!(span.get("parentSpanId").is_none(), "a root span: {span}");
        let trace = span["traceId"].as_str().unwrap().to_owned();
        assert_eq!(trace.len(), 32);
        assert_ne!(trace, TRACE);
        assert!(sent_for(&e.id).contains(&trace));
        roots.push(trace);
    }
    assert_ne!(
        roots[0], roots[1],
        "each untraced record starts its own trace"
    );

    // A failed record's span says so.
    let failing = Router::new().on("order.placed", |_, _: Envelope<Value>| async {
        Err::<(), _>(lambda_runtime::Diagnostic {
            error_type: "Refused".into(),
            error_message: "refused by the test".into(),
        })
    });
    let refused = Envelope::new("eventkit.test", "order.placed", json!({}));
    assert!(failing
        .handle(serde_json::to_value(&refused).unwrap(), None)
        .await
        .is_err());
    let span = capture.span_of(&refused.id);
    assert_eq!(span["status"]["code"], 2);
    assert!(
        span["status"]["message"]
            .as_str()
            .unwrap()
            .contains("refused by the test"),
        "{span}"
    );
}

#[cfg(feature = "http")]
#[tokio::test]
async fn an_http_request_continues_its_callers_trace_and_what_it_writes_carries_it_on() {
    use eventkit::http::{Api, HttpRequest, Problem, Reply};
    use lambda_http::Body;

    let capture = capture();
    let api = Api::with_state(Sent::default())
        .post(
            "/orders",
            |sent: Arc<Sent>, _: HttpRequest<Value>| async move {
                let placed = Envelope::new("eventkit.test", "order.placed", json!({}));
                let traceparent = otel::stamped(&placed).traceparent.clone();
                sent.lock().unwrap().push((placed.id, traceparent));
                Ok::<_, Problem>(Reply::accepted(json!({})))
            },
        )
        .get("/orders/{id}", |_: Arc<Sent>, _: HttpRequest<()>| async {
            Err::<Reply, _>(Problem::unavailable("the order table is down"))
        });
    let request = |method: &str, path: &str, traceparent: Option<String>| {
        let mut builder = lambda_http::http::Request::builder()
            .method(method)
            .uri(path);
        if let Some(t) = traceparent {
            builder = builder.header("traceparent", t);
        }
        let body = if method == "GET" { "" } else { "{}" };
        builder.body(Body::from(body)).unwrap()
    };
    let http_span = |path: &str| {
        capture
            .spans()
            .into_iter()
            .find(|s| attribute(s, "url.path").as_deref() == Some(path))
            .unwrap_or_else(|| panic!("no span for {path}"))
    };

    let path = "/Prod/orders";
    let response = api
        .handle(request(
            "POST",
            path,
            Some(format!("00-{TRACE}-{PARENT}-01")),
        ))
        .await;
    assert_eq!(response.status(), 202);
    let span = http_span(path);
    assert_eq!(span["name"], "POST /orders");
    assert_eq!(span["kind"], 2, "a server span");
    assert_eq!(span["traceId"], TRACE);
    assert_eq!(span["parentSpanId"], PARENT);
    assert_eq!(attribute(&span, "http.route").as_deref(), Some("/orders"));
    assert_eq!(span["status"]["code"], 1);
    let sent = api.state().lock().unwrap().clone();
    assert_eq!(
        sent[0].1.as_deref(),
        Some(format!("00-{TRACE}-{}-01", span["spanId"].as_str().unwrap()).as_str()),
        "the envelope the handler writes is the request span's child"
    );

    // No caller trace: a root span of its own; a 5xx marks it failed with the detail.
    let path = "/orders/o-404";
    assert_eq!(api.handle(request("GET", path, None)).await.status(), 503);
    let span = http_span(path);
    assert!(span.get("parentSpanId").is_none(), "a root span: {span}");
    assert_eq!(span["status"]["code"], 2);
    assert!(span["status"]["message"]
        .as_str()
        .unwrap()
        .contains("the order table is down"));
}
