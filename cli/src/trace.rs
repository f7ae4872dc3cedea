//! A conversation as a causation tree: which event caused which, from which source, when,
//! and which consumer failed on it. Pure: [`Conversation::build`] takes what was observed
//! (events from the audit log, failures from the functions' logs); rendering is text or
//! Mermaid.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use eventkit::Envelope;
use serde::Serialize;

/// An event as the audit trail saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    /// The envelope.
    pub envelope: Envelope,
    /// When the bus delivered it to the audit log (the event's own `time` otherwise).
    pub seen: Option<DateTime<Utc>>,
}

/// A consumer's failure on an event of the conversation (from its log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The function that failed.
    pub function: String,
    /// The event it failed on, when the log line names it.
    pub event_id: Option<String>,
    /// What it logged.
    pub error: String,
    /// How many times (retries log again).
    pub count: usize,
    /// The last time.
    pub last: Option<DateTime<Utc>>,
}

/// A function's handling of an event of the conversation, from its exported span (the
/// functions' logs when they run with `OTEL_TRACES_EXPORTER=console`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timing {
    /// The function.
    pub function: String,
    /// The event handled.
    pub event_id: String,
    /// `process` (a consumer) or `send` (a relay publishing it).
    pub operation: String,
    /// When the span started.
    pub start: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub millis: f64,
    /// Whether it ended in error.
    pub failed: bool,
    /// The OpenTelemetry trace it belongs to.
    pub trace_id: String,
}

impl Timing {
    /// Reads an exported span line (OTLP/JSON, one span a document); `None` for any other
    /// line or a span that names no event.
    pub fn from_span_line(function: &str, line: &str) -> Option<Timing> {
        let doc: serde_json::Value = serde_json::from_str(line).ok()?;
        let span = &doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        let attribute = |key: &str| {
            span["attributes"].as_array().and_then(|a| {
                a.iter()
                    .find(|kv| kv["key"] == key)
                    .and_then(|kv| kv["value"]["stringValue"].as_str())
            })
        };
        let nanos = |key: &str| span[key].as_str().and_then(|n| n.parse::<i64>().ok());
        let (start, end) = (nanos("startTimeUnixNano")?, nanos("endTimeUnixNano")?);
        Some(Timing {
            function: function.to_owned(),
            event_id: attribute("cloudevents.event_id")?.to_owned(),
            operation: attribute("messaging.operation.type")
                .unwrap_or("process")
                .to_owned(),
            start: DateTime::from_timestamp_nanos(start),
            millis: (end - start) as f64 / 1e6,
            failed: span["status"]["code"] == 2,
            trace_id: span["traceId"].as_str()?.to_owned(),
        })
    }

    fn label(&self, start: Option<DateTime<Utc>>) -> String {
        let at = start
            .map(|s| {
                format!(
                    " +{:.2}s",
                    (self.start - s).num_milliseconds() as f64 / 1000.0
                )
            })
            .unwrap_or_default();
        let verb = if self.operation == "send" {
            "sent by "
        } else {
            ""
        };
        let mark = if self.failed { " ✗" } else { "" };
        format!("{verb}{}{at} {:.0} ms{mark}", self.function, self.millis)
    }
}

/// One conversation: its events in causation order, and the failures.
#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    /// The correlation id.
    pub correlation_id: String,
    /// Events, each once, in time order.
    pub events: Vec<Observed>,
    /// Failures, grouped by function and error.
    pub failures: Vec<Failure>,
    /// How long each function took over each event, when spans were exported.
    pub timings: Vec<Timing>,
}

fn time_of(o: &Observed) -> Option<DateTime<Utc>> {
    o.envelope.time.or(o.seen)
}

impl Conversation {
    /// Builds the conversation from what was observed: duplicates (a redelivered or replayed
    /// envelope) count once; failures with the same function, event and error are merged.
    pub fn build(
        correlation_id: &str,
        observed: Vec<Observed>,
        failures: Vec<Failure>,
    ) -> Conversation {
        let mut seen = HashSet::new();
        let mut events: Vec<Observed> = observed
            .into_iter()
            .filter(|o| {
                o.envelope.correlation_id == correlation_id && seen.insert(o.envelope.id.clone())
            })
            .collect();
        events.sort_by_key(|o| (time_of(o), o.envelope.id.clone()));
        let mut merged: BTreeMap<(String, Option<String>, String), Failure> = BTreeMap::new();
        for f in failures {
            let key = (f.function.clone(), f.event_id.clone(), f.error.clone());
            merged
                .entry(key)
                .and_modify(|m| {
                    m.count += f.count;
                    m.last = m.last.max(f.last);
                })
                .or_insert(f);
        }
        Conversation {
            correlation_id: correlation_id.to_owned(),
            events,
            failures: merged.into_values().collect(),
            timings: Vec::new(),
        }
    }

    /// Adds the timings of the conversation's events (others are dropped), senders first,
    /// then in start order.
    pub fn with_timings(mut self, timings: Vec<Timing>) -> Conversation {
        let ids: HashSet<String> = self.events.iter().map(|o| o.envelope.id.clone()).collect();
        let mut timings: Vec<Timing> = timings
            .into_iter()
            .filter(|t| ids.contains(&t.event_id))
            .collect();
        timings.sort_by(|a, b| {
            (a.operation != "send", a.start).cmp(&(b.operation != "send", b.start))
        });
        self.timings = timings;
        self
    }

    fn timing_labels(&self, event_id: &str, start: Option<DateTime<Utc>>) -> Vec<String> {
        self.timings
            .iter()
            .filter(|t| t.event_id == event_id)
            .map(|t| t.label(start))
            .collect()
    }

    /// Event ids whose cause is not in the conversation (its starts).
    fn roots(&self) -> Vec<&Observed> {
        let ids: HashSet<&str> = self.events.iter().map(|o| o.envelope.id.as_str()).collect();
        self.events
            .iter()
            .filter(|o| {
                o.envelope
                    .causation_id
                    .as_deref()
                    .is_none_or(|c| !ids.contains(c))
            })
            .collect()
    }

    fn children(&self) -> HashMap<&str, Vec<&Observed>> {
        let mut children: HashMap<&str, Vec<&Observed>> = HashMap::new();
        for o in &self.events {
            if let Some(cause) = o.envelope.causation_id.as_deref() {
                children.entry(cause).or_default().push(o);
            }
        }
        children
    }

    /// The event types along the tree, depth first (for tests and summaries).
    pub fn flow(&self) -> Vec<String> {
        let children = self.children();
        let mut out = Vec::new();
        fn walk<'a>(
            o: &'a Observed,
            children: &HashMap<&str, Vec<&'a Observed>>,
            out: &mut Vec<String>,
        ) {
            out.push(o.envelope.event_type.clone());
            for c in children.get(o.envelope.id.as_str()).into_iter().flatten() {
                walk(c, children, out);
            }
        }
        for root in self.roots() {
            walk(root, &children, &mut out);
        }
        out
    }

    /// The tree as text: one line per event (type, source, time from the start, id), then
    /// the failures.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let start = self.events.iter().filter_map(time_of).min();
        let end = self.events.iter().filter_map(time_of).max();
        let span = match (start, end) {
            (Some(s), Some(e)) => format!(", {:.1} s", (e - s).num_milliseconds() as f64 / 1000.0),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "conversation {} ({} events{span}, {} failure{})",
            self.correlation_id,
            self.events.len(),
            self.failures.len(),
            if self.failures.len() == 1 { "" } else { "s" }
        );
        let children = self.children();
        let failed: HashSet<&str> = self
            .failures
            .iter()
            .filter_map(|f| f.event_id.as_deref())
            .collect();
        let timed: HashMap<&str, String> = self
            .events
            .iter()
            .filter_map(|o| {
                let labels = self.timing_labels(&o.envelope.id, start);
                (!labels.is_empty())
                    .then(|| (o.envelope.id.as_str(), format!("  ⏱ {}", labels.join(", "))))
            })
            .collect();
        let failed = (&failed, &timed);
        fn line(
            o: &Observed,
            start: Option<DateTime<Utc>>,
            (failed, timed): (&HashSet<&str>, &HashMap<&str, String>),
        ) -> String {
            let at = match (time_of(o), start) {
                (Some(t), Some(s)) if t != s => {
                    format!("+{:.2}s", (t - s).num_milliseconds() as f64 / 1000.0)
                }
                (Some(t), _) => t.format("%H:%M:%S%.3f").to_string(),
                _ => "-".to_owned(),
            };
            let mark = if failed.contains(o.envelope.id.as_str()) {
                "  ✗ a consumer failed on it"
            } else {
                ""
            };
            format!(
                "{}  [{}]  {}  {}{}{}",
                o.envelope.event_type,
                o.envelope.source,
                at,
                o.envelope.id,
                timed.get(o.envelope.id.as_str()).map_or("", String::as_str),
                mark
            )
        }
        #[allow(clippy::too_many_arguments)] // a recursive helper's context, kept local
        fn walk(
            o: &Observed,
            prefix: &str,
            last: bool,
            root: bool,
            children: &HashMap<&str, Vec<&Observed>>,
            start: Option<DateTime<Utc>>,
            failed: (&HashSet<&str>, &HashMap<&str, String>),
            out: &mut String,
        ) {
            let branch = if root {
                ""
            } else if last {
                "└─ "
            } else {
                "├─ "
            };
            let _ = writeln!(out, "{prefix}{branch}{}", line(o, start, failed));
            let next = if root {
                prefix.to_owned()
            } else {
                format!("{prefix}{}", if last { "   " } else { "│  " })
            };
            let kids = children
                .get(o.envelope.id.as_str())
                .cloned()
                .unwrap_or_default();
            for (i, c) in kids.iter().enumerate() {
                walk(
                    c,
                    &next,
                    i + 1 == kids.len(),
                    false,
                    children,
                    start,
                    failed,
                    out,
                );
            }
        }
        for root in self.roots() {
            walk(root, "", true, true, &children, start, failed, &mut out);
        }
        if !self.failures.is_empty() {
            let _ = writeln!(out, "failures:");
            for f in &self.failures {
                let times = if f.count == 1 {
                    String::new()
                } else {
                    format!(" ({} times)", f.count)
                };
                let on = f
                    .event_id
                    .as_deref()
                    .map(|e| format!(" on {e}"))
                    .unwrap_or_default();
                let _ = writeln!(out, "  ✗ {}{on}{times}: {}", f.function, f.error);
            }
        }
        out
    }

    /// The tree as a Mermaid flowchart (paste into a README, an issue, a wiki).
    pub fn render_mermaid(&self) -> String {
        let mut out = String::from("flowchart TD\n");
        let node = |id: &str| {
            format!(
                "e{}",
                id.chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect::<String>()
            )
        };
        let ids: HashSet<&str> = self.events.iter().map(|o| o.envelope.id.as_str()).collect();
        let start = self.events.iter().filter_map(time_of).min();
        for o in &self.events {
            let timings: String = self
                .timing_labels(&o.envelope.id, start)
                .iter()
                .map(|l| format!("<br/><small>⏱ {l}</small>"))
                .collect();
            let _ = writeln!(
                out,
                "    {}[\"{}<br/><small>{}</small>{timings}\"]",
                node(&o.envelope.id),
                o.envelope.event_type,
                o.envelope.source
            );
        }
        for o in &self.events {
            if let Some(cause) = o
                .envelope
                .causation_id
                .as_deref()
                .filter(|c| ids.contains(c))
            {
                let _ = writeln!(out, "    {} --> {}", node(cause), node(&o.envelope.id));
            }
        }
        for (i, f) in self.failures.iter().enumerate() {
            let label = f.error.replace('"', "'");
            let _ = writeln!(
                out,
                "    f{i}{{{{\"✗ {}<br/><small>{}</small>\"}}}}",
                f.function,
                label.chars().take(80).collect::<String>()
            );
            if let Some(e) = f.event_id.as_deref().filter(|e| ids.contains(e)) {
                let _ = writeln!(out, "    {} -.-> f{i}", node(e));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain() -> Vec<Envelope> {
        let start = Envelope::new("eventkit.shop", "checkout.requested", json!({}));
        let reserved = start.caused("eventkit.inventory", "inventory.reserved", json!({}));
        let declined = reserved.caused("eventkit.payments", "payment.declined", json!({}));
        let released = declined.caused("eventkit.inventory", "inventory.released", json!({}));
        vec![start, reserved, declined, released]
    }

    fn observed(events: &[Envelope]) -> Vec<Observed> {
        events
            .iter()
            .map(|e| Observed {
                envelope: e.clone(),
                seen: None,
            })
            .collect()
    }

    #[test]
    fn the_tree_follows_causation_whatever_the_arrival_order_and_duplicates_count_once() {
        let events = chain();
        let correlation = events[0].correlation_id.clone();
        let mut arrived = observed(&events);
        arrived.reverse();
        arrived.push(arrived[1].clone());
        let other = Envelope::new("x", "unrelated", json!({}));
        arrived.push(Observed {
            envelope: other,
            seen: None,
        });
        let c = Conversation::build(&correlation, arrived, vec![]);
        assert_eq!(c.events.len(), 4);
        assert_eq!(
            c.flow(),
            [
                "checkout.requested",
                "inventory.reserved",
                "payment.declined",
                "inventory.released"
            ]
        );
        let text = c.render_text();
        assert!(
            text.starts_with(&format!("conversation {correlation} (4 events")),
            "{text}"
        );
        assert!(
            text.contains("└─ inventory.reserved  [eventkit.inventory]"),
            "{text}"
        );
    }

    #[test]
    fn failures_are_merged_and_marked_on_their_event() {
        let events = chain();
        let failing = events[2].id.clone();
        let failure = |at: i64| Failure {
            function: "eventkit-inventory".into(),
            event_id: Some(failing.clone()),
            error: "release failed transiently".into(),
            count: 1,
            last: DateTime::from_timestamp(at, 0),
        };
        let c = Conversation::build(
            &events[0].correlation_id,
            observed(&events),
            vec![failure(10), failure(20)],
        );
        assert_eq!(c.failures.len(), 1);
        assert_eq!(c.failures[0].count, 2);
        assert_eq!(c.failures[0].last, DateTime::from_timestamp(20, 0));
        let text = c.render_text();
        assert!(text.contains("✗ a consumer failed on it"), "{text}");
        assert!(text.contains("✗ eventkit-inventory on"), "{text}");
        let mermaid = c.render_mermaid();
        assert!(mermaid.starts_with("flowchart TD"));
        assert_eq!(mermaid.matches(" --> ").count(), 3, "{mermaid}");
        assert!(mermaid.contains("-.-> f0"), "{mermaid}");
    }

    #[derive(Clone, Default)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn exported_spans_time_their_events_on_the_tree() {
        let capture = Capture::default();
        eventkit::otel::init_with_writer(capture.clone());
        let events = chain();
        let unrelated = Envelope::new("x", "unrelated", json!({}));
        for (e, error) in [
            (&events[1], None),
            (&events[2], Some("declined by the test")),
            (&unrelated, None),
        ] {
            let cx = eventkit::otel::consumer(e);
            std::thread::sleep(std::time::Duration::from_millis(3));
            eventkit::otel::finish(&cx, error.as_ref().map(|e| e as &dyn std::fmt::Display));
        }
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let timings: Vec<Timing> = text
            .lines()
            .map(|l| Timing::from_span_line("shop-payments", l).expect("a span line reads"))
            .collect();
        assert_eq!(timings.len(), 3);
        assert!(timings.iter().all(|t| t.millis >= 3.0), "{timings:?}");
        assert!(Timing::from_span_line("f", r#"{"level":"INFO"}"#).is_none());

        let c = Conversation::build(&events[0].correlation_id, observed(&events), vec![])
            .with_timings(timings);
        assert_eq!(c.timings.len(), 2, "the unrelated event's span is dropped");
        let text = c.render_text();
        let reserved = text
            .lines()
            .find(|l| l.contains("inventory.reserved"))
            .unwrap();
        assert!(reserved.contains("⏱ shop-payments +"), "{text}");
        assert!(!reserved.contains('✗'), "{text}");
        let declined = text
            .lines()
            .find(|l| l.contains("payment.declined"))
            .unwrap();
        assert!(declined.contains(" ms ✗"), "{text}");
        assert!(!text
            .lines()
            .find(|l| l.contains("checkout.requested"))
            .unwrap()
            .contains('⏱'));
        assert_eq!(c.render_mermaid().matches("⏱ shop-payments").count(), 2);
    }

    #[test]
    fn an_event_whose_cause_is_missing_starts_its_own_branch() {
        let events = chain();
        let c = Conversation::build(&events[0].correlation_id, observed(&events[2..]), vec![]);
        assert_eq!(c.flow(), ["payment.declined", "inventory.released"]);
    }
}
