//! Schema compatibility: what changed between two versions of one payload schema, and
//! which rule each change breaks.
//!
//! Reads the self-contained schemas [`crate::registry::schema_of`] generates: objects
//! (open, or closed by `additionalProperties: false` from `deny_unknown_fields`), arrays,
//! maps, nullable values, string enums and tagged unions, `type` and `format`, the integer
//! ranges (`minimum`/`maximum`, a Rust width's bounds where only its `format` names it),
//! string and array lengths, `pattern` and `uniqueItems`. A keyword it does not read that
//! differs between the two is a change both ways, so nothing it cannot judge goes through.
//!
//! Under the usual registry meanings, BACKWARD is new readers reading old data, FORWARD old
//! readers reading new data. Data of a version is any JSON its schema validates and its
//! type reads: where an object is open it may carry fields the schema does not name (never
//! under a name some version gives a field of its own). So, as serde reads:
//!
//! - BACKWARD breaks when a field is added as required, made required or narrowed (fewer
//!   enum values, no null, a smaller range, a pattern), and when a closed type meets a
//!   field it does not know: the type is closed, or a field is removed from a closed type;
//! - FORWARD breaks when a required field is removed or made optional, a field is widened
//!   (more enum values, null, a larger range), and when old readers of a closed type meet
//!   a field they do not know: a field is added to a closed type, or the type is opened;
//! - both when a field is retyped, or a range moves so that neither holds the other.
//!
//! `tests/gate_truth.rs` holds every verdict to what serde does on generated data.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use crate::registry::Rule;

/// One difference between an old and a new schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A field not in the old schema is required by the new one.
    RequiredFieldAdded {
        /// Old readers refuse fields they do not know (`additionalProperties: false`), so
        /// they refuse the new field too.
        closed: bool,
    },
    /// A required field is gone.
    RequiredFieldRemoved {
        /// New readers refuse fields they do not know, so they refuse it in old data.
        closed: bool,
    },
    /// An optional field became required.
    BecameRequired,
    /// A required field became optional.
    BecameOptional,
    /// An optional field was added, or removed: every rule allows it where the reader that
    /// does not know the field ignores it.
    OptionalField {
        /// Added (true) or removed.
        added: bool,
        /// The reader that does not know the field refuses it: old readers of an added one,
        /// new readers of a removed one (that old data may still carry).
        closed: bool,
    },
    /// The object now refuses fields it does not name (`deny_unknown_fields`).
    Closed,
    /// The object now takes fields it does not name.
    Opened,
    /// The field's type (or a non-integer `format`) changed.
    Retyped {
        /// Old type.
        from: String,
        /// New type.
        to: String,
    },
    /// The values allowed moved: an integer's range (its `minimum`/`maximum`, or its
    /// width), a string's length, an array's number of items.
    Bounds {
        /// Of what.
        of: Bounded,
        /// Old bounds.
        from: Interval,
        /// New bounds.
        to: Interval,
    },
    /// A string's `pattern` was added, removed or changed.
    Pattern {
        /// Old pattern, if any.
        from: Option<String>,
        /// New pattern, if any.
        to: Option<String>,
    },
    /// An array's items must now be unique (true), or no longer (false).
    UniqueItems(bool),
    /// An enum value (or union variant) is gone.
    EnumValueRemoved(String),
    /// A new enum value (or union variant).
    EnumValueAdded(String),
    /// `null` is allowed where it was not.
    NullAllowed,
    /// `null` is no longer allowed.
    NullRefused,
    /// A keyword the gate does not read changed: taken as breaking both ways.
    Keyword {
        /// The keyword.
        name: String,
        /// Its old value (JSON), if any.
        from: Option<String>,
        /// Its new value, if any.
        to: Option<String>,
    },
}

/// What [`Change::Bounds`] bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounded {
    /// An integer's value.
    Range,
    /// A string's length.
    Length,
    /// An array's number of items.
    Items,
}

/// Inclusive bounds; `None` is unbounded on that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// The least value allowed.
    pub min: Option<i128>,
    /// The greatest.
    pub max: Option<i128>,
}

impl Interval {
    /// Whether every value of `other` is in `self`.
    pub fn contains(&self, other: &Interval) -> bool {
        let min_ok = match (self.min, other.min) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => a <= b,
        };
        let max_ok = match (self.max, other.max) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => a >= b,
        };
        min_ok && max_ok
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(min) = self.min {
            write!(f, "{min}")?;
        }
        match self.max {
            Some(max) => write!(f, "..={max}"),
            None => f.write_str(".."),
        }
    }
}

/// The values of the integer width a `format` names, as `schemars` names Rust's integer
/// types. `uint`/`int` (`usize`/`isize`) are 64 bits, as on every target the kit deploys
/// to; 128-bit widths have no bound a JSON Schema number carries exactly (`None`).
pub fn integer_width(format: &str) -> Option<Interval> {
    let (min, max) = match format {
        "uint8" => (0, i128::from(u8::MAX)),
        "uint16" => (0, i128::from(u16::MAX)),
        "uint32" => (0, i128::from(u32::MAX)),
        "uint64" | "uint" => (0, i128::from(u64::MAX)),
        "int8" => (i128::from(i8::MIN), i128::from(i8::MAX)),
        "int16" => (i128::from(i16::MIN), i128::from(i16::MAX)),
        "int32" => (i128::from(i32::MIN), i128::from(i32::MAX)),
        "int64" | "int" => (i128::from(i64::MIN), i128::from(i64::MAX)),
        _ => return None,
    };
    Some(Interval {
        min: Some(min),
        max: Some(max),
    })
}

impl Change {
    /// Whether new readers still read old data after this change.
    pub fn backward_compatible(&self) -> bool {
        match self {
            Change::RequiredFieldAdded { .. }
            | Change::BecameRequired
            | Change::Closed
            | Change::Retyped { .. }
            | Change::EnumValueRemoved(_)
            | Change::NullRefused
            | Change::Keyword { .. } => false,
            Change::RequiredFieldRemoved { closed } => !closed,
            Change::OptionalField { added, closed } => *added || !closed,
            Change::Bounds { from, to, .. } => to.contains(from),
            Change::Pattern { to, .. } => to.is_none(),
            Change::UniqueItems(unique) => !unique,
            Change::BecameOptional
            | Change::Opened
            | Change::EnumValueAdded(_)
            | Change::NullAllowed => true,
        }
    }

    /// Whether old readers still read new data after this change.
    pub fn forward_compatible(&self) -> bool {
        match self {
            Change::RequiredFieldRemoved { .. }
            | Change::BecameOptional
            | Change::Opened
            | Change::Retyped { .. }
            | Change::EnumValueAdded(_)
            | Change::NullAllowed
            | Change::Keyword { .. } => false,
            Change::RequiredFieldAdded { closed } => !closed,
            Change::OptionalField { added, closed } => !*added || !closed,
            Change::Bounds { from, to, .. } => from.contains(to),
            Change::Pattern { from, .. } => from.is_none(),
            Change::UniqueItems(unique) => *unique,
            Change::BecameRequired
            | Change::Closed
            | Change::EnumValueRemoved(_)
            | Change::NullRefused => true,
        }
    }

    /// Whether `rule` allows this change.
    pub fn allowed_by(&self, rule: Rule) -> bool {
        (!rule.backward() || self.backward_compatible())
            && (!rule.forward() || self.forward_compatible())
    }
}

const CLOSED_OLD: &str = "to a type closed to unknown fields: old readers refuse it";
const CLOSED_NEW: &str = "from a type closed to unknown fields: new readers refuse it in old data";

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::RequiredFieldAdded { closed: false } => {
                f.write_str("new required field without a default")
            }
            Change::RequiredFieldAdded { closed: true } => {
                write!(
                    f,
                    "new required field without a default, added {CLOSED_OLD}"
                )
            }
            Change::RequiredFieldRemoved { closed: false } => f.write_str("required field removed"),
            Change::RequiredFieldRemoved { closed: true } => {
                write!(f, "required field removed {CLOSED_NEW}")
            }
            Change::BecameRequired => f.write_str("optional field made required"),
            Change::BecameOptional => f.write_str("required field made optional"),
            Change::OptionalField {
                added: true,
                closed: false,
            } => f.write_str("optional field added"),
            Change::OptionalField {
                added: true,
                closed: true,
            } => write!(f, "optional field added {CLOSED_OLD}"),
            Change::OptionalField {
                added: false,
                closed: false,
            } => f.write_str("optional field removed"),
            Change::OptionalField {
                added: false,
                closed: true,
            } => write!(f, "optional field removed {CLOSED_NEW}"),
            Change::Closed => f.write_str(
                "closed to unknown fields (`deny_unknown_fields`): new readers refuse old data \
                 that carries any",
            ),
            Change::Opened => f.write_str(
                "opened to unknown fields: old readers (`deny_unknown_fields`) refuse new data \
                 that carries any",
            ),
            Change::Retyped { from, to } => write!(f, "retyped from {from} to {to}"),
            Change::Bounds { of, from, to } => {
                let of = match of {
                    Bounded::Range => "range",
                    Bounded::Length => "length",
                    Bounded::Items => "number of items",
                };
                let how = match (to.contains(from), from.contains(to)) {
                    (true, _) => "widened",
                    (false, true) => "narrowed",
                    (false, false) => "moved",
                };
                write!(f, "{of} {how} from {from} to {to}")
            }
            Change::Pattern {
                from: None,
                to: Some(p),
            } => write!(f, "pattern `{p}` added"),
            Change::Pattern {
                from: Some(p),
                to: None,
            } => write!(f, "pattern `{p}` removed"),
            Change::Pattern { from, to } => write!(
                f,
                "pattern changed from `{}` to `{}`",
                from.as_deref().unwrap_or_default(),
                to.as_deref().unwrap_or_default()
            ),
            Change::UniqueItems(true) => f.write_str("items made unique"),
            Change::UniqueItems(false) => f.write_str("items no longer unique"),
            Change::EnumValueRemoved(v) => write!(f, "enum value `{v}` removed"),
            Change::EnumValueAdded(v) => write!(f, "enum value `{v}` added"),
            Change::NullAllowed => f.write_str("null newly allowed"),
            Change::NullRefused => f.write_str("null no longer allowed"),
            Change::Keyword { name, from, to } => write!(
                f,
                "`{name}` changed from {} to {} (a keyword the gate does not read: taken as \
                 breaking)",
                from.as_deref().unwrap_or("absent"),
                to.as_deref().unwrap_or("absent")
            ),
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

/// Keywords that say nothing about which values are valid.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "contentEncoding",
    "contentMediaType",
];

/// Keywords the comparison reads wherever they are.
const READ: &[&str] = &["type", "format", "oneOf", "anyOf", "enum", "const"];

/// Keywords it reads on a node of a type.
fn read_for(t: &str) -> &'static [&'static str] {
    match t {
        "integer" => &["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"],
        "string" => &["minLength", "maxLength", "pattern"],
        "array" => &["items", "minItems", "maxItems", "uniqueItems"],
        "object" => &[
            "properties",
            "required",
            "additionalProperties",
            "unevaluatedProperties",
        ],
        _ => &[],
    }
}

/// A schema node taken apart: nullability, union variants, and the rest.
struct Node<'a> {
    nullable: bool,
    /// The node as written (an `Option<T>` of a complex `T` wraps it in `anyOf`).
    outer: &'a Map<String, Value>,
    schema: &'a Map<String, Value>,
    /// Only when the node is an enum or a union: variant name -> its schema (if any).
    variants: Option<BTreeMap<String, Option<&'a Map<String, Value>>>>,
}

fn empty() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

fn node(v: &Value) -> Node<'_> {
    let outer = v.as_object().unwrap_or(empty());
    let mut nullable = types(outer).contains("null");
    let mut schema = outer;
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
        outer,
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

/// `integer (int64)`, `string`, `array`, ...: what a reader parses, for messages.
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

/// The shape as compared: an integer's `format` only names its range, compared as such.
fn kind(s: &Map<String, Value>) -> String {
    let t = types(s);
    if t.contains("integer")
        && s.get("format")
            .and_then(Value::as_str)
            .is_some_and(|f| integer_width(f).is_some())
    {
        t.into_iter()
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join("|")
    } else {
        shape(s)
    }
}

/// An integer node's range: its width, narrowed by `minimum`/`maximum` and their exclusive
/// forms (a fractional bound rounded inwards, as only integers are valid).
fn int_range(s: &Map<String, Value>) -> Interval {
    let width = s
        .get("format")
        .and_then(Value::as_str)
        .and_then(integer_width);
    let mut r = width.unwrap_or(Interval {
        min: None,
        max: None,
    });
    let bound = |k: &str, round: fn(f64) -> f64| -> Option<i128> {
        let v = s.get(k)?;
        v.as_i64()
            .map(i128::from)
            .or_else(|| v.as_u64().map(i128::from))
            .or_else(|| v.as_f64().map(|f| round(f) as i128))
    };
    let tighten_min = |r: &mut Interval, m: Option<i128>| {
        if let Some(m) = m {
            r.min = Some(r.min.map_or(m, |x| x.max(m)));
        }
    };
    let tighten_max = |r: &mut Interval, m: Option<i128>| {
        if let Some(m) = m {
            r.max = Some(r.max.map_or(m, |x| x.min(m)));
        }
    };
    tighten_min(&mut r, bound("minimum", f64::ceil));
    tighten_max(&mut r, bound("maximum", f64::floor));
    tighten_min(&mut r, bound("exclusiveMinimum", f64::floor).map(|m| m + 1));
    tighten_max(&mut r, bound("exclusiveMaximum", f64::ceil).map(|m| m - 1));
    r
}

/// A length's bounds (`minLength`/`maxLength`, `minItems`/`maxItems`).
fn count_range(s: &Map<String, Value>, min: &str, max: &str) -> Interval {
    let get = |k: &str| s.get(k).and_then(Value::as_u64).map(i128::from);
    Interval {
        min: Some(get(min).unwrap_or(0)),
        max: get(max),
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
            other_keywords(path, &o, &n, out);
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
    if kind(o.schema) != kind(n.schema) {
        push(Change::Retyped {
            from: shape(o.schema),
            to: shape(n.schema),
        });
        return;
    }
    let ot = types(o.schema);
    let bounds = |out: &mut Vec<Difference>, of, from: Interval, to: Interval| {
        if from != to {
            out.push(Difference {
                path: path.to_owned(),
                change: Change::Bounds { of, from, to },
            });
        }
    };
    if ot.contains("integer") {
        bounds(
            out,
            Bounded::Range,
            int_range(o.schema),
            int_range(n.schema),
        );
    }
    if ot.contains("string") {
        let length = |s| count_range(s, "minLength", "maxLength");
        bounds(out, Bounded::Length, length(o.schema), length(n.schema));
        let pattern = |s: &Map<String, Value>| {
            s.get("pattern")
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
        };
        let (from, to) = (pattern(o.schema), pattern(n.schema));
        if from != to {
            out.push(Difference {
                path: path.to_owned(),
                change: Change::Pattern { from, to },
            });
        }
    }
    if ot.contains("array") {
        let items = |s| count_range(s, "minItems", "maxItems");
        bounds(out, Bounded::Items, items(o.schema), items(n.schema));
        let unique = |s: &Map<String, Value>| s.get("uniqueItems") == Some(&Value::Bool(true));
        if unique(o.schema) != unique(n.schema) {
            out.push(Difference {
                path: path.to_owned(),
                change: Change::UniqueItems(unique(n.schema)),
            });
        }
        if let (Some(oi), Some(ni)) = (o.schema.get("items"), n.schema.get("items")) {
            compare(&format!("{path}[]"), oi, ni, out);
        }
    }
    if ot.contains("object") {
        compare_object(path, o.schema, n.schema, out);
    }
    other_keywords(path, &o, &n, out);
}

/// Any keyword neither an annotation nor read above, on either side, that differs: a
/// change the comparison cannot judge, so it breaks both ways.
fn other_keywords(path: &str, o: &Node, n: &Node, out: &mut Vec<Difference>) {
    let mut read: BTreeSet<&str> = READ.iter().chain(ANNOTATIONS).copied().collect();
    for t in types(o.schema).into_iter().chain(types(n.schema)) {
        read.extend(read_for(t));
    }
    let pairs = [(o.outer, n.outer), (o.schema, n.schema)];
    let mut seen = BTreeSet::new();
    for (os, ns) in pairs {
        for k in os.keys().chain(ns.keys()) {
            if read.contains(k.as_str()) || seen.contains(k) {
                continue;
            }
            let (from, to) = (os.get(k), ns.get(k));
            if from != to {
                seen.insert(k.clone());
                out.push(Difference {
                    path: path.to_owned(),
                    change: Change::Keyword {
                        name: k.clone(),
                        from: from.map(Value::to_string),
                        to: to.map(Value::to_string),
                    },
                });
            }
        }
    }
}

/// What an object does with a field it does not name.
enum Unknown<'a> {
    /// Ignores it (serde's default).
    Ignored,
    /// Refuses it (`additionalProperties: false`).
    Refused,
    /// Reads it with a schema (a map's values).
    Read(&'a Value),
}

fn unknown(s: &Map<String, Value>) -> Unknown<'_> {
    let keyword = s
        .get("additionalProperties")
        .or_else(|| s.get("unevaluatedProperties"));
    match keyword {
        Some(Value::Bool(false)) => Unknown::Refused,
        Some(v @ Value::Object(_)) => Unknown::Read(v),
        _ => Unknown::Ignored,
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
    let (ou, nu) = (unknown(old), unknown(new));
    let push =
        |out: &mut Vec<Difference>, path: String, change| out.push(Difference { path, change });
    for (field, os) in &op {
        let at = join(path, field);
        let was_required = or.contains(field.as_str());
        let Some(ns) = np.get(field) else {
            // Old data may carry it: new readers take it as a field they do not know.
            let closed = matches!(nu, Unknown::Refused);
            push(
                out,
                at.clone(),
                if was_required {
                    Change::RequiredFieldRemoved { closed }
                } else {
                    Change::OptionalField {
                        added: false,
                        closed,
                    }
                },
            );
            if let Unknown::Read(values) = nu {
                compare(&at, os, values, out);
            }
            continue;
        };
        match (was_required, nr.contains(field.as_str())) {
            (false, true) => push(out, at.clone(), Change::BecameRequired),
            (true, false) => push(out, at.clone(), Change::BecameOptional),
            _ => {}
        }
        compare(&at, os, ns, out);
    }
    for (field, ns) in np.iter().filter(|(f, _)| !op.contains_key(*f)) {
        // New data may carry it: old readers take it as a field they do not know.
        let at = join(path, field);
        let closed = matches!(ou, Unknown::Refused);
        push(
            out,
            at.clone(),
            if nr.contains(field.as_str()) {
                Change::RequiredFieldAdded { closed }
            } else {
                Change::OptionalField {
                    added: true,
                    closed,
                }
            },
        );
        if let Unknown::Read(values) = ou {
            compare(&at, values, ns, out);
        }
    }
    match (ou, nu) {
        (Unknown::Ignored, Unknown::Refused) => push(out, path.to_owned(), Change::Closed),
        (Unknown::Refused, Unknown::Ignored) => push(out, path.to_owned(), Change::Opened),
        // Maps: `additionalProperties` is the value schema.
        (Unknown::Read(oa), Unknown::Read(na)) => compare(&format!("{path}{{*}}"), oa, na, out),
        (Unknown::Ignored, Unknown::Ignored) | (Unknown::Refused, Unknown::Refused) => {}
        // An object that became a map, or a map that became an object.
        (o, n) => {
            let describe = |u: &Unknown| match u {
                Unknown::Ignored => "object".to_owned(),
                Unknown::Refused => "closed object".to_owned(),
                Unknown::Read(v) => format!(
                    "map of {}",
                    v.as_object().map(shape).unwrap_or_else(|| "any".into())
                ),
            };
            push(
                out,
                path.to_owned(),
                Change::Retyped {
                    from: describe(&o),
                    to: describe(&n),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests;
