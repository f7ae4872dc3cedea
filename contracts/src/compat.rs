//! Schema compatibility: what changed between two versions of one payload schema, and
//! which rule each change breaks.
//!
//! Reads the self-contained schemas [`crate::registry::schema_of`] generates (objects,
//! arrays, maps, nullable values, string enums and tagged unions, `type` plus `format`).
//! Under the usual registry meanings: BACKWARD (new readers, old data) is broken by a new
//! required field, a field made required, an enum value removed, a null no longer
//! allowed; FORWARD (old readers, new data) by a required field removed or made optional,
//! an enum value added, a null newly allowed; both by a field retyped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use crate::registry::Rule;

/// One difference between an old and a new schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A field not in the old schema is required by the new one.
    RequiredFieldAdded,
    /// A required field is gone.
    RequiredFieldRemoved,
    /// An optional field became required.
    BecameRequired,
    /// A required field became optional.
    BecameOptional,
    /// The field's type (or format) changed.
    Retyped {
        /// Old type.
        from: String,
        /// New type.
        to: String,
    },
    /// An enum value (or union variant) is gone.
    EnumValueRemoved(String),
    /// A new enum value (or union variant).
    EnumValueAdded(String),
    /// `null` is allowed where it was not.
    NullAllowed,
    /// `null` is no longer allowed.
    NullRefused,
    /// An optional field was added, or removed: every rule allows it.
    OptionalField {
        /// Added (true) or removed.
        added: bool,
    },
}

impl Change {
    /// Whether new readers still read old data after this change.
    pub fn backward_compatible(&self) -> bool {
        !matches!(
            self,
            Change::RequiredFieldAdded
                | Change::BecameRequired
                | Change::Retyped { .. }
                | Change::EnumValueRemoved(_)
                | Change::NullRefused
        )
    }

    /// Whether old readers still read new data after this change.
    pub fn forward_compatible(&self) -> bool {
        !matches!(
            self,
            Change::RequiredFieldRemoved
                | Change::BecameOptional
                | Change::Retyped { .. }
                | Change::EnumValueAdded(_)
                | Change::NullAllowed
        )
    }

    /// Whether `rule` allows this change.
    pub fn allowed_by(&self, rule: Rule) -> bool {
        (!rule.backward() || self.backward_compatible())
            && (!rule.forward() || self.forward_compatible())
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::RequiredFieldAdded => f.write_str("new required field without a default"),
            Change::RequiredFieldRemoved => f.write_str("required field removed"),
            Change::BecameRequired => f.write_str("optional field made required"),
            Change::BecameOptional => f.write_str("required field made optional"),
            Change::Retyped { from, to } => write!(f, "retyped from {from} to {to}"),
            Change::EnumValueRemoved(v) => write!(f, "enum value `{v}` removed"),
            Change::EnumValueAdded(v) => write!(f, "enum value `{v}` added"),
            Change::NullAllowed => f.write_str("null newly allowed"),
            Change::NullRefused => f.write_str("null no longer allowed"),
            Change::OptionalField { added: true } => f.write_str("optional field added"),
            Change::OptionalField { added: false } => f.write_str("optional field removed"),
        }
    }
}

/// A change at a place in the payload (`lines[].quantity`, `completion{kind=first}.n`;
/// empty for the payload itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Where.
    pub path: String,
    /// What.
    pub change: Change,
}

impl Difference {
    /// Which of BACKWARD and FORWARD this difference breaks, for messages.
    pub fn breaks(&self) -> &'static str {
        match (
            self.change.backward_compatible(),
            self.change.forward_compatible(),
        ) {
            (false, false) => "BACKWARD and FORWARD",
            (false, true) => "BACKWARD",
            (true, false) => "FORWARD",
            (true, true) => "nothing",
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.path.is_empty() {
            "the payload"
        } else {
            &self.path
        };
        write!(f, "field `{at}`: {}", self.change)
    }
}

/// Every difference between `old` and `new`, allowed or not.
pub fn differences(old: &Value, new: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    compare("", old, new, &mut out);
    out
}

/// The differences `rule` refuses.
pub fn breaking(old: &Value, new: &Value, rule: Rule) -> Vec<Difference> {
    differences(old, new)
        .into_iter()
        .filter(|d| !d.change.allowed_by(rule))
        .collect()
}

/// A schema node taken apart: nullability, union variants, and the rest.
struct Node<'a> {
    nullable: bool,
    schema: &'a Map<String, Value>,
    /// Only when the node is an enum or a union: variant name -> its schema (if any).
    variants: Option<BTreeMap<String, Option<&'a Map<String, Value>>>>,
}

fn empty() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

fn node(v: &Value) -> Node<'_> {
    let schema = v.as_object().unwrap_or(empty());
    let mut nullable = types(schema).contains("null");
    let mut schema = schema;
    // `Option<T>` of a complex T: anyOf [T, {type: null}].
    if let Some(Value::Array(any)) = schema.get("anyOf") {
        let (nulls, rest): (Vec<_>, Vec<_>) = any
            .iter()
            .partition(|s| s.get("type") == Some(&Value::from("null")));
        if !nulls.is_empty() && rest.len() == 1 {
            nullable = true;
            schema = rest[0].as_object().unwrap_or(empty());
        }
    }
    let mut variants = None;
    if let Some(Value::Array(values)) = schema.get("enum") {
        variants = Some(
            values
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| (literal(v), None))
                .collect(),
        );
        nullable |= values.iter().any(Value::is_null);
    } else if let Some(Value::Array(alts)) = schema.get("oneOf").or(schema.get("anyOf")) {
        let mut named = BTreeMap::new();
        for alt in alts.iter().filter_map(Value::as_object) {
            if alt.get("type") == Some(&Value::from("null")) {
                nullable = true;
            } else if let Some(name) = variant_name(alt) {
                named.insert(name, Some(alt));
            } else {
                named.insert(format!("#{}", named.len()), Some(alt));
            }
        }
        variants = Some(named);
    } else if let Some(c) = schema.get("const") {
        variants = Some(BTreeMap::from([(literal(c), None)]));
    }
    Node {
        nullable,
        schema,
        variants,
    }
}

/// A union variant's name: its `const`, or the `const` of its tag property.
fn variant_name(alt: &Map<String, Value>) -> Option<String> {
    if let Some(c) = alt.get("const") {
        return Some(literal(c));
    }
    if let Some(Value::Array(e)) = alt.get("enum") {
        if e.len() == 1 {
            return Some(literal(&e[0]));
        }
    }
    let props = alt.get("properties")?.as_object()?;
    let required = required(alt);
    props.iter().find_map(|(k, p)| {
        let c = p.get("const")?;
        required
            .contains(k.as_str())
            .then(|| format!("{k}={}", literal(c)))
    })
}

fn literal(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

fn types(s: &Map<String, Value>) -> BTreeSet<&str> {
    match s.get("type") {
        Some(Value::String(t)) => BTreeSet::from([t.as_str()]),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => BTreeSet::new(),
    }
}

fn required(s: &Map<String, Value>) -> BTreeSet<&str> {
    s.get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `integer (int64)`, `string`, `array`, ...: what a reader parses.
fn shape(s: &Map<String, Value>) -> String {
    let t: Vec<&str> = types(s).into_iter().filter(|t| *t != "null").collect();
    let t = if t.is_empty() {
        "any".to_owned()
    } else {
        t.join("|")
    };
    match s.get("format").and_then(Value::as_str) {
        Some(f) => format!("{t} ({f})"),
        None => t,
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn compare(path: &str, old: &Value, new: &Value, out: &mut Vec<Difference>) {
    let (o, n) = (node(old), node(new));
    let mut push = |change| {
        out.push(Difference {
            path: path.to_owned(),
            change,
        })
    };
    match (o.nullable, n.nullable) {
        (true, false) => push(Change::NullRefused),
        (false, true) => push(Change::NullAllowed),
        _ => {}
    }
    match (&o.variants, &n.variants) {
        (Some(ov), Some(nv)) => {
            for name in ov.keys().filter(|k| !nv.contains_key(*k)) {
                push(Change::EnumValueRemoved(name.clone()));
            }
            for name in nv.keys().filter(|k| !ov.contains_key(*k)) {
                push(Change::EnumValueAdded(name.clone()));
            }
            for (name, os) in ov {
                if let (Some(os), Some(Some(ns))) = (os, nv.get(name)) {
                    let at = format!("{path}{{{name}}}");
                    compare(
                        &at,
                        &Value::Object((*os).clone()),
                        &Value::Object((*ns).clone()),
                        out,
                    );
                }
            }
            return;
        }
        (None, None) => {}
        _ => {
            let describe = |n: &Node| match &n.variants {
                Some(v) => format!("one of {:?}", v.keys().collect::<Vec<_>>()),
                None => shape(n.schema),
            };
            push(Change::Retyped {
                from: describe(&o),
                to: describe(&n),
            });
            return;
        }
    }
    let (os, ns) = (shape(o.schema), shape(n.schema));
    if os != ns {
        push(Change::Retyped { from: os, to: ns });
        return;
    }
    let ot = types(o.schema);
    if ot.contains("object") {
        compare_object(path, o.schema, n.schema, out);
    }
    if ot.contains("array") {
        if let (Some(oi), Some(ni)) = (o.schema.get("items"), n.schema.get("items")) {
            compare(&format!("{path}[]"), oi, ni, out);
        }
    }
}

fn compare_object(
    path: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    out: &mut Vec<Difference>,
) {
    let props = |s: &Map<String, Value>| s.get("properties").and_then(Value::as_object).cloned();
    let (op, np) = (
        props(old).unwrap_or_default(),
        props(new).unwrap_or_default(),
    );
    let (or, nr) = (required(old), required(new));
    for (field, os) in &op {
        let at = join(path, field);
        let was_required = or.contains(field.as_str());
        let Some(ns) = np.get(field) else {
            out.push(Difference {
                path: at,
                change: if was_required {
                    Change::RequiredFieldRemoved
                } else {
                    Change::OptionalField { added: false }
                },
            });
            continue;
        };
        match (was_required, nr.contains(field.as_str())) {
            (false, true) => out.push(Difference {
                path: at.clone(),
                change: Change::BecameRequired,
            }),
            (true, false) => out.push(Difference {
                path: at.clone(),
                change: Change::BecameOptional,
            }),
            _ => {}
        }
        compare(&at, os, ns, out);
    }
    for field in np.keys().filter(|f| !op.contains_key(*f)) {
        out.push(Difference {
            path: join(path, field),
            change: if nr.contains(field.as_str()) {
                Change::RequiredFieldAdded
            } else {
                Change::OptionalField { added: true }
            },
        });
    }
    // Maps: `additionalProperties` is the value schema.
    if let (Some(oa @ Value::Object(_)), Some(na @ Value::Object(_))) = (
        old.get("additionalProperties"),
        new.get("additionalProperties"),
    ) {
        compare(&format!("{path}{{*}}"), oa, na, out);
    }
}

#[cfg(test)]
mod tests;
