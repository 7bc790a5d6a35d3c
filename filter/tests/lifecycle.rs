//! The filter's life in Envoy: configuration, callback orders, failures and the failure policies.
// Integration tests fail by panicking; the library-code lints do not apply here.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

mod common;

use common::{conn, field, get, plugin, plugin_with, status};
use trueip_wasm_harness::{
    CompiledModule, FailurePolicy, FilterOutcome, LoadError, PluginOptions, PluginState, Teardown,
    WasiProfile,
};

const TRUSTED_LB: &str = r#"{"trust":{"proxies":["10.0.0.0/8"]}}"#;

#[test]
fn bad_config_logs_one_precise_error_and_fails_the_plugin() {
    let mut p = plugin(r#"{"trust":{"proxies":["10.0.0.0/33"]}}"#);
    assert_eq!(
        p.state(),
        &PluginState::StartFailed("on_configure returned false".to_owned())
    );
    let errors: Vec<_> = p.logs().iter().filter(|l| l.level >= 4).collect();
    assert_eq!(errors.len(), 1, "{:?}", p.logs());
    assert!(
        errors[0].message.contains("trust.proxies[0]"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[0].message.contains("10.0.0.0/33"),
        "{}",
        errors[0].message
    );
    assert_eq!(
        p.metrics().get("trueip.config_error").map(|m| m.value),
        Some(1)
    );
    // FAIL_CLOSE (Istio's default): requests are answered 503 without reaching the upstream.
    let ex = p.handle(&get("10.0.0.2:5000", &[]));
    assert_eq!(status(&ex), 503);
    assert!(ex.upstream_request.is_none());
    assert_eq!(ex.outcome, FilterOutcome::FailedStream);
}

#[test]
fn sidecar_mode_without_identities_is_refused() {
    let p = plugin(r#"{"envoy":{"mode":"sidecar"}}"#);
    assert!(matches!(p.state(), PluginState::StartFailed(_)));
    assert!(
        p.logs()
            .iter()
            .any(|l| l.message.contains("trust.identities is empty")),
        "{:?}",
        p.logs()
    );
}

#[test]
fn non_utf8_and_unknown_fields_are_refused() {
    let p = plugin_with(PluginOptions::new(b"{\"trust\":\xff}".to_vec()));
    assert!(matches!(p.state(), PluginState::StartFailed(_)));
    let p = plugin(r#"{"trust":{},"bogus":1}"#);
    assert!(
        p.logs().iter().any(|l| l.message.contains("bogus")),
        "{:?}",
        p.logs()
    );
}

#[test]
fn empty_config_runs_the_default_policy() {
    let mut p = plugin("");
    assert_eq!(p.state(), &PluginState::Running);
    let ex = p.handle(&get("198.51.100.7:4000", &[("x-forwarded-for", "1.2.3.4")]));
    assert_eq!(field(&ex, "client").as_deref(), Some("198.51.100.7"));
}

#[test]
fn on_log_before_or_after_on_done_gives_the_same_result() {
    let mut p = plugin(TRUSTED_LB);
    let mut req = get("10.0.0.2:5000", &[("x-forwarded-for", "203.0.113.9")]);
    let a = p.handle(&req);
    req.teardown = Teardown::DoneThenLog;
    let b = p.handle(&req);
    assert_eq!(a.filter_state, b.filter_state);
    assert_eq!(a.upstream_request, b.upstream_request);
    assert_eq!(p.state(), &PluginState::Running);
    assert_eq!(p.live_streams(), 0);
}

#[test]
fn streams_the_filter_never_saw_are_logged_without_harm() {
    let mut p = plugin(TRUSTED_LB);
    assert_eq!(
        p.abandoned_stream(&conn("10.0.0.2:1"), Teardown::LogThenDone),
        FilterOutcome::Ran
    );
    assert_eq!(
        p.abandoned_stream(&conn("10.0.0.2:1"), Teardown::DoneThenLog),
        FilterOutcome::Ran
    );
    assert_eq!(
        p.metrics().get("trueip.stream.no_headers").map(|m| m.value),
        Some(2)
    );
    assert_eq!(p.state(), &PluginState::Running);
}

#[test]
fn a_module_importing_more_than_envoy_offers_does_not_load() {
    // (module (import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32))))
    let wasm = [
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x08, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, // type section
        0x02, 0x26, 0x01, 0x16, // import section, one import, module name length 22
        b'w', b'a', b's', b'i', b'_', b's', b'n', b'a', b'p', b's', b'h', b'o', b't', b'_', b'p',
        b'r', b'e', b'v', b'i', b'e', b'w', b'1', 0x0b, b's', b'o', b'c', b'k', b'_', b'a', b'c',
        b'c', b'e', b'p', b't', 0x00, 0x00,
    ];
    match CompiledModule::new(&wasm, WasiProfile::Current) {
        Err(LoadError::MissingImport { module, name }) => {
            assert_eq!(
                (module.as_str(), name.as_str()),
                ("wasi_snapshot_preview1", "sock_accept")
            );
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("loaded a module Envoy refuses"),
    }
}

/// Memory past the cap traps (as in V8): the host's allocation for a 2 MiB header fails inside the VM.
fn capped(policy: FailurePolicy) -> trueip_wasm_harness::Plugin {
    let mut probe = plugin(TRUSTED_LB);
    let base = probe.memory_bytes();
    let mut options = PluginOptions::new(TRUSTED_LB);
    options.memory_limit = base + (1 << 20);
    options.failure_policy = policy;
    plugin_with(options)
}

fn huge() -> trueip_wasm_harness::Request {
    let big = "1".repeat(2 << 20);
    get("10.0.0.2:5000", &[("x-big", big.as_str())])
}

#[test]
fn trap_with_fail_close_answers_503_from_then_on() {
    let mut p = capped(FailurePolicy::FailClose);
    let ex = p.handle(&huge());
    assert_eq!(status(&ex), 503);
    assert_eq!(
        ex.response.as_ref().and_then(|r| r.details.as_deref()),
        Some("wasm_fail_stream")
    );
    assert!(matches!(p.state(), PluginState::Failed(_)));
    let ex = p.handle(&get("10.0.0.2:5000", &[]));
    assert_eq!(status(&ex), 503);
    assert!(ex.upstream_request.is_none());
}

#[test]
fn trap_with_fail_open_skips_the_filter() {
    let mut p = capped(FailurePolicy::FailOpen);
    let ex = p.handle(&huge());
    assert_eq!(ex.outcome, FilterOutcome::Skipped);
    assert!(ex.upstream_request.is_some());
    let ex = p.handle(&get("10.0.0.2:5000", &[("x-forwarded-for", "203.0.113.9")]));
    assert_eq!(ex.outcome, FilterOutcome::Skipped);
    assert_eq!(status(&ex), 200);
    assert!(ex.filter_state.is_empty());
}

#[test]
fn trap_with_fail_reload_starts_a_fresh_vm_and_keeps_stats() {
    let mut p = capped(FailurePolicy::FailReload);
    let ok = get("10.0.0.2:5000", &[("x-forwarded-for", "203.0.113.9")]);
    p.handle(&ok);
    assert_eq!(status(&p.handle(&huge())), 503);
    let ex = p.handle(&ok);
    assert_eq!(ex.outcome, FilterOutcome::Ran);
    assert_eq!(p.vm_starts(), 2);
    assert_eq!(field(&ex, "client").as_deref(), Some("203.0.113.9"));
    assert_eq!(
        p.metrics()
            .get("trueip.decision.x-forwarded-for")
            .map(|m| m.value),
        Some(2)
    );
}

#[test]
fn a_callback_past_its_cpu_budget_traps() {
    let mut options = PluginOptions::new(TRUSTED_LB);
    options.fuel_per_callback = 2_000;
    let mut p = plugin_with(options);
    // Start-up itself needs more than 2 000 units, so the plugin never starts: CPU is bounded per callback.
    assert!(
        matches!(p.state(), PluginState::StartFailed(m) if m.contains("fuel")),
        "{:?}",
        p.state()
    );
    assert_eq!(status(&p.handle(&get("10.0.0.2:5000", &[]))), 503);
}

#[test]
fn proxy_only_sections_are_accepted_without_being_read() {
    // The filter links the core without its `proxy-sections` feature: one document serves the proxy
    // and the filter, and the filter does not validate what only the proxy reads.
    let mut p = plugin(
        r#"{"trust":{"proxies":["10.0.0.0/8"]},"listeners":[{"not":"read here"}],"admin":{"bind":1}}"#,
    );
    assert_eq!(p.state(), &PluginState::Running);
    let ex = p.handle(&get("10.0.0.2:5000", &[("x-forwarded-for", "203.0.113.9")]));
    assert_eq!(field(&ex, "client").as_deref(), Some("203.0.113.9"));
    // Unknown top-level fields are still refused.
    assert!(matches!(
        plugin(r#"{"listener":[]}"#).state(),
        PluginState::StartFailed(_)
    ));
}

#[test]
fn detached_request_headers_are_a_status_not_a_trap() {
    // Every request-header hostcall answers BadArgument (as Envoy does after Continue): the filter
    // counts the error, logs a warning and lets the request through; the VM keeps running.
    let mut options = PluginOptions::new(TRUSTED_LB);
    options.detach_request_headers = true;
    let mut p = plugin_with(options);
    for _ in 0..2 {
        let ex = p.handle(&get("10.0.0.2:5000", &[("x-forwarded-for", "203.0.113.9")]));
        assert_eq!(ex.outcome, FilterOutcome::Ran);
        assert_eq!(status(&ex), 200);
        assert!(ex.upstream_request.is_some());
    }
    assert_eq!(p.state(), &PluginState::Running);
    assert_eq!(
        p.metrics()
            .get("trueip.error.request_headers")
            .map(|m| m.value),
        Some(2)
    );
    assert!(
        p.logs()
            .iter()
            .any(|l| l.message.contains("hostcall failed: request_headers")),
        "{:?}",
        p.logs()
    );
}

/// Envoy puts the buffers it hands the module in memory from the module's `malloc` if it exports one,
/// else from `proxy_on_memory_allocate` (cpp-host `WasmBase::getFunctions`). The filter frees them to its
/// own heap (`src/alloc.rs`: size-class lists in front of the C allocator), so a C `malloc` export would
/// put blocks of the wrong size on those lists: the module must leave `malloc` unexported.
#[test]
fn the_host_allocates_through_the_filters_own_heap() {
    let exports = common::compiled().export_names();
    assert!(exports.iter().any(|e| e == "proxy_on_memory_allocate"));
    assert!(!exports.iter().any(|e| e == "malloc"), "{exports:?}");
}
