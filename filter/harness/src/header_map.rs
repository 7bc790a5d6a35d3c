//! Envoy's HTTP header map (`HeaderMapImpl`) as a proxy-wasm filter sees it.
//!
//! The points a client-IP filter depends on, modelled from Envoy's `header_map_impl.cc`:
//! keys are lower-cased; pseudo headers come first; `host` is stored as `:authority` in request maps;
//! "inline" headers (among them `x-forwarded-for`) are coalesced into one entry joined with `,` when a
//! client repeats them, and `add` on an existing inline header appends `,value`; `get` returns the first
//! value; `replace` removes every entry with the key and then adds one; `remove` removes all.

/// Which of Envoy's header maps this is; the inline set and the `host` alias differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// Request headers (`RequestHeaderMapImpl`).
    Request,
    /// Response headers (`ResponseHeaderMapImpl`).
    Response,
    /// Request or response trailers: no inline headers.
    Trailers,
}

/// Request headers Envoy registers as inline (O(1) slots, coalesced on repeat): the defaults from
/// `INLINE_REQ_HEADERS` and `INLINE_REQ_RESP_STRING_HEADERS` that matter to forwarding and routing.
/// `forwarded`, `x-real-ip` and other custom headers are *not* inline and keep one entry per line.
const INLINE_REQUEST: &[&[u8]] = &[
    b":authority",
    b":method",
    b":path",
    b":scheme",
    b":protocol",
    b"authorization",
    b"connection",
    b"content-length",
    b"content-type",
    b"expect",
    b"grpc-timeout",
    b"keep-alive",
    b"proxy-connection",
    b"referer",
    b"te",
    b"transfer-encoding",
    b"upgrade",
    b"user-agent",
    b"via",
    b"x-client-trace-id",
    b"x-envoy-external-address",
    b"x-envoy-internal",
    b"x-envoy-original-path",
    b"x-forwarded-client-cert",
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"x-forwarded-proto",
    b"x-request-id",
];

/// Response headers Envoy registers as inline.
const INLINE_RESPONSE: &[&[u8]] = &[
    b":status",
    b"connection",
    b"content-length",
    b"content-type",
    b"date",
    b"location",
    b"server",
    b"transfer-encoding",
    b"upgrade",
    b"via",
    b"x-request-id",
];

/// An ordered multimap of header lines with Envoy's semantics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderMap {
    kind: MapKind,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl HeaderMap {
    /// An empty map of the given kind.
    pub fn new(kind: MapKind) -> HeaderMap {
        HeaderMap {
            kind,
            entries: Vec::new(),
        }
    }

    /// Builds the map the HTTP codec would hand to the filter chain for these wire lines, in order:
    /// repeated inline headers are coalesced, other repeats stay separate lines.
    pub fn from_lines<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        kind: MapKind,
        lines: &[(K, V)],
    ) -> HeaderMap {
        let mut map = HeaderMap::new(kind);
        for (key, value) in lines {
            map.add(key.as_ref(), value.as_ref());
        }
        map
    }

    /// Every entry in map order (pseudo headers first).
    pub fn entries(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first value for `key` (any case), like `HeaderMap::get(...)[0]` in Envoy's wasm context.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let key = self.normalize(key);
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// Every value for `key`, in order.
    pub fn get_all(&self, key: &[u8]) -> Vec<&[u8]> {
        let key = self.normalize(key);
        self.entries
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// `addCopy`: appends `,value` to an existing inline header, otherwise adds a line (pseudo headers
    /// are kept ahead of regular ones).
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        let key = self.normalize(key);
        if self.is_inline(&key) {
            if let Some((_, existing)) = self.entries.iter_mut().find(|(k, _)| *k == key) {
                if !existing.is_empty() {
                    existing.push(b',');
                }
                existing.extend_from_slice(value);
                return;
            }
        }
        self.push(key, value.to_vec());
    }

    /// `setCopy` (Envoy ≥ 1.19): removes every entry with `key`, then adds one.
    pub fn replace(&mut self, key: &[u8], value: &[u8]) {
        self.remove(key);
        let key = self.normalize(key);
        self.push(key, value.to_vec());
    }

    /// Removes every entry with `key`.
    pub fn remove(&mut self, key: &[u8]) {
        let key = self.normalize(key);
        self.entries.retain(|(k, _)| *k != key);
    }

    /// `set_header_map_pairs`: replaces the whole map with these pairs (added one by one).
    pub fn replace_all(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) {
        self.entries.clear();
        for (key, value) in pairs {
            self.add(key, value);
        }
    }

    fn push(&mut self, key: Vec<u8>, value: Vec<u8>) {
        if key.first() == Some(&b':') {
            let at = self
                .entries
                .iter()
                .position(|(k, _)| k.first() != Some(&b':'))
                .unwrap_or(self.entries.len());
            self.entries.insert(at, (key, value));
        } else {
            self.entries.push((key, value));
        }
    }

    fn normalize(&self, key: &[u8]) -> Vec<u8> {
        let lower = key.to_ascii_lowercase();
        if self.kind == MapKind::Request && lower == b"host" {
            return b":authority".to_vec();
        }
        lower
    }

    fn is_inline(&self, key: &[u8]) -> bool {
        let table = match self.kind {
            MapKind::Request => INLINE_REQUEST,
            MapKind::Response => INLINE_RESPONSE,
            MapKind::Trailers => return false,
        };
        table.contains(&key)
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // a failing test panics
mod tests {
    use super::*;

    #[test]
    fn repeated_xff_lines_are_coalesced_but_forwarded_lines_are_not() {
        let map = HeaderMap::from_lines(
            MapKind::Request,
            &[
                ("X-Forwarded-For", "1.1.1.1"),
                ("Forwarded", "for=1.1.1.1"),
                ("x-forwarded-for", "2.2.2.2, 3.3.3.3"),
                ("forwarded", "for=2.2.2.2"),
            ],
        );
        assert_eq!(
            map.get_all(b"x-forwarded-for"),
            vec![b"1.1.1.1,2.2.2.2, 3.3.3.3".as_slice()]
        );
        assert_eq!(map.get_all(b"FORWARDED").len(), 2);
        assert_eq!(map.get(b"forwarded"), Some(b"for=1.1.1.1".as_slice()));
    }

    #[test]
    fn host_is_authority_and_pseudo_headers_come_first() {
        let map = HeaderMap::from_lines(
            MapKind::Request,
            &[("user-agent", "t"), ("Host", "example.com"), (":path", "/")],
        );
        let keys: Vec<&[u8]> = map.entries().iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(
            keys,
            vec![b":authority".as_slice(), b":path", b"user-agent"]
        );
        assert_eq!(map.get(b"host"), Some(b"example.com".as_slice()));
    }

    #[test]
    fn replace_removes_every_line_then_adds_one() {
        let mut map = HeaderMap::from_lines(
            MapKind::Request,
            &[("x-real-ip", "1.1.1.1"), ("x-real-ip", "2.2.2.2")],
        );
        map.replace(b"X-Real-IP", b"3.3.3.3");
        assert_eq!(map.get_all(b"x-real-ip"), vec![b"3.3.3.3".as_slice()]);
    }
}
