//! The trueip proxy-wasm HTTP filter for Envoy and Istio.
//!
//! It decides the real client IP of each request under the same trusted-proxy rules and the same JSON
//! configuration as the native proxy (crate `trueip`), and applies the decision: the client-IP header,
//! the X-Forwarded-For / `Forwarded` rewrite, removal of spoofable headers from untrusted callers,
//! allow/deny as a local reply, the decision in filter state (`wasm.trueip`) and, for a trusted caller
//! who asks, a debug response header. See `envoy/README.md` for the Envoy/Istio settings it needs and
//! for what it cannot do (Envoy's own remote address, RBAC and `remoteIpBlocks` are unaffected).
//!
//! The filter never panics: a panic aborts the VM and, with Istio's default FAIL_CLOSE, every later
//! request gets a 503. Headers are read as bytes through [`hostcalls`], which return statuses instead of
//! panicking like the SDK's wrappers.
// `unsafe` is needed in exactly two modules, the ABI (`hostcalls`) and the heap (`alloc`); everywhere
// else it is denied.
#![deny(unsafe_code)]

// The heap is the module's: on the host only its tests use it.
#[cfg(any(target_arch = "wasm32", test))]
mod alloc;
mod bytes;
mod envoy_append;
mod envoy_lines;
mod external_address;
mod hostcalls;
mod http;
mod metrics;
mod pairs;
mod peer;
mod root;
mod settings;
mod summary;

/// The module's `_initialize`: only registers the root context (Envoy restricts hostcalls here).
// The macro's exported function has no doc comment of its own.
#[allow(missing_docs, unreachable_pub)]
mod entry {
    proxy_wasm::main! {{
        proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
            Box::new(crate::root::Root::default())
        });
    }}
}
