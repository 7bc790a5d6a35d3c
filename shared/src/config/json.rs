//! The configuration document as a tree, and a cursor over it that knows its field path.
//!
//! `serde_json` reads the text (syntax errors keep its line and column); everything after that is a small
//! hand-written walk ([`super::read`]) over this tree. The walk carries the field path itself, so an invalid value
//! fails with `trust.proxies[2]: not a valid CIDR ...` without `serde_path_to_error` or derived deserialisers —
//! together about 85 KB of the wasm filter, which parses its configuration once per `on_configure`.
//!
//! Objects keep every member in document order, duplicates included, so a repeated key is an error (as it was
//! with derived deserialisers) rather than silently the last one, and errors come in document order.

use std::fmt::{self, Write as _};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::ConfigError;

/// A JSON value as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// A non-negative integer.
    Uint(u64),
    /// A negative integer.
    Int(i64),
    /// A number with a fraction or an exponent.
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    /// Members in document order; a repeated key is kept, so the reader can refuse it.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Reads a document. `serde_json` bounds the nesting depth (128), so neither this nor dropping the tree can
    /// exhaust the stack.
    pub(crate) fn parse(text: &str) -> Result<Json, ConfigError> {
        serde_json::from_str(text).map_err(|e| ConfigError {
            path: String::new(),
            message: e.to_string(),
        })
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Uint(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(match u64::try_from(v) {
            Ok(u) => Json::Uint(u),
            Err(_) => Json::Int(v),
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry::<String, Json>()? {
            members.push(member);
        }
        Ok(Json::Object(members))
    }
}

/// Where a [`Node`] sits in the document: a chain of parent links on the walker's stack, rendered only when an
/// error needs it.
#[derive(Clone, Copy)]
enum At<'a> {
    Root,
    Field(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl fmt::Display for At<'_> {
    /// `trust.proxies[2]`, `sources[0].header`; the root is empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Root => Ok(()),
            At::Field(parent, key) => {
                parent.fmt(f)?;
                if !matches!(parent, At::Root) {
                    f.write_str(".")?;
                }
                f.write_str(key)
            }
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// A value in the document together with its field path.
#[derive(Clone, Copy)]
pub(crate) struct Node<'a> {
    json: &'a Json,
    at: At<'a>,
}

impl<'a> Node<'a> {
    /// The whole document.
    pub(crate) fn root(json: &'a Json) -> Node<'a> {
        Node { json, at: At::Root }
    }

    /// The value as written.
    pub(crate) fn json(&self) -> &'a Json {
        self.json
    }

    /// An error at this node's path.
    pub(crate) fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: self.at.to_string(),
            message: message.into(),
        }
    }

    /// The error for a value of the wrong JSON type (serde's wording, which earlier versions printed).
    pub(crate) fn invalid_type(&self, expected: &str) -> ConfigError {
        self.error(format!(
            "invalid type: {}, expected {expected}",
            Unexpected(self.json)
        ))
    }

    /// The members of an object whose keys are all in `known`, each at most once. An unknown or repeated key
    /// fails at that key's path, in document order.
    pub(crate) fn object(&self, known: &[&str]) -> Result<Object<'a, '_>, ConfigError> {
        let Json::Object(members) = self.json else {
            return Err(self.invalid_type("a map"));
        };
        for (i, (key, _)) in members.iter().enumerate() {
            let at = Node {
                json: self.json,
                at: At::Field(&self.at, key),
            };
            if !known.contains(&key.as_str()) {
                return Err(at.error(unknown("field", key, known)));
            }
            if members
                .get(..i)
                .is_some_and(|before| before.iter().any(|(k, _)| k == key))
            {
                return Err(at.error(format!("duplicate field `{key}`")));
            }
        }
        Ok(Object {
            members,
            at: &self.at,
        })
    }

    /// The elements of an array, each with its index in the path.
    pub(crate) fn array(&self) -> Result<impl Iterator<Item = Node<'_>>, ConfigError> {
        let Json::Array(items) = self.json else {
            return Err(self.invalid_type("a sequence"));
        };
        Ok(items.iter().enumerate().map(|(i, json)| Node {
            json,
            at: At::Index(&self.at, i),
        }))
    }

    /// A string.
    pub(crate) fn str(&self) -> Result<&'a str, ConfigError> {
        match self.json {
            Json::Str(s) => Ok(s),
            _ => Err(self.invalid_type("a string")),
        }
    }

    /// A boolean.
    pub(crate) fn bool(&self) -> Result<bool, ConfigError> {
        match self.json {
            Json::Bool(b) => Ok(*b),
            _ => Err(self.invalid_type("a boolean")),
        }
    }

    /// A non-negative integer; `expected` names what the field takes.
    pub(crate) fn uint(&self, expected: &str) -> Result<u64, ConfigError> {
        match self.json {
            Json::Uint(n) => Ok(*n),
            Json::Int(n) => {
                Err(self.error(format!("invalid value: integer `{n}`, expected {expected}")))
            }
            _ => Err(self.invalid_type(expected)),
        }
    }

    /// One of a closed set of strings (an enum written in snake_case), as its index in `variants`.
    pub(crate) fn variant(&self, variants: &[&str]) -> Result<usize, ConfigError> {
        let s = self.str()?;
        variants
            .iter()
            .position(|v| *v == s)
            .ok_or_else(|| self.error(unknown("variant", s, variants)))
    }
}

/// A validated object: every key known, none repeated.
pub(crate) struct Object<'a, 'p> {
    members: &'a [(String, Json)],
    at: &'p At<'p>,
}

impl<'a, 'p> Object<'a, 'p> {
    /// The member named `key`, if present.
    pub(crate) fn get(&self, key: &str) -> Option<Node<'p>>
    where
        'a: 'p,
    {
        self.members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(k, json)| Node {
                json,
                at: At::Field(self.at, k),
            })
    }

    /// The member named `key` unless it is absent or `null` (an optional field).
    pub(crate) fn get_some(&self, key: &str) -> Option<Node<'p>>
    where
        'a: 'p,
    {
        self.get(key).filter(|n| !matches!(n.json, Json::Null))
    }
}

/// serde's wording for an unknown field or variant: "unknown field `proxy`, expected one of `proxies`, `hops`".
fn unknown(what: &str, name: &str, known: &[&str]) -> String {
    let mut out = format!("unknown {what} `{name}`, ");
    match known {
        [] => out.push_str("there are none"),
        [one] => {
            out.push_str("expected `");
            out.push_str(one);
            out.push('`');
        }
        [a, b] => {
            out.push_str("expected `");
            out.push_str(a);
            out.push_str("` or `");
            out.push_str(b);
            out.push('`');
        }
        _ => {
            out.push_str("expected one of ");
            for (i, k) in known.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push('`');
                out.push_str(k);
                out.push('`');
            }
        }
    }
    out
}

/// A value shown in an "invalid type" error, with the value itself where it is short.
struct Unexpected<'a>(&'a Json);

impl fmt::Display for Unexpected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "boolean `{b}`"),
            Json::Uint(n) => write!(f, "integer `{n}`"),
            Json::Int(n) => write!(f, "integer `{n}`"),
            Json::Float(x) => write!(f, "floating point `{}`", Float(*x)),
            Json::Str(s) => write!(f, "string {s:?}"),
            Json::Array(_) => f.write_str("sequence"),
            Json::Object(_) => f.write_str("map"),
        }
    }
}

/// A JSON number with a fraction or exponent, shown without `core::fmt`'s float formatting (which would add
/// about 18 KB to the wasm filter for this one message): integral values below 2^53 exactly (`2.0`), others below
/// 1e9 rounded to six decimals (`2.5`), anything larger with six decimals and an exponent (`1.5e300`).
struct Float(f64);

impl fmt::Display for Float {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
        let mut x = self.0;
        if !x.is_finite() {
            return f.write_str("non-finite");
        }
        if x < 0.0 {
            f.write_str("-")?;
            x = -x;
        }
        if x == x.trunc() && x < EXACT {
            // Integral and exact in a u64.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            return write!(f, "{}.0", x as u64);
        }
        let mut exponent = 0u32;
        while x >= 1e9 {
            x /= 10.0;
            exponent += 1;
        }
        if exponent > 0 {
            while x >= 10.0 {
                x /= 10.0;
                exponent += 1;
            }
        }
        // Below 1e9, x * 1e6 is below 2^53: both parts are exact integers.
        let scaled = (x * 1e6).round();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let scaled = scaled as u64;
        let (int, mut frac) = (scaled / 1_000_000, scaled % 1_000_000);
        write!(f, "{int}.")?;
        let mut digits = [b'0'; 6];
        for d in digits.iter_mut().rev() {
            // `frac % 10` is one digit.
            #[allow(clippy::cast_possible_truncation)]
            let digit = (frac % 10) as u8;
            *d = b'0' + digit;
            frac /= 10;
        }
        let end = digits.iter().rposition(|d| *d != b'0').map_or(1, |i| i + 1);
        for d in digits.iter().take(end) {
            f.write_char(char::from(*d))?;
        }
        if exponent > 0 {
            write!(f, "e{exponent}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test panics
mod tests {
    use super::*;

    #[test]
    fn floats_show_what_was_written() {
        for (x, shown) in [
            (2.0, "2.0"),
            (2.5, "2.5"),
            (-0.1, "-0.1"),
            (403.25, "403.25"),
            (1e3, "1000.0"),
            (1.5e300, "1.5e300"),
            (123_456_789_012.5, "1.234568e11"),
        ] {
            assert_eq!(Float(x).to_string(), shown);
        }
    }

    #[test]
    fn repeated_keys_fail_at_their_path() {
        let json = Json::parse(r#"{"trust":{"hops":1,"hops":2}}"#).unwrap();
        let root = Node::root(&json);
        let doc = root.object(&["trust"]).unwrap();
        let trust = doc.get("trust").unwrap();
        let e = trust.object(&["hops"]).err().unwrap();
        assert_eq!(e.to_string(), "trust.hops: duplicate field `hops`");
    }
}
