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

/// One conversation: its events in causation order, and the failures.
#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    /// The correlation id.
    pub correlation_id: String,
    /// Events, each once, in time order.
    pub events: Vec<Observed>,
    /// Failures, grouped by function and error.
    pub failures: Vec<Failure>,
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
        }
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
        fn line(o: &Observed, start: Option<DateTime<Utc>>, failed: &HashSet<&str>) -> String {
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
                "{}  [{}]  {}  {}{}",
                o.envelope.event_type, o.envelope.source, at, o.envelope.id, mark
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
            failed: &HashSet<&str>,
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
            walk(root, "", true, true, &children, start, &failed, &mut out);
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
        for o in &self.events {
            let _ = writeln!(
                out,
                "    {}[\"{}<br/><small>{}</small>\"]",
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

    #[test]
    fn an_event_whose_cause_is_missing_starts_its_own_branch() {
        let events = chain();
        let c = Conversation::build(&events[0].correlation_id, observed(&events[2..]), vec![]);
        assert_eq!(c.flow(), ["payment.declined", "inventory.released"]);
    }
}
