//! The decision rendered for filter state (access logs: `%FILTER_STATE(wasm.trueip:PLAIN)%`) and for
//! the debug response header. One line, `key=value` pairs, no control characters.
//!
//! Rendered by hand rather than with `write!`: this runs on every request, and `core::fmt`'s
//! machinery costs several times the work of the few pushes it replaces (addresses through the core's
//! `push_ip`, which writes what `Display` writes).

use trueip::addr::push_ip;
use trueip::{Decision, Rejection, Trace};

/// `client=203.0.113.9 port=5000 source=x-forwarded-for hop=2 external` (port only when known) plus
/// fallback and spoof signals.
pub(crate) fn decision(d: &Decision) -> String {
    let mut out = String::with_capacity(96);
    out.push_str("client=");
    push_ip(&mut out, d.client.ip);
    if let Some(port) = d.client.port {
        out.push_str(" port=");
        push_u32(&mut out, u32::from(port));
    }
    out.push_str(" source=");
    out.push_str(d.source.label());
    out.push_str(" hop=");
    push_u32(&mut out, u32::from(d.hop));
    out.push_str(if d.internal { " internal" } else { " external" });
    if let Some(f) = d.fallback {
        out.push_str(" fallback=");
        out.push_str(f.label());
    }
    if !d.spoof.is_empty() {
        spoof(&mut out, d.spoof.labels());
    }
    out
}

/// `rejected=<kind> status=<status>` plus spoof signals.
pub(crate) fn rejection(r: &Rejection) -> String {
    let mut out = String::with_capacity(64);
    out.push_str("rejected=");
    out.push_str(r.kind.label());
    out.push_str(" status=");
    push_u32(&mut out, u32::from(r.status));
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

/// A decimal number without `core::fmt`.
fn push_u32(out: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut len = 0;
    let mut rest = n;
    loop {
        if let Some(slot) = digits.get_mut(len) {
            // `rest % 10` is a single digit.
            *slot = b'0' + (rest % 10) as u8;
        }
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for d in digits.iter().take(len).rev() {
        out.push(char::from(*d));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test panics
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn numbers_and_addresses_render_as_display_does() {
        for n in [0u32, 7, 10, 99, 100, 65_535, u32::MAX] {
            let mut s = String::new();
            push_u32(&mut s, n);
            assert_eq!(s, n.to_string());
        }
        for ip in [
            "0.0.0.0",
            "203.0.113.9",
            "255.255.255.255",
            "2001:db8::1",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
    }
}
