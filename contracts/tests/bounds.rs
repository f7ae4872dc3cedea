//! Every bound the published schemas carry (`minimum`, `maximum`, lengths, numbers of
//! items) is where the Rust reader draws it too: a value at the bound is taken by Python's
//! `jsonschema` and by serde, a value one past it refused by both. A Python or TypeScript
//! consumer validating with `events/schemas/` then takes what the Rust consumer takes.
//!
//! Python runs from build/venv (`tools/localstack/localstack.sh install`, which `make
//! lint` and `make contracts-check` run first), whose lock pins `jsonschema`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use eventkit_contracts::gate::ENVELOPE_FILE;
use eventkit_contracts::registry::catalogue;
use serde_json::{Map, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where a case puts its value in an instance: replaced in the JSON text, so that a value
/// no `serde_json::Value` holds exactly (2^64) is written exactly.
const MARK: &str = "@@value@@";

const BOUNDS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
];

fn object(s: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    s.as_object().unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

fn types(s: &Map<String, Value>) -> Vec<&str> {
    match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

fn int(v: Option<&Value>) -> Option<i128> {
    let v = v?;
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
}

fn string_of(len: i128) -> Value {
    Value::from("x".repeat(usize::try_from(len).expect("a length")))
}

/// A small instance the schema takes, and the Rust readers too (non-blank strings).
fn minimal(schema: &Value) -> Value {
    let s = object(schema);
    if let Some(c) = s.get("const") {
        return c.clone();
    }
    if let Some(Value::Array(e)) = s.get("enum") {
        return e[0].clone();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(alts)) = s.get(key) {
            return minimal(&alts[0]);
        }
    }
    let t = types(s);
    let pick = ["object", "array", "string", "integer", "number", "boolean"]
        .into_iter()
        .find(|p| t.contains(p));
    match pick {
        Some("object") => {
            let props = s.get("properties").map(object).cloned().unwrap_or_default();
            let mut out = Map::new();
            for name in s
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                out.insert(
                    name.to_owned(),
                    minimal(props.get(name).unwrap_or(&Value::Null)),
                );
            }
            Value::Object(out)
        }
        Some("array") => {
            let n = int(s.get("minItems")).unwrap_or(0);
            let item = minimal(s.get("items").unwrap_or(&Value::Null));
            Value::Array(vec![item; usize::try_from(n).expect("a count")])
        }
        Some("string") => string_of(int(s.get("minLength")).unwrap_or(1).max(1)),
        Some("integer" | "number") => {
            let lo = int(s.get("minimum")).unwrap_or(0).max(0);
            serde_json::to_value(lo as i64).expect("a number")
        }
        Some(_) => Value::Bool(false),
        None => Value::Null,
    }
}

/// Every node carrying a bound, with an instance of `schema` holding [`MARK`] at its place.
fn sites(schema: &Value) -> Vec<(Value, Map<String, Value>)> {
    let s = object(schema);
    let mut out = Vec::new();
    if BOUNDS.iter().any(|k| s.contains_key(*k)) {
        out.push((Value::from(MARK), s.clone()));
    }
    for key in ["oneOf", "anyOf"] {
        for alt in s.get(key).and_then(Value::as_array).into_iter().flatten() {
            out.extend(sites(alt));
        }
    }
    for (name, p) in s.get("properties").map(object).into_iter().flatten() {
        for (at, node) in sites(p) {
            let mut instance = minimal(schema);
            instance[name] = at;
            out.push((instance, node));
        }
    }
    if let Some(items) = s.get("items") {
        for (at, node) in sites(items) {
            out.push((Value::Array(vec![at]), node));
        }
    }
    if let Some(values @ Value::Object(_)) = s.get("additionalProperties") {
        for (at, node) in sites(values) {
            let mut instance = minimal(schema);
            instance["k"] = at;
            out.push((instance, node));
        }
    }
    out
}

/// For a node's bounds: (what, the value's JSON text, whether it is valid). An integer's
/// text is exact however large (2^64, -2^63 - 1).
fn values(node: &Map<String, Value>) -> Vec<(String, String, bool)> {
    let items = |n: i128| {
        let item = minimal(node.get("items").unwrap_or(&Value::Null));
        Value::Array(vec![item; usize::try_from(n).expect("a count")])
    };
    let mut out = Vec::new();
    for (k, bound) in BOUNDS.iter().filter_map(|k| Some((*k, node.get(*k)?))) {
        let b = int(Some(bound)).unwrap_or_else(|| panic!("{k}: {bound} is not an integer"));
        // (at the bound, one past it)
        let (at, past) = match k {
            "minimum" | "minLength" | "minItems" => (b, b - 1),
            "maximum" | "maxLength" | "maxItems" => (b, b + 1),
            "exclusiveMinimum" => (b + 1, b),
            _ => (b - 1, b),
        };
        for (n, valid) in [(at, true), (past, false)] {
            let text = match k {
                "minLength" | "maxLength" if n >= 0 => string_of(n).to_string(),
                "minItems" | "maxItems" if n >= 0 => items(n).to_string(),
                "minLength" | "maxLength" | "minItems" | "maxItems" => continue,
                _ => n.to_string(),
            };
            out.push((format!("{k} {b}: {n}"), text, valid));
        }
    }
    out
}

/// The instance's JSON text with `value` at [`MARK`].
fn text(instance: &Value, value: &str) -> String {
    instance.to_string().replace(&format!("\"{MARK}\""), value)
}

/// Integers without both bounds: what a validator would take that serde refuses.
fn unbounded_integers(schema: &Value, at: &str, out: &mut Vec<String>) {
    let s = object(schema);
    if types(s).contains(&"integer") && !(s.contains_key("minimum") && s.contains_key("maximum")) {
        out.push(format!("{at}: {schema}"));
    }
    for key in ["oneOf", "anyOf"] {
        for (i, alt) in s
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            unbounded_integers(alt, &format!("{at}/{key}/{i}"), out);
        }
    }
    for (name, p) in s.get("properties").map(object).into_iter().flatten() {
        unbounded_integers(p, &format!("{at}/properties/{name}"), out);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = s.get(key) {
            unbounded_integers(sub, &format!("{at}/{key}"), out);
        }
    }
}

struct Case {
    schema: PathBuf,
    what: String,
    instance: String,
    valid: bool,
    serde: Result<(), String>,
}

fn python_verdicts(cases: &[Case]) -> Vec<bool> {
    let python = root().join("build/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: `tools/localstack/localstack.sh install` makes it (make lint and make \
         contracts-check run it first)",
        python.display()
    );
    let mut child = Command::new(python)
        .arg(root().join("contracts/tests/jsonschema_verdicts.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    let mut stdin = child.stdin.take().expect("stdin");
    for c in cases {
        let line = serde_json::json!({"schema": c.schema, "instance": c.instance});
        writeln!(stdin, "{line}").expect("python reads");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("python ends");
    assert!(
        out.status.success(),
        "jsonschema_verdicts.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON list of booleans")
}

#[test]
fn every_published_bound_is_drawn_alike_by_python_jsonschema_and_serde() {
    let dir = root().join("events/schemas");
    type Reader = Box<dyn Fn(&str) -> Result<(), String>>;
    let mut readers: Vec<(PathBuf, Reader)> = vec![(
        dir.join(ENVELOPE_FILE),
        Box::new(|json: &str| {
            serde_json::from_str::<eventkit::Envelope>(json)
                .map(drop)
                .map_err(|e| e.to_string())
        }),
    )];
    for c in catalogue() {
        readers.push((
            dir.join(c.schema_file()),
            Box::new(move |json: &str| c.read(json).map_err(|e| e.to_string())),
        ));
    }
    let mut cases = Vec::new();
    let mut unbounded = Vec::new();
    for (file, read) in &readers {
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let name = file
            .strip_prefix(&dir)
            .unwrap_or(file)
            .display()
            .to_string();
        unbounded_integers(&schema, &name, &mut unbounded);
        for (instance, node) in sites(&schema) {
            for (what, value, valid) in values(&node) {
                let instance = text(&instance, &value);
                cases.push(Case {
                    schema: file.clone(),
                    what,
                    serde: read(&instance),
                    instance,
                    valid,
                });
            }
        }
    }
    assert!(
        unbounded.is_empty(),
        "integers without both minimum and maximum (validators take what serde refuses):\n{}",
        unbounded.join("\n")
    );
    // Every integer of every payload has two bounds, each with two values.
    assert!(cases.len() > 200, "only {} cases", cases.len());
    let python = python_verdicts(&cases);
    assert_eq!(python.len(), cases.len());
    let wrong: Vec<String> = cases
        .iter()
        .zip(python)
        .filter(|(c, python)| *python != c.valid || c.serde.is_ok() != c.valid)
        .map(|(c, python)| {
            format!(
                "{} ({}): {}\n  expected {}, Python jsonschema {}, serde {}",
                c.schema.strip_prefix(&dir).unwrap_or(&c.schema).display(),
                c.what,
                c.instance,
                if c.valid { "valid" } else { "invalid" },
                if python { "takes it" } else { "refuses it" },
                match &c.serde {
                    Ok(()) => "takes it".to_owned(),
                    Err(e) => format!("refuses it ({e})"),
                }
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} cases:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}
