//! `make bench`: the SQS claim check, the kit against the Amazon SQS Extended Client for
//! Python (`tests/compat/sqs_extended_bench.py`) on the same LocalStack, for bodies of
//! 64 KiB, 1 MiB and 10 MiB. Each side sends a body through S3 and SQS and receives it
//! back (the pointer received, the object fetched, the body whole again). Reported per
//! side: wall time (median of 5), the peak of heap memory above what was in use before
//! the step, and (kit) the bytes allocated during it, each against the body's size.
//! The kit's heap is counted by a global allocator wrapper here; Python's by `tracemalloc`
//! in a second pass, so its timing pass runs untraced.

// A `GlobalAlloc` impl is unsafe by definition; this counting one only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use eventkit::aws::s3::{client as s3_client, S3PayloadStore};
use eventkit::claim_check::{ClaimCheck, Offload};
use eventkit_testkit::{
    median, queue_and_bucket, require_localstack, run_python_peer, to_lambda_record,
};

/// Counts live heap bytes, their peak, and every byte allocated.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(live, Relaxed);
    ALLOCATED.fetch_add(by, Relaxed);
}

// SAFETY: every call is passed to the system allocator unchanged; only counters move.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A move to a new block holds both for a moment: counted as the new block's bytes.
        grew(new_size);
        LIVE.fetch_sub(layout.size(), Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap above the starting point at its peak, and bytes allocated, during `step`.
struct Measured {
    millis: f64,
    peak: usize,
    allocated: usize,
}

async fn measured<T, F: std::future::Future<Output = anyhow::Result<T>>>(
    step: F,
) -> anyhow::Result<(T, Measured)> {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let allocated = ALLOCATED.load(Relaxed);
    let start = Instant::now();
    let out = step.await?;
    let millis = start.elapsed().as_secs_f64() * 1000.0;
    Ok((
        out,
        Measured {
            millis,
            peak: PEAK.load(Relaxed).saturating_sub(base),
            allocated: ALLOCATED.load(Relaxed) - allocated,
        },
    ))
}

const SIZES: [(usize, &str); 3] = [
    (64 * 1024, "64 KiB"),
    (1024 * 1024, "1 MiB"),
    (10 * 1024 * 1024, "10 MiB"),
];
const ROUNDS: usize = 5;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let (url, arn, bucket) = queue_and_bucket(&config, "ccbench").await?;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let cc = ClaimCheck::new(
        Arc::new(S3PayloadStore::new(s3_client(&config))),
        &bucket,
        Offload::Always,
    );

    let mut rows = Vec::new();
    for (size, label) in SIZES {
        let mut send = Vec::new();
        let mut receive = Vec::new();
        for _ in 0..ROUNDS {
            let body = "x".repeat(size);
            let ((), sent) = measured(async {
                let out = cc.prepare_sqs(body, 0).await?;
                let (name, value) = out.size_attribute.expect("always offloaded");
                sqs.send_message()
                    .queue_url(&url)
                    .message_body(out.body)
                    .message_attributes(
                        name,
                        aws_sdk_sqs::types::MessageAttributeValue::builder()
                            .data_type("Number")
                            .string_value(value.to_string())
                            .build()?,
                    )
                    .send()
                    .await?;
                Ok(())
            })
            .await?;
            let (body, received) = measured(async {
                let message = sqs
                    .receive_message()
                    .queue_url(&url)
                    .message_attribute_names("All")
                    .wait_time_seconds(5)
                    .send()
                    .await?
                    .messages
                    .unwrap_or_default()
                    .pop()
                    .ok_or_else(|| anyhow::anyhow!("nothing received"))?;
                let redeemed = cc.redeem_sqs(&to_lambda_record(&message, &arn)).await?;
                sqs.delete_message()
                    .queue_url(&url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await?;
                Ok(redeemed.body)
            })
            .await?;
            anyhow::ensure!(
                body.len() == size,
                "received {} bytes, sent {size}",
                body.len()
            );
            send.push(sent);
            receive.push(received);
        }
        rows.push((size, label, send, receive));
    }

    let sizes: Vec<String> = SIZES.iter().map(|(s, _)| s.to_string()).collect();
    let mut args = vec![url.as_str(), bucket.as_str()];
    args.extend(sizes.iter().map(String::as_str));
    let peer = run_python_peer("sqs_extended_bench.py", &args)?;

    println!(
        "SQS claim check through S3, always offloaded: send (S3 put + SQS send) and receive (SQS receive + S3 get), median of {ROUNDS}; peak = heap above the start at its highest"
    );
    println!(
        "{:<8} {:<5} {:>10} {:>15} {:>15} {:>12} {:>15} {:>9}",
        "body",
        "step",
        "kit",
        "kit peak",
        "kit allocated",
        "Extended",
        "Extended peak",
        "time kit/XC"
    );
    let mut results = Vec::new();
    for (size, label, send, receive) in &rows {
        let python = &peer[size.to_string()];
        for (step, kit) in [("send", send), ("recv", receive)] {
            let millis = median(&kit.iter().map(|m| m.millis).collect::<Vec<_>>());
            let peak = kit.iter().map(|m| m.peak).max().unwrap_or(0);
            let allocated = median(&kit.iter().map(|m| m.allocated as f64).collect::<Vec<_>>());
            let py_ms = python[format!("{step}_ms")].as_f64().unwrap_or(f64::NAN);
            let py_peak = python[format!("{step}_peak")].as_f64().unwrap_or(f64::NAN);
            let of = |bytes: f64| bytes / *size as f64;
            results.push(serde_json::json!({
                "body": label, "bytes": size, "step": step, "kit_ms": millis,
                "kit_peak": of(peak as f64), "peer_ms": py_ms, "peer_peak": of(py_peak),
            }));
            println!(
                "{label:<8} {step:<5} {millis:>7.1} ms {:>14.2}x {:>14.2}x {py_ms:>9.1} ms {:>14.2}x {:>9.2}",
                of(peak as f64),
                of(allocated),
                of(py_peak),
                millis / py_ms
            );
        }
    }
    eventkit_testkit::record_bench(&serde_json::json!({"bench": "claimcheck", "rows": results}))
}
