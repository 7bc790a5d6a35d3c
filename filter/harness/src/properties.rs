//! `proxy_get_property` / `proxy_set_property` with Envoy's paths and value encodings.
//!
//! A path is a list of segments joined by NUL (`"source\0address"`). Strings come back as their bytes,
//! integers as 8-byte little-endian `int64`, booleans as one byte. `source.address` is the downstream
//! remote address after the connection manager's address detection, rendered `"ip:port"` or
//! `"[v6]:port"`. Without a stream (root context) the stream properties are NotFound.
//! `set_property(path, v)` stores filter state `wasm.<path>`; reading `<path>` back finds it.

use crate::state::HostState;
use crate::status::Status;

/// Reads a property.
pub(crate) fn get(state: &mut HostState, path: &[u8]) -> Result<Vec<u8>, Status> {
    let segments: Vec<&[u8]> = path.split(|b| *b == 0).collect();
    match segments.as_slice() {
        [b"plugin_name"] => return Ok(state.plugin_name.clone().into_bytes()),
        [b"plugin_root_id"] => return Ok(Vec::new()),
        _ => {}
    }
    let Some((_, s)) = state.current_stream() else {
        return Err(Status::NotFound);
    };
    let value = match segments.as_slice() {
        [b"source", b"address"] => s.remote_text.clone().into_bytes(),
        [b"source", b"port"] => i64::from(s.remote.port()).to_le_bytes().to_vec(),
        [b"destination", b"address"] => s.local_text.clone().into_bytes(),
        [b"destination", b"port"] => i64::from(s.connection.local.port()).to_le_bytes().to_vec(),
        [b"connection", b"mtls"] => vec![u8::from(s.connection.mtls_uri_san.is_some())],
        [b"connection", b"uri_san_peer_certificate"] => match &s.connection.mtls_uri_san {
            Some(san) => san.clone().into_bytes(),
            None => return Err(Status::NotFound),
        },
        [b"request", b"headers", name] => {
            let values = s.request_headers.get_all(name);
            if values.is_empty() {
                return Err(Status::NotFound);
            }
            values.join(&b","[..])
        }
        [name] => {
            let key = format!("wasm.{}", String::from_utf8_lossy(name));
            return s.filter_state.get(&key).cloned().ok_or(Status::NotFound);
        }
        _ => return Err(Status::NotFound),
    };
    Ok(value)
}

/// Writes filter state `wasm.<path>` for the current stream; NotFound outside a stream.
pub(crate) fn set(state: &mut HostState, path: &[u8], value: Vec<u8>) -> Result<(), Status> {
    let Some((_, s)) = state.current_stream() else {
        return Err(Status::NotFound);
    };
    let key = format!("wasm.{}", String::from_utf8_lossy(path));
    s.filter_state.insert(key, value);
    Ok(())
}
