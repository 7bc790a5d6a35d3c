//! Counters defined through `proxy_define_metric` on first use and cached per VM.
//!
//! Names follow Envoy's dotted stat style (Envoy exports them with the `wasmcustom.` prefix):
//! `trueip.decision.<source>`, `trueip.fallback.<kind>`, `trueip.rejected.<kind>`,
//! `trueip.denied.<reason>`, `trueip.spoof.<signal>`, `trueip.config_error`, `trueip.error.<what>`,
//! `trueip.stream.no_headers`. Metric ids are per VM, so the cache lives in the VM (an `Rc` shared by
//! the root and HTTP contexts). A failed definition only loses that count; it never fails a request.

use std::cell::RefCell;

use crate::{bytes, hostcalls};

/// The VM's counter ids, by the two parts of their names.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    ids: RefCell<Vec<(&'static str, Box<str>, u32)>>,
}

impl Metrics {
    /// Adds one to `prefix` + `label`.
    ///
    /// The prefixes are literals, so the prefix of a counter counted again is usually found by address
    /// alone; the names are compared without `memcmp` (see [`bytes::same`]).
    pub(crate) fn count(&self, prefix: &'static str, label: &str) {
        let Ok(mut ids) = self.ids.try_borrow_mut() else {
            return;
        };
        let found = ids
            .iter()
            .find(|(p, l, _)| same_text(p, prefix) && bytes::same(l.as_bytes(), label.as_bytes()))
            .map(|(_, _, id)| *id);
        let id = match found {
            Some(id) => id,
            None => {
                let name = format!("{prefix}{label}");
                let Ok(id) = hostcalls::define_counter(&name) else {
                    return;
                };
                ids.push((prefix, label.into(), id));
                id
            }
        };
        let _ = hostcalls::increment(id);
    }
}

fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || bytes::same(a.as_bytes(), b.as_bytes()))
}
