//! Counters defined through `proxy_define_metric` on first use and cached per VM.
//!
//! Names follow Envoy's dotted stat style (Envoy exports them with the `wasmcustom.` prefix):
//! `trueip.decision.<source>`, `trueip.fallback.<kind>`, `trueip.rejected.<kind>`,
//! `trueip.denied.<reason>`, `trueip.spoof.<signal>`, `trueip.config_error`, `trueip.error.<what>`,
//! `trueip.stream.no_headers`. Metric ids are per VM, so the cache lives in the VM (an `Rc` shared by
//! the root and HTTP contexts). A failed definition only loses that count; it never fails a request.

use std::cell::RefCell;

use crate::hostcalls;

/// The VM's counter ids by name.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    ids: RefCell<Vec<(Box<str>, u32)>>,
}

impl Metrics {
    /// Adds one to `prefix` + `label`.
    pub(crate) fn count(&self, prefix: &str, label: &str) {
        let Ok(mut ids) = self.ids.try_borrow_mut() else {
            return;
        };
        let found = ids
            .iter()
            .find(|(name, _)| {
                name.len() == prefix.len() + label.len()
                    && name.starts_with(prefix)
                    && name.ends_with(label)
            })
            .map(|(_, id)| *id);
        let id = match found {
            Some(id) => id,
            None => {
                let name = format!("{prefix}{label}");
                let Ok(id) = hostcalls::define_counter(&name) else {
                    return;
                };
                ids.push((name.into_boxed_str(), id));
                id
            }
        };
        let _ = hostcalls::increment(id);
    }
}
