//! Ground truth for the compatibility gate: what serde does.
//!
//! A family of concrete types, each one edit (or a few) of one base type: fields added,
//! removed, retyped, made optional or required; enum values and union variants added,
//! removed, retyped; objects opened or closed (`deny_unknown_fields`); integer widths
//! narrowed, widened or shifted. Any two members are an old and a new version of one
//! contract. For each pair the gate reads the schemas `schemars` generates, and serde reads
//! JSON values generated from those schemas (data a producer of that version may send: valid
//! under its schema and read by its type):
//!
//! - BACKWARD (new readers, old data) is broken when the new type refuses a value of the
//!   old version;
//! - FORWARD (old readers, new data) when the old type refuses a value of the new version.
//!
//! The gate must say so exactly: never "compatible" when serde refuses (it would let the
//! change through), and never "broken" when no value breaks (it would refuse a safe change).
//! `the_gate_says_what_serde_does_for_every_pair` checks both on every pair with a fixed
//! seed; `a_change_the_gate_allows_breaks_no_reader` is the first half as a proptest over
//! random pairs and values (a failure shrinks to a small value);
//! `each_schema_draws_the_line_where_serde_does` checks that each schema takes what its
//! type takes, on the same values and on integers just past each bound.
//!
//! Data may carry fields its schema does not name where the object is open (`zz`, a name no
//! member uses): a reader that ignores unknown fields meets them; one that refuses them
//! does not. A field some later version gives a meaning is assumed never to have been sent
//! as an unknown one.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use eventkit_contracts::compat::differences;
use eventkit_contracts::registry::schema_of;
use proptest::prelude::*;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

/// One version of the contract: its schema and its two readers.
struct Member {
    name: &'static str,
    schema: Value,
    /// serde: `Err` is the message of the refusal.
    read: fn(&Value) -> Result<(), String>,
    /// The schema, compiled.
    validator: jsonschema::Validator,
}

impl Member {
    fn new<T: JsonSchema + for<'de> Deserialize<'de>>(name: &'static str) -> Self {
        let schema = schema_of::<T>().to_value();
        let validator =
            jsonschema::draft202012::new(&schema).expect("schemars makes valid schemas");
        Member {
            name,
            schema,
            read: |v| {
                serde_json::from_value::<T>(v.clone())
                    .map(drop)
                    .map_err(|e| e.to_string())
            },
            validator,
        }
    }

    /// Data of this version: its schema validates it and its type reads it.
    fn owns(&self, v: &Value) -> bool {
        self.validator.is_valid(v) && (self.read)(v).is_ok()
    }
}

// ---- the family ------------------------------------------------------------------------

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Kind {
    A,
    B,
}
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum KindFewer {
    A,
}
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum KindMore {
    A,
    B,
    C,
}

/// Internally tagged unions (`t`): a unit variant and a struct variant.
macro_rules! shapes {
    ($($name:ident $([$($attr:meta),*])? { $($variant:tt)* })*) => {$(
        #[derive(Deserialize, JsonSchema)]
        #[serde(tag = "t", rename_all = "snake_case" $($(, $attr)*)?)]
        #[allow(dead_code)]
        enum $name { $($variant)* }
    )*};
}
shapes! {
    Shape { P, Q { x: u32 } }
    ShapeMore { P, Q { x: u32 }, R }
    ShapeFewer { Q { x: u32 } }
    ShapeWide { P, Q { x: u64 } }
    ShapeRetyped { P, Q { x: String } }
    ShapeAddOpt { P, Q { x: u32, #[serde(default)] y: Option<u8> } }
    ShapeClosed [deny_unknown_fields] { P, Q { x: u32 } }
    ShapeClosedAddOpt [deny_unknown_fields] { P, Q { x: u32, #[serde(default)] y: Option<u8> } }
}

/// Structs (items of `lines`).
macro_rules! structs {
    ($($name:ident $([$($attr:meta),*])? { $($field:tt)* })*) => {$(
        #[derive(Deserialize, JsonSchema)]
        $(#[serde($($attr),*)])?
        #[allow(dead_code)]
        struct $name { $($field)* }
    )*};
}
structs! {
    Line { sku: String, q: u32 }
    LineClosed [deny_unknown_fields] { sku: String, q: u32 }
    LineAddOpt { sku: String, q: u32, #[serde(default)] y: Option<bool> }
}

type Tags = BTreeMap<String, u32>;

/// The members: `Name [serde attributes] { fields }`, each a version of the base.
macro_rules! family {
    ($($name:ident $([$($attr:meta),*])? { $($field:tt)* })*) => {
        structs! { $($name $([$($attr),*])? { $($field)* })* }
        fn family() -> Vec<Member> {
            vec![$(Member::new::<$name>(stringify!($name))),*]
        }
    };
}

family! {
    Base { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    Closed [deny_unknown_fields] { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    AddOpt { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags, #[serde(default)] extra: Option<u16> }
    AddOptClosed [deny_unknown_fields] { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags, #[serde(default)] extra: Option<u16> }
    AddReq { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags, extra: u16 }
    AddReqClosed [deny_unknown_fields] { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags, extra: u16 }
    DropOpt { n: u32, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    DropOptClosed [deny_unknown_fields] { n: u32, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    DropReq { #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    DropReqClosed [deny_unknown_fields] { #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    NOptional { #[serde(default)] n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    NNullable { n: Option<u32>, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    NoteRequired { n: u32, note: String, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    NU8 { n: u8, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    NU64 { n: u64, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    NI32 { n: i32, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    NI64 { n: i64, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    NNonZero { n: NonZeroU32, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    NString { n: String, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    KindValueRemoved { n: u32, #[serde(default)] note: Option<String>, kind: KindFewer, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    KindValueAdded { n: u32, #[serde(default)] note: Option<String>, kind: KindMore, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags }
    VariantAdded { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: ShapeMore, lines: Vec<Line>, #[serde(default)] tags: Tags }
    VariantRemoved { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: ShapeFewer, lines: Vec<Line>, #[serde(default)] tags: Tags }
    VariantWidened { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: ShapeWide, lines: Vec<Line>, #[serde(default)] tags: Tags }
    VariantRetyped { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: ShapeRetyped, lines: Vec<Line>, #[serde(default)] tags: Tags }
    VariantAddOpt { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: ShapeAddOpt, lines: Vec<Line>, #[serde(default)] tags: Tags }
    VariantsClosed { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: ShapeClosed, lines: Vec<Line>, #[serde(default)] tags: Tags }
    VariantsClosedAddOpt { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: ShapeClosedAddOpt, lines: Vec<Line>, #[serde(default)] tags: Tags }
    LinesClosed { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<LineClosed>, #[serde(default)] tags: Tags }
    LinesAddOpt { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<LineAddOpt>, #[serde(default)] tags: Tags }
    TagsNarrowed { n: u32, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: BTreeMap<String, u8> }
    ClosedWideAddOpt [deny_unknown_fields] { n: u64, #[serde(default)] note: Option<String>, kind: Kind, shape: Shape, lines: Vec<Line>, #[serde(default)] tags: Tags, #[serde(default)] extra: Option<u16> }
}

// ---- values from a schema --------------------------------------------------------------

/// The name of a field no member has: what an open object may carry besides its own.
const UNKNOWN: &str = "zz";

/// Integers worth trying wherever they fit: every width's edges and their neighbours.
fn edges() -> Vec<i128> {
    let mut out = vec![0, 1, -1, 2];
    for bits in [7, 8, 15, 16, 31, 32, 53, 63, 64] {
        let p = 1i128 << bits;
        out.extend([p - 1, p, p + 1, -p, -p - 1, -p + 1]);
    }
    out
}

/// The integers a schema's node stands for, as an inclusive range: its `format`'s Rust
/// width, narrowed by `minimum`/`maximum` (and their exclusive forms); within what a JSON
/// number can carry exactly in serde_json (i64 and u64).
fn int_range(s: &Map<String, Value>) -> (i128, i128) {
    let num = |k: &str| s.get(k).and_then(Value::as_f64);
    // The Rust width the format names (schemars writes one for every integer type).
    let (mut lo, mut hi) = match s.get("format").and_then(Value::as_str) {
        Some("uint8") => (0, i128::from(u8::MAX)),
        Some("uint16") => (0, i128::from(u16::MAX)),
        Some("uint32") => (0, i128::from(u32::MAX)),
        Some("int8") => (i128::from(i8::MIN), i128::from(i8::MAX)),
        Some("int16") => (i128::from(i16::MIN), i128::from(i16::MAX)),
        Some("int32") => (i128::from(i32::MIN), i128::from(i32::MAX)),
        Some("int64" | "int") => (i128::from(i64::MIN), i128::from(i64::MAX)),
        _ => (i128::from(i64::MIN), i128::from(u64::MAX)),
    };
    if let Some(m) = s.get("minimum").and_then(as_i128) {
        lo = lo.max(m);
    }
    if let Some(m) = s.get("maximum").and_then(as_i128) {
        hi = hi.min(m);
    }
    if let Some(m) = num("exclusiveMinimum") {
        lo = lo.max(m.floor() as i128 + 1);
    }
    if let Some(m) = num("exclusiveMaximum") {
        hi = hi.min(m.ceil() as i128 - 1);
    }
    (lo, hi)
}

fn as_i128(v: &Value) -> Option<i128> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
        .or_else(|| v.as_f64().map(|f| f.ceil() as i128))
}

fn int_value(i: i128) -> Value {
    match u64::try_from(i) {
        Ok(u) => Value::from(u),
        Err(_) => Value::from(i64::try_from(i).expect("within i64..=u64")),
    }
}

/// Integers in the schema's range, mostly at edges, and the ones just outside it (which no
/// version owns, but which show whether the schema and serde draw the line alike).
fn integers(s: &Map<String, Value>) -> BoxedStrategy<Value> {
    let (lo, hi) = int_range(s);
    let (min, max) = (i128::from(i64::MIN), i128::from(u64::MAX));
    let mut picks: Vec<i128> = edges()
        .into_iter()
        .chain([lo, lo + 1, hi, hi - 1, lo - 1, hi + 1])
        .filter(|i| (lo - 1..=hi + 1).contains(i) && (min..=max).contains(i))
        .collect();
    picks.sort_unstable();
    picks.dedup();
    prop_oneof![
        2 => proptest::sample::select(vec![lo, hi]),
        3 => proptest::sample::select(picks),
        1 => lo..=hi,
    ]
    .prop_map(int_value)
    .boxed()
}

fn strings(s: &Map<String, Value>) -> BoxedStrategy<Value> {
    let min = s.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    proptest::sample::select(vec!["", "a", "zz", "1"])
        .prop_map(move |t| Value::from(format!("{t}{}", "x".repeat(min.saturating_sub(t.len())))))
        .boxed()
}

/// Anything small: what an unknown field or an unconstrained value holds.
fn anything() -> BoxedStrategy<Value> {
    proptest::sample::select(vec![
        Value::Null,
        Value::from(7),
        Value::from("s"),
        Value::from(true),
    ])
    .boxed()
}

fn objects(s: &Map<String, Value>) -> BoxedStrategy<Value> {
    let required: Vec<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields: Vec<BoxedStrategy<Option<(String, Value)>>> = Vec::new();
    for (name, p) in s
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let is_required = required.contains(&name.as_str());
        let name = name.clone();
        let field = values(p).prop_map(move |v| (name.clone(), v));
        fields.push(if is_required {
            field.prop_map(Some).boxed()
        } else {
            proptest::option::of(field).boxed()
        });
    }
    match s.get("additionalProperties") {
        None | Some(Value::Bool(true)) => fields
            .push(proptest::option::of(anything().prop_map(|v| (UNKNOWN.to_owned(), v))).boxed()),
        Some(Value::Object(_)) => {
            let entry = values(&s["additionalProperties"]);
            for key in ["k1", "k2"] {
                fields.push(
                    proptest::option::of(entry.clone().prop_map(move |v| (key.to_owned(), v)))
                        .boxed(),
                );
            }
        }
        _ => {}
    }
    fields
        .prop_map(|fields| Value::Object(fields.into_iter().flatten().collect()))
        .boxed()
}

/// Values valid under `schema` (and a few just outside an integer's range).
fn values(schema: &Value) -> BoxedStrategy<Value> {
    let Some(s) = schema.as_object() else {
        return anything();
    };
    if let Some(c) = s.get("const") {
        return Just(c.clone()).boxed();
    }
    if let Some(Value::Array(e)) = s.get("enum") {
        return proptest::sample::select(e.clone()).boxed();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(alts)) = s.get(key) {
            return Union::new(alts.iter().map(values)).boxed();
        }
    }
    let types: Vec<String> = match s.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => return anything(),
    };
    Union::new(types.iter().map(|t| {
        match t.as_str() {
            "null" => Just(Value::Null).boxed(),
            "boolean" => any::<bool>().prop_map(Value::from).boxed(),
            "integer" => integers(s),
            "number" => proptest::sample::select(vec![0.0, 1.5, -2.25])
                .prop_map(Value::from)
                .boxed(),
            "string" => strings(s),
            "array" => proptest::collection::vec(
                values(s.get("items").unwrap_or(&Value::Bool(true))),
                0..3,
            )
            .prop_map(Value::Array)
            .boxed(),
            "object" => objects(s),
            other => panic!("a type the generator does not know: {other}"),
        }
    }))
    .boxed()
}

// ---- the verdicts -----------------------------------------------------------------------

static FAMILY: std::sync::LazyLock<Vec<Member>> = std::sync::LazyLock::new(family);

/// What the gate says about `old` -> `new`: (BACKWARD broken, FORWARD broken).
fn gate(old: &Member, new: &Member) -> (bool, bool) {
    let d = differences(&old.schema, &new.schema);
    (
        d.iter().any(|d| !d.change.backward_compatible()),
        d.iter().any(|d| !d.change.forward_compatible()),
    )
}

/// Values generated from each member's schema, per member.
const SAMPLES: usize = 96;

fn samples(m: &Member, seed: u8) -> Vec<Value> {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = values(&m.schema);
    (0..SAMPLES)
        .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
        .collect()
}

fn verdict(broken: bool) -> &'static str {
    if broken {
        "broken"
    } else {
        "kept"
    }
}

#[test]
fn the_gate_says_what_serde_does_for_every_pair() {
    let family = &*FAMILY;
    // Each version's data: generated from its schema, read by its type.
    let data: Vec<Vec<Value>> = family
        .iter()
        .zip(0u8..)
        .map(|(m, seed)| samples(m, seed).into_iter().filter(|v| m.owns(v)).collect())
        .collect();
    for (m, d) in family.iter().zip(&data) {
        assert!(
            d.len() >= SAMPLES / 2,
            "{}: only {} values of its own",
            m.name,
            d.len()
        );
    }
    let mut wrong = Vec::new();
    for (old, old_data) in family.iter().zip(&data) {
        for (new, new_data) in family.iter().zip(&data) {
            let (backward, forward) = gate(old, new);
            let refused_by_new = old_data.iter().find(|v| (new.read)(v).is_err());
            let refused_by_old = new_data.iter().find(|v| (old.read)(v).is_err());
            for (rule, said, found) in [
                ("BACKWARD", backward, refused_by_new),
                ("FORWARD", forward, refused_by_old),
            ] {
                if said != found.is_some() {
                    wrong.push(format!(
                        "{} -> {}: the gate says {rule} {}, serde {}",
                        old.name,
                        new.name,
                        verdict(said),
                        match found {
                            Some(v) => format!("refuses {v}"),
                            None => format!("reads all {} values", old_data.len()),
                        }
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn each_schema_draws_the_line_where_serde_does() {
    let mut wrong = Vec::new();
    for (m, seed) in FAMILY.iter().zip(100u8..) {
        for v in samples(m, seed) {
            let (schema, serde) = (m.validator.is_valid(&v), (m.read)(&v));
            if schema != serde.is_ok() {
                wrong.push(format!(
                    "{}: the schema {} {v}, serde {}",
                    m.name,
                    if schema { "accepts" } else { "refuses" },
                    serde.err().unwrap_or_else(|| "reads it".into())
                ));
            }
        }
    }
    wrong.dedup();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Any two members and a value generated for each.
fn pairs() -> impl Strategy<Value = (usize, usize, Value, Value)> {
    let n = FAMILY.len();
    (0..n, 0..n).prop_flat_map(|(o, n)| {
        (
            Just(o),
            Just(n),
            values(&FAMILY[o].schema),
            values(&FAMILY[n].schema),
        )
    })
}

proptest! {
    #![proptest_config(Config { cases: 512, failure_persistence: None, ..Config::default() })]

    /// Whatever the gate lets through, serde reads (shrinks to a small counterexample).
    #[test]
    fn a_change_the_gate_allows_breaks_no_reader((o, n, old_value, new_value) in pairs()) {
        let (old, new) = (&FAMILY[o], &FAMILY[n]);
        let (backward, forward) = gate(old, new);
        if !backward && old.owns(&old_value) {
            prop_assert!(
                (new.read)(&old_value).is_ok(),
                "{} -> {}: the gate keeps BACKWARD, the new type refuses {}",
                old.name, new.name, old_value
            );
        }
        if !forward && new.owns(&new_value) {
            prop_assert!(
                (old.read)(&new_value).is_ok(),
                "{} -> {}: the gate keeps FORWARD, the old type refuses {}",
                old.name, new.name, new_value
            );
        }
    }
}
