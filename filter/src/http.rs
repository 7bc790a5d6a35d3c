//! The HTTP context: glue only. Gather the inputs (request headers as bytes, `source.address`, the
//! mTLS identity), ask the shared `Resolver`, apply what it decided.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use trueip::access::Access;
use trueip::config::envoy::EnvoyMode;
use trueip::forwarded::name_is;
use trueip::{PeerAddr, Request, Resolver};

use crate::envoy_lines::{self, EnvoyLines, XFF};
use crate::hostcalls::{self, LogLevel, MapType};
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::{envoy_append, external_address, pairs, peer, summary};

/// One stream.
pub(crate) struct Http {
    settings: Option<Rc<Settings>>,
    metrics: Rc<Metrics>,
    /// The trace for the debug response header, when a trusted caller asked for it.
    debug: Option<String>,
    /// Whether `on_http_request_headers` ran (Envoy may log a stream the filter never saw).
    saw_headers: bool,
}

impl Http {
    pub(crate) fn new(settings: Option<Rc<Settings>>, metrics: Rc<Metrics>) -> Http {
        Http {
            settings,
            metrics,
            debug: None,
            saw_headers: false,
        }
    }

    fn on_request(&mut self, settings: &Settings) {
        let Ok(buf) = hostcalls::header_pairs(MapType::RequestHeaders) else {
            return self.error("request_headers");
        };
        // Borrowed slices of the host's buffer: the one allocation per request is this list.
        let Some(mut lines) = pairs::parse(&buf) else {
            return self.error("request_headers");
        };
        let raw_source = hostcalls::property(b"source\0address").ok().flatten();
        let source = raw_source.as_deref().and_then(peer::parse_source);
        let (Some(source), Some(raw_source)) = (source, raw_source.as_deref()) else {
            // Envoy always knows the downstream address of an HTTP stream; without it nothing can be
            // trusted, so refuse rather than pass spoofable headers on.
            self.error("source_address");
            let _ = hostcalls::send_local_response(
                503,
                "trueip_no_source_address",
                b"",
                &pairs::encode(&[]),
            );
            return;
        };
        let envoy = EnvoyLines::find(&lines);
        let xff = envoy_lines::value(&lines, envoy.xff);
        let identity = match settings.envoy.mode {
            EnvoyMode::Sidecar => peer_identity(),
            _ => None,
        };
        let (peer, resolver) = match settings.envoy.mode {
            EnvoyMode::Sidecar => {
                let trusted = identity.as_deref().is_some_and(|id| {
                    settings
                        .resolver
                        .policy()
                        .trust
                        .identities
                        .iter()
                        .any(|t| t.as_str() == id)
                });
                let resolver = match (&settings.untrusted, trusted) {
                    (Some(untrusted), false) => untrusted,
                    _ => &settings.resolver,
                };
                let mut peer = peer::sidecar(source, xff);
                if !trusted && peer.xff_keep.is_some() {
                    // Envoy took source.address from X-Forwarded-For that an untrusted caller wrote:
                    // the real peer is unknown to any filter. Report the unspecified address rather
                    // than the caller's claim.
                    peer.addr = peer::unknown(source);
                    self.metrics.count("trueip.sidecar.", "unknown_peer");
                }
                (peer, resolver)
            }
            _ => (
                peer::gateway(
                    source,
                    peer::ip_text(raw_source),
                    xff,
                    settings.envoy.xff_num_trusted_hops,
                ),
                &settings.resolver,
            ),
        };
        // Envoy coalesces X-Forwarded-For into one line: the value it holds, with its own append.
        // (`xff` is the last line: the one that ends the list, where an appended entry is.)
        let held_xff = xff.filter(|_| envoy.xff_count == 1);
        // Envoy's own x-envoy-external-address is not client input either: like the entry it appended
        // to X-Forwarded-For, the resolver does not see it (no spoof signal for every external
        // request), and the plan, built from what the resolver saw, leaves it for the application.
        let drop_external = settings.envoy.mode == EnvoyMode::Gateway
            && envoy.external_count == 1
            && envoy_lines::value(&lines, envoy.external)
                .is_some_and(|v| external_address::envoy_owns(v, peer::ip_text(raw_source)));
        // The resolver sees the headers without the entry Envoy appended: the X-Forwarded-For value
        // is re-sliced in place, or its line left out when that entry was all it held.
        envoy.cut(&mut lines, peer.xff_keep, drop_external);
        let req = Request {
            peer: PeerAddr(peer.addr),
            peer_identity: identity.as_deref(),
            headers: &lines,
        };
        self.decide(settings, resolver, &req, held_xff);
    }

    /// `held_xff`: the X-Forwarded-For value Envoy holds (its only line), before the filter changes it.
    fn decide(
        &mut self,
        settings: &Settings,
        resolver: &Resolver,
        req: &Request<'_>,
        held_xff: Option<&[u8]>,
    ) {
        let debug_header = settings.envoy.debug_header.as_ref().map(|h| h.as_str());
        let debug_asked = debug_header.filter(|h| {
            req.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(h.as_bytes()))
        });
        let wants_debug = debug_asked.is_some() && resolver.peer_trusted(req);
        let result = if wants_debug {
            let (result, trace) = resolver.resolve_traced(req);
            self.debug = Some(summary::trace(&trace));
            result
        } else {
            resolver.resolve(req)
        };
        let state_name = settings.envoy.filter_state.as_bytes();
        let decision = match result {
            Ok(decision) => decision,
            Err(rejection) => {
                let kind = rejection.kind.label();
                self.metrics.count("trueip.rejected.", kind);
                for s in rejection.spoof.labels() {
                    self.metrics.count("trueip.spoof.", s);
                }
                let _ =
                    hostcalls::set_property(state_name, summary::rejection(&rejection).as_bytes());
                let body = ["request rejected: ", kind, "\n"].concat();
                let details = ["trueip_", kind].concat();
                self.local_reply(rejection.status, &details, body.as_bytes());
                return;
            }
        };
        self.metrics
            .count("trueip.decision.", decision.source.label());
        if let Some(f) = decision.fallback {
            self.metrics.count("trueip.fallback.", f.label());
        }
        // Most requests carry no signal; the label iterator would still walk every kind.
        if !decision.spoof.is_empty() {
            for s in decision.spoof.labels() {
                self.metrics.count("trueip.spoof.", s);
            }
        }
        let mut state = summary::decision(&decision);
        if let Access::Deny {
            status,
            body,
            reason,
        } = resolver.access(&decision)
        {
            self.metrics.count("trueip.denied.", reason.label());
            state.push_str(" denied=");
            state.push_str(reason.label());
            let _ = hostcalls::set_property(state_name, state.as_bytes());
            self.local_reply(status, "trueip_access_denied", body.as_bytes());
            return;
        }
        let _ = hostcalls::set_property(state_name, state.as_bytes());
        let plan = resolver.rewrite_plan(req, &decision);
        // When Envoy's own X-Forwarded-For already lists what the plan sets, the header is left as it is,
        // removal included (the plan's removals come before its values; see `envoy_append`). Names are
        // matched ignoring case in both loops, so a removal can never run while its value is skipped.
        let xff_set = plan
            .set
            .iter()
            .position(|(name, _)| name_is(name.as_bytes(), XFF));
        let envoy_xff_kept = match (held_xff, xff_set.and_then(|i| plan.set.get(i))) {
            (Some(held), Some((_, value))) => envoy_append::same_list(held, value.as_bytes()),
            _ => false,
        };
        for name in &plan.remove {
            if envoy_xff_kept && name_is(name.as_bytes(), XFF) {
                continue;
            }
            if hostcalls::remove_header(MapType::RequestHeaders, name.as_bytes()).is_err() {
                self.error("rewrite");
            }
        }
        for (i, (name, value)) in plan.set.iter().enumerate() {
            if envoy_xff_kept && xff_set == Some(i) {
                continue;
            }
            if hostcalls::replace_header(MapType::RequestHeaders, name.as_bytes(), value.as_bytes())
                .is_err()
            {
                self.error("rewrite");
            }
        }
        if let Some(h) = debug_asked {
            // The debug request is for this filter, not for the application (removed only when sent: a
            // hostcall that would change nothing is not made).
            let _ = hostcalls::remove_header(MapType::RequestHeaders, h.as_bytes());
        }
    }

    fn local_reply(&self, status: u16, details: &str, body: &[u8]) {
        let headers = pairs::encode(&[]);
        if hostcalls::send_local_response(u32::from(status), details, body, &headers).is_err() {
            self.error("local_reply");
        }
    }

    fn error(&self, what: &'static str) {
        self.metrics.count("trueip.error.", what);
        hostcalls::log(LogLevel::Warn, &format!("trueip: hostcall failed: {what}"));
    }
}

/// The caller's mTLS URI SAN, when the connection is mutual TLS.
fn peer_identity() -> Option<String> {
    match hostcalls::property(b"connection\0mtls") {
        Ok(Some(v)) if v.as_slice() == [1] => {}
        _ => return None,
    }
    match hostcalls::property(b"connection\0uri_san_peer_certificate") {
        Ok(Some(v)) => String::from_utf8(v).ok().filter(|s| !s.is_empty()),
        _ => None,
    }
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.saw_headers = true;
        if let Some(settings) = self.settings.clone() {
            self.on_request(&settings);
        }
        // A local reply (if any) takes effect when this returns, whatever the action.
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let (Some(trace), Some(settings)) = (self.debug.take(), &self.settings) {
            if let Some(h) = &settings.envoy.debug_header {
                let _ = hostcalls::replace_header(
                    MapType::ResponseHeaders,
                    h.as_str().as_bytes(),
                    trace.as_bytes(),
                );
            }
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        // Envoy logs streams whose headers never reached the filter (e.g. reset early, or a local
        // reply from an earlier filter); there is no decision to record then, only the count.
        if !self.saw_headers {
            self.metrics.count("trueip.stream.", "no_headers");
        }
    }
}
