//! The proxy-only sections (`listeners`, `admin`, feature `proxy-sections`), read through their serde
//! deserialisers: only the native proxy and the CLI link them, size does not matter there, and the listener rules
//! (`try_from` raw shapes, shorthand upstreams) are written once, as serde code. The field path is this section's
//! path followed by the one `serde_path_to_error` reports inside it.

use serde::de::DeserializeOwned;

use super::ConfigError;
use super::admin::AdminConfig;
use super::json::{Json, Node};
use super::listener::ListenerConfig;

/// `listeners`.
pub(crate) fn listeners(node: &Node<'_>) -> Result<Vec<ListenerConfig>, ConfigError> {
    deserialize(node)
}

/// `admin`.
pub(crate) fn admin(node: &Node<'_>) -> Result<AdminConfig, ConfigError> {
    deserialize(node)
}

fn deserialize<T: DeserializeOwned>(node: &Node<'_>) -> Result<T, ConfigError> {
    let value = to_value(node)?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let outer = node.error(String::new()).path;
        let path = match inner.as_str() {
            "." => outer,
            i if i.starts_with('[') => outer + i,
            i => outer + "." + i,
        };
        ConfigError {
            path,
            message: e.into_inner().to_string(),
        }
    })
}

/// The subtree as a `serde_json::Value`, refusing repeated keys (a `Value` object would keep only the last).
fn to_value(node: &Node<'_>) -> Result<serde_json::Value, ConfigError> {
    use serde_json::Value;
    Ok(match node.json() {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Uint(n) => Value::from(*n),
        Json::Int(n) => Value::from(*n),
        Json::Float(x) => Value::from(*x),
        Json::Str(s) => Value::String(s.clone()),
        Json::Array(_) => Value::Array(
            node.array()?
                .map(|n| to_value(&n))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(members) => {
            let mut map = serde_json::Map::new();
            // Every key is "known" here; `object` still refuses a repeated one, at its path.
            let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
            let o = node.object(&keys)?;
            for key in &keys {
                if let Some(n) = o.get(key) {
                    map.insert((*key).to_owned(), to_value(&n)?);
                }
            }
            Value::Object(map)
        }
    })
}
