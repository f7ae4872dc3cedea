//! Request/reply in memory: matching, drops, timeouts, task tokens.

use std::sync::Mutex;

use eventkit::publish::MemoryQueues;
use eventkit::Envelope;

use super::*;

#[derive(Default)]
struct MemoryPending(Mutex<HashMap<String, PendingRecord>>);

#[async_trait]
impl PendingRequests for MemoryPending {
    async fn open(&self, id: &str, deadline_ms: i64) -> Result<bool, StoreError> {
        let mut m = self.0.lock().unwrap();
        if m.contains_key(id) {
            return Ok(false);
        }
        m.insert(
            id.into(),
            PendingRecord {
                deadline_ms,
                reply: None,
            },
        );
        Ok(true)
    }
    async fn answer(
        &self,
        id: &str,
        reply: &CheckReplied,
        now_ms: i64,
    ) -> Result<Matched, StoreError> {
        let mut m = self.0.lock().unwrap();
        Ok(match m.get_mut(id) {
            None => Matched::Unknown,
            Some(r) if r.reply.is_some() => Matched::Duplicate,
            Some(r) if r.deadline_ms <= now_ms => Matched::Late,
            Some(r) => {
                r.reply = Some(reply.clone());
                Matched::Answered
            }
        })
    }
    async fn get(&self, id: &str) -> Result<Option<PendingRecord>, StoreError> {
        Ok(self.0.lock().unwrap().get(id).cloned())
    }
}

#[derive(Default)]
struct Tasks(Mutex<Vec<(String, Result<Value, String>)>>);

#[async_trait]
impl TaskTokens for Tasks {
    async fn succeed(&self, token: &str, output: &Value) -> Result<(), ReplyError> {
        self.0
            .lock()
            .unwrap()
            .push((token.into(), Ok(output.clone())));
        Ok(())
    }
    async fn fail(&self, token: &str, error: &str, _cause: &str) -> Result<(), ReplyError> {
        self.0
            .lock()
            .unwrap()
            .push((token.into(), Err(error.into())));
        Ok(())
    }
}

type Req = Router<Requester<MemoryPending, Arc<MemoryQueues>>>;
type Resp = Router<Responder<Arc<MemoryQueues>, Tasks>>;

fn pair() -> (Req, Resp, Arc<MemoryQueues>) {
    let queues = Arc::new(MemoryQueues::default());
    let req = requester(Requester {
        pending: MemoryPending::default(),
        queues: queues.clone(),
        requests_queue: "q-requests".into(),
        reply_queue: "q-replies".into(),
    });
    let resp = responder(Responder {
        queues: queues.clone(),
        tasks: Tasks::default(),
        stock: parse_stock(r#"{"mug": 5}"#).unwrap(),
        reply_queues: vec!["q-replies".into()],
    });
    (req, resp, queues)
}

fn start_check(sku: &str, timeout_ms: u64) -> Envelope {
    Envelope::new(
        "t",
        START_CHECK,
        json!({"sku": sku, "quantity": 2, "timeout_ms": timeout_ms}),
    )
}

async fn result_of(req: &Req, id: &str) -> CheckResult {
    let v = req
        .dispatch(
            Envelope::new("t", CHECK_RESULT, json!({"request_id": id})),
            None,
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// Delivers what was sent to `queue` since `from` to `router`; returns the new length.
async fn deliver<S: Send + Sync + 'static>(
    queues: &MemoryQueues,
    queue: &str,
    from: usize,
    router: &Router<S>,
) -> usize {
    let sent = queues.sent();
    for (q, e) in &sent[from..] {
        if q == queue {
            router.dispatch(e.clone(), None).await.unwrap();
        }
    }
    sent.len()
}

#[tokio::test]
async fn a_reply_answers_its_request_and_a_duplicate_is_dropped() {
    let (req, resp, queues) = pair();
    let cmd = start_check("dup-mug", 60_000);
    let started = req.dispatch(cmd.clone(), None).await.unwrap();
    assert_eq!(started["request_id"], json!(cmd.correlation_id));
    let n = deliver(&queues, "q-requests", 0, &resp).await;
    let (_, request) = &queues.sent()[0];
    assert_eq!(request.extensions["replyto"], json!("q-replies"));
    // The responder replied twice (dup-): the second is dropped.
    let replies: Vec<Envelope> = queues.sent()[n..].iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(replies.len(), 2);
    let outcomes: Vec<Value> =
        futures::future::join_all(replies.into_iter().map(|r| req.dispatch(r, None)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    assert_eq!(outcomes, [json!("Answered"), json!("Duplicate")]);
    match result_of(&req, &cmd.correlation_id).await {
        CheckResult::Answered { reply } => assert_eq!((reply.on_hand, reply.available), (0, false)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn no_reply_times_out_and_a_late_reply_is_dropped() {
    let (req, _resp, _) = pair();
    let cmd = start_check("mug", 1);
    req.dispatch(cmd.clone(), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(matches!(
        result_of(&req, &cmd.correlation_id).await,
        CheckResult::TimedOut { .. }
    ));
    let late = Envelope::new(
        RESPONDER,
        CHECK_REPLIED,
        json!({"sku": "mug", "on_hand": 5, "available": true}),
    );
    let mut late = late;
    late.correlation_id = cmd.correlation_id.clone();
    assert_eq!(req.dispatch(late, None).await.unwrap(), json!("Late"));
    assert!(matches!(
        result_of(&req, &cmd.correlation_id).await,
        CheckResult::TimedOut { .. }
    ));
    let stray = Envelope::new(
        RESPONDER,
        CHECK_REPLIED,
        json!({"sku": "mug", "on_hand": 5, "available": true}),
    );
    assert_eq!(req.dispatch(stray, None).await.unwrap(), json!("Unknown"));
    assert_eq!(result_of(&req, "nothing").await, CheckResult::Unknown);
}

#[tokio::test]
async fn a_second_check_in_one_conversation_is_refused() {
    let (req, _, _) = pair();
    let cmd = start_check("mug", 60_000);
    req.dispatch(cmd.clone(), None).await.unwrap();
    let again = cmd.caused(
        "t",
        START_CHECK,
        json!({"sku": "mug", "quantity": 1, "timeout_ms": 10}),
    );
    let err = req.dispatch(again, None).await.unwrap_err();
    assert_eq!(err.error_type(), "AlreadyPending");
}

#[tokio::test]
async fn the_responder_answers_task_tokens_and_refuses_unknown_reply_addresses() {
    let (_, resp, _) = pair();
    let mut with_token = Envelope::new("wf", CHECK_REQUESTED, json!({"sku": "mug", "quantity": 2}));
    with_token
        .extensions
        .insert("tasktoken".into(), json!("tok-1"));
    resp.dispatch(with_token.clone(), None).await.unwrap();
    let mut unknown = with_token.clone();
    unknown.data = Some(json!({"sku": "nothing", "quantity": 1}));
    unknown
        .extensions
        .insert("tasktoken".into(), json!("tok-2"));
    resp.dispatch(unknown, None).await.unwrap();
    let answered = resp.state().tasks.0.lock().unwrap().clone();
    assert_eq!(
        answered[0],
        (
            "tok-1".into(),
            Ok(json!({"sku": "mug", "on_hand": 5, "available": true}))
        )
    );
    assert_eq!(answered[1], ("tok-2".into(), Err("UnknownSku".into())));
    let mut elsewhere = Envelope::new("t", CHECK_REQUESTED, json!({"sku": "mug", "quantity": 1}));
    elsewhere
        .extensions
        .insert("replyto".into(), json!("q-attacker"));
    assert_eq!(
        resp.dispatch(elsewhere, None)
            .await
            .unwrap_err()
            .error_type(),
        "ReplyAddressNotAllowed"
    );
    let nowhere = Envelope::new("t", CHECK_REQUESTED, json!({"sku": "mug", "quantity": 1}));
    assert_eq!(
        resp.dispatch(nowhere, None).await.unwrap_err().error_type(),
        "NoReplyAddress"
    );
}

#[tokio::test]
async fn the_samples_run() {
    let (req, resp, _) = pair();
    let start: Value = serde_json::from_str(include_str!(
        "../../../events/request-reply/start-check.json"
    ))
    .unwrap();
    assert!(req.handle(start, None).await.unwrap()["deadline_ms"].is_i64());
    // A request whose reply address this stack does not own fails to the DLQ.
    let batch: Value = serde_json::from_str(include_str!(
        "../../../events/request-reply/failure-reply-address-not-allowed.json"
    ))
    .unwrap();
    assert_eq!(
        resp.handle(batch, None).await.unwrap()["batchItemFailures"],
        json!([{"itemIdentifier": "msg-stock-sample"}])
    );
}
