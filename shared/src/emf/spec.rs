//! A checker for the published Embedded Metric Format specification
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>),
//! for tests that read a function's log lines: a document CloudWatch would drop names the
//! rule it breaks.

use serde_json::{Map, Value};
use thiserror::Error;

/// Units the specification's schema allows.
pub const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// A rule of the specification a document breaks.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("not an EMF document: {0}")]
pub struct EmfViolation(pub String);

/// One metric value set extracted from a valid document.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    /// Namespace of its directive.
    pub namespace: String,
    /// Metric name.
    pub name: String,
    /// Unit, if the directive gave one.
    pub unit: Option<String>,
    /// Dimension (name, value) pairs of one dimension set, in the set's order.
    pub dimensions: Vec<(String, String)>,
    /// The values (one, or the array's members).
    pub values: Vec<f64>,
}

/// Whether a log line is meant as an EMF document (a JSON object with `_aws`).
pub fn is_emf(line: &str) -> bool {
    serde_json::from_str::<Value>(line.trim()).is_ok_and(|v| v.get("_aws").is_some())
}

/// Checks one log line against the specification and returns the metrics CloudWatch
/// would extract from it: one [`Datum`] per metric and dimension set.
pub fn check_line(line: &str) -> Result<Vec<Datum>, EmfViolation> {
    let root: Value = serde_json::from_str(line.trim())
        .map_err(|e| EmfViolation(format!("the line is not one JSON value: {e}")))?;
    check(&root)
}

/// [`check_line`] on a parsed document.
pub fn check(root: &Value) -> Result<Vec<Datum>, EmfViolation> {
    let fail = |m: String| Err(EmfViolation(m));
    let Some(root) = root.as_object() else {
        return fail("the root node must be an object".into());
    };
    let Some(meta) = root.get("_aws").and_then(Value::as_object) else {
        return fail("the root node must hold an `_aws` metadata object".into());
    };
    if !meta
        .get("Timestamp")
        .is_some_and(|t| t.is_u64() || t.is_i64())
    {
        return fail("`_aws.Timestamp` must be an integer (milliseconds since the epoch)".into());
    }
    let Some(directives) = meta.get("CloudWatchMetrics").and_then(Value::as_array) else {
        return fail("`_aws.CloudWatchMetrics` must be an array of metric directives".into());
    };
    let mut data = Vec::new();
    for (i, directive) in directives.iter().enumerate() {
        let at = format!("CloudWatchMetrics[{i}]");
        let Some(directive) = directive.as_object() else {
            return fail(format!("{at} must be an object"));
        };
        let namespace = string_in(directive, "Namespace", &at, 255)?;
        let Some(sets) = directive.get("Dimensions").and_then(Value::as_array) else {
            return fail(format!(
                "{at}.Dimensions must be an array of dimension sets"
            ));
        };
        if sets.is_empty() {
            return fail(format!(
                "{at}.Dimensions must hold at least one dimension set"
            ));
        }
        let mut dimension_sets = Vec::new();
        for (j, set) in sets.iter().enumerate() {
            let Some(set) = set.as_array() else {
                return fail(format!("{at}.Dimensions[{j}] must be an array of names"));
            };
            if set.len() > 9 {
                return fail(format!(
                    "{at}.Dimensions[{j}] has {} keys; a dimension set holds at most 9",
                    set.len()
                ));
            }
            let mut dims = Vec::new();
            for key in set {
                let Some(key) = key
                    .as_str()
                    .filter(|k| (1..=255).contains(&k.chars().count()))
                else {
                    return fail(format!(
                        "{at}.Dimensions[{j}] holds a key that is not a 1-255 character string"
                    ));
                };
                let Some(value) = root.get(key).and_then(Value::as_str) else {
                    return fail(format!(
                        "dimension `{key}` is referenced but the root has no string member `{key}`"
                    ));
                };
                dims.push((key.to_owned(), value.to_owned()));
            }
            dimension_sets.push(dims);
        }
        let Some(metrics) = directive.get("Metrics").and_then(Value::as_array) else {
            return fail(format!("{at}.Metrics must be an array"));
        };
        if metrics.len() > 100 {
            return fail(format!(
                "{at}.Metrics has {} definitions; a directive holds at most 100",
                metrics.len()
            ));
        }
        for (k, metric) in metrics.iter().enumerate() {
            let mat = format!("{at}.Metrics[{k}]");
            let Some(metric) = metric.as_object() else {
                return fail(format!("{mat} must be an object"));
            };
            let name = string_in(metric, "Name", &mat, 255)?;
            let unit = match metric.get("Unit") {
                None => None,
                Some(Value::String(u)) if UNITS.contains(&u.as_str()) => Some(u.clone()),
                Some(other) => {
                    return fail(format!(
                        "{mat}.Unit {other} is not a CloudWatch unit ({})",
                        UNITS.join(", ")
                    ))
                }
            };
            let values = match root.get(&name) {
                Some(Value::Number(n)) => vec![n.as_f64().unwrap_or(f64::NAN)],
                Some(Value::Array(items)) => {
                    if items.len() > 100 {
                        return fail(format!(
                            "metric `{name}` has {} values; an array holds at most 100",
                            items.len()
                        ));
                    }
                    let numbers: Option<Vec<f64>> = items.iter().map(Value::as_f64).collect();
                    let Some(numbers) = numbers else {
                        return fail(format!("metric `{name}` has a value that is not a number"));
                    };
                    numbers
                }
                Some(_) => {
                    return fail(format!(
                        "metric `{name}` must be a number or an array of numbers"
                    ))
                }
                None => {
                    return fail(format!(
                        "metric `{name}` is referenced but the root has no member `{name}`"
                    ))
                }
            };
            for dims in &dimension_sets {
                data.push(Datum {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    unit: unit.clone(),
                    dimensions: dims.clone(),
                    values: values.clone(),
                });
            }
        }
    }
    Ok(data)
}

fn string_in(
    object: &Map<String, Value>,
    member: &str,
    at: &str,
    max: usize,
) -> Result<String, EmfViolation> {
    match object.get(member).and_then(Value::as_str) {
        Some(s) if (1..=max).contains(&s.chars().count()) => Ok(s.to_owned()),
        _ => Err(EmfViolation(format!(
            "{at}.{member} must be a string of 1 to {max} characters"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "_aws": {"Timestamp": 1574109732004_u64, "CloudWatchMetrics": [{
                "Namespace": "lambda-function-metrics",
                "Dimensions": [["functionVersion"]],
                "Metrics": [{"Name": "time", "Unit": "Milliseconds"}]
            }]},
            "functionVersion": "$LATEST",
            "time": [100, 20],
            "requestId": "989ffbf8"
        })
    }

    #[test]
    fn the_specifications_own_example_passes_and_yields_its_datum() {
        let data = check(&valid()).unwrap();
        assert_eq!(
            data,
            vec![Datum {
                namespace: "lambda-function-metrics".into(),
                name: "time".into(),
                unit: Some("Milliseconds".into()),
                dimensions: vec![("functionVersion".into(), "$LATEST".into())],
                values: vec![100.0, 20.0],
            }]
        );
        assert!(is_emf(&valid().to_string()));
        assert!(!is_emf(r#"{"level":"INFO","message":"router ready"}"#));
    }

    #[test]
    fn each_broken_rule_is_named() {
        type Breaks = fn(&mut Value);
        let cases: Vec<(Breaks, &str)> = vec![
            (|d| d["_aws"]["Timestamp"] = json!("now"), "Timestamp"),
            (|d| d["_aws"].as_object_mut().unwrap().clear(), "Timestamp"),
            (
                |d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] = json!(""),
                "Namespace",
            ),
            (
                |d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([]),
                "at least one",
            ),
            (
                |d| {
                    d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] =
                        json!([["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]])
                },
                "at most 9",
            ),
            (
                |d| d["functionVersion"] = json!(7),
                "no string member `functionVersion`",
            ),
            (
                |d| {
                    d.as_object_mut().unwrap().remove("time");
                },
                "no member `time`",
            ),
            (|d| d["time"] = json!("fast"), "number or an array"),
            (|d| d["time"] = json!(vec![1; 101]), "at most 100"),
            (
                |d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Furlongs"),
                "not a CloudWatch unit",
            ),
            (
                |d| {
                    d["_aws"]["CloudWatchMetrics"][0]["Metrics"] =
                        json!(vec![json!({"Name": "time"}); 101])
                },
                "at most 100",
            ),
            (
                |d| {
                    d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] = json!("x".repeat(256))
                },
                "Name",
            ),
        ];
        for (break_it, says) in cases {
            let mut doc = valid();
            break_it(&mut doc);
            let err = check(&doc).expect_err(&format!("{doc} should be refused"));
            assert!(err.0.contains(says), "`{err}` should mention `{says}`");
        }
        assert!(check_line("{not json").is_err());
    }
}
