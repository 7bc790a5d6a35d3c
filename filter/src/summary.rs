//! The decision rendered for filter state (access logs: `%FILTER_STATE(wasm.trueip:PLAIN)%`) and for
//! the debug response header. One line, `key=value` pairs, no control characters.

use std::fmt::Write;

use trueip::{Decision, Rejection, Trace};

/// `client=203.0.113.9 port=5000 source=x-forwarded-for hop=2 external` (port only when known) plus
/// fallback and spoof signals.
pub(crate) fn decision(d: &Decision) -> String {
    let mut out = String::with_capacity(96);
    let _ = write!(out, "client={}", d.client.ip);
    if let Some(port) = d.client.port {
        let _ = write!(out, " port={port}");
    }
    let _ = write!(
        out,
        " source={} hop={} {}",
        d.source.label(),
        d.hop,
        if d.internal { "internal" } else { "external" }
    );
    if let Some(f) = d.fallback {
        let _ = write!(out, " fallback={}", f.label());
    }
    spoof(&mut out, d.spoof.labels());
    out
}

/// `rejected=<kind> status=<status>` plus spoof signals.
pub(crate) fn rejection(r: &Rejection) -> String {
    let mut out = format!("rejected={} status={}", r.kind.label(), r.status);
    spoof(&mut out, r.spoof.labels());
    out
}

/// The trace steps joined with ` | `, safe as a header value.
pub(crate) fn trace(t: &Trace) -> String {
    let joined = t.steps().join(" | ");
    joined
        .chars()
        .map(|c| {
            if c.is_control() || !c.is_ascii() {
                '?'
            } else {
                c
            }
        })
        .collect()
}

fn spoof<'a>(out: &mut String, labels: impl Iterator<Item = &'a str>) {
    let mut first = true;
    for l in labels {
        out.push_str(if first { " spoof=" } else { "," });
        out.push_str(l);
        first = false;
    }
}
