use super::*;
use crate::trust::CidrSpec;

fn err(json: &str) -> ConfigError {
    match Config::from_json(json) {
        Ok(c) => panic!("{json} should fail, parsed {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn bundled_default_parses() {
    let c = Config::from_json(DEFAULT_JSON).expect("bundled default config must parse");
    assert_eq!(c, Config::default_example());
    assert!(!c.policy.trust.proxies.is_empty());
}

#[test]
fn empty_document_is_the_safe_default() {
    let c = Config::from_json("{}").expect("empty config");
    assert_eq!(c.policy, Policy::default());
    assert!(c.policy.trust.proxies.is_empty());
    assert_eq!(c.policy.trust.hops, None);
    assert_eq!(c.policy.sources.as_slice(), &[SourceSpec::XForwardedFor]);
    assert_eq!(c.policy.actions.untrusted_headers, UntrustedHeaders::Strip);
    assert_eq!(c.policy.actions.malformed, Malformed::Reject);
    assert_eq!(c.policy.actions.all_trusted, AllTrusted::Peer);
    assert_eq!(c.policy.actions.too_few_hops, TooFewHops::Peer);
    assert_eq!(c.policy.actions.reject_status.code(), 400);
    assert_eq!(c.policy.rewrite.xff, XffMode::Append);
    assert_eq!(c.policy.rewrite.forwarded, ForwardedMode::None);
    assert!(c.policy.rewrite.strip_spoofable);
    assert_eq!(c.policy.access.status.code(), 403);
    assert_eq!(c.policy.access.body, "forbidden");
    assert!(c.policy.internal.contains("10.1.2.3".parse().expect("ip")));
    assert_eq!(c.envoy.mode, envoy::EnvoyMode::Gateway);
    assert!(c.listeners.is_empty());
    assert_eq!(c.admin, None);
}

#[test]
fn full_example_from_the_contract() {
    let c = Config::from_json(
        r#"{
          "trust":   { "proxies": ["10.0.0.0/8", "loopback", "private"], "hops": 2,
                       "identities": ["spiffe://cluster.local/ns/istio-system/sa/gw"] },
          "sources": ["forwarded", "x-forwarded-for", {"header": "X-Real-IP"}],
          "actions": { "untrusted_headers": "reject", "malformed": "peer",
                       "all_trusted": "leftmost", "too_few_hops": "reject", "reject_status": 421 },
          "internal": ["private", "loopback"],
          "rewrite": { "client_header": "X-Real-IP", "xff": "canonical", "forwarded": "canonical",
                       "strip_spoofable": false },
          "access":  { "allow": ["203.0.113.0/24"], "deny": ["203.0.113.66"], "status": 451, "body": "no" },
          "envoy":   { "mode": "sidecar" },
          "listeners": [{ "address": "0.0.0.0:8080", "protocol": "http", "upstream": "127.0.0.1:9000" }],
          "admin":   { "address": "127.0.0.1:9901" }
        }"#,
    )
    .expect("full config");
    let p = &c.policy;
    assert_eq!(p.trust.hops.map(HopCount::get), Some(2));
    assert_eq!(
        p.trust.identities[0].as_str(),
        "spiffe://cluster.local/ns/istio-system/sa/gw"
    );
    assert_eq!(
        p.sources.as_slice()[2],
        SourceSpec::Header(HeaderName::new("x-real-ip").expect("name"))
    );
    assert_eq!(
        p.rewrite.client_header.as_ref().map(HeaderName::as_str),
        Some("x-real-ip")
    );
    assert_eq!(p.actions.reject_status.code(), 421);
    assert_eq!(p.access.status.code(), 451);
    assert_eq!(c.envoy.mode, envoy::EnvoyMode::Sidecar);
    #[cfg(feature = "proxy-sections")]
    assert_eq!(
        c.listeners.first().map(|l| l.kind.protocol()),
        Some(listener::ListenerProtocol::Http)
    );
    // The filter's build accepts the proxy-only sections without reading them.
    #[cfg(not(feature = "proxy-sections"))]
    assert!(c.listeners.is_empty() && c.admin.is_none());
    // Serialising and parsing again gives the same configuration.
    assert_eq!(
        Config::from_json(&c.to_json_pretty()).expect("round trip"),
        c
    );
}

#[test]
fn every_invalid_value_names_its_path_and_value() {
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"{"trust":{"proxies":["10.0.0.0/8","loopback","10.0.0.0/33"]}}"#,
            "trust.proxies[2]",
            "\"10.0.0.0/33\"",
        ),
        (
            r#"{"trust":{"proxies":["10.0.0.1/8"]}}"#,
            "trust.proxies[0]",
            "10.0.0.0/8",
        ),
        (
            r#"{"trust":{"proxies":["Private"]}}"#,
            "trust.proxies[0]",
            "\"Private\"",
        ),
        (
            r#"{"trust":{"proxies":"10.0.0.0/8"}}"#,
            "trust.proxies",
            "sequence",
        ),
        (r#"{"trust":{"hops":0}}"#, "trust.hops", ": 0"),
        (r#"{"trust":{"hops":65}}"#, "trust.hops", ": 65"),
        (r#"{"trust":{"hops":-1}}"#, "trust.hops", "-1"),
        (
            r#"{"trust":{"identities":["istio-ingressgateway"]}}"#,
            "trust.identities[0]",
            "\"istio-ingressgateway\"",
        ),
        (
            r#"{"trust":{"identities":["spiffe://a b"]}}"#,
            "trust.identities[0]",
            "\"spiffe://a b\"",
        ),
        (
            r#"{"trust":{"proxy":[]}}"#,
            "trust.proxy",
            "unknown field `proxy`",
        ),
        (
            r#"{"sources":["x-real-ip"]}"#,
            "sources[0]",
            "\"x-real-ip\"",
        ),
        (
            r#"{"sources":[{"header":"x real ip"}]}"#,
            "sources[0].header",
            "\"x real ip\"",
        ),
        (
            r#"{"sources":[{"header":"X-Forwarded-For"}]}"#,
            "sources[0]",
            "\"x-forwarded-for\"",
        ),
        (
            r#"{"sources":[{"name":"x"}]}"#,
            "sources[0]",
            "unknown field `name`",
        ),
        (
            r#"{"sources":["forwarded","forwarded"]}"#,
            "sources",
            "forwarded (index 1)",
        ),
        (
            r#"{"actions":{"untrusted_headers":"drop"}}"#,
            "actions.untrusted_headers",
            "`drop`",
        ),
        (
            r#"{"actions":{"malformed":"leftmost"}}"#,
            "actions.malformed",
            "`leftmost`",
        ),
        (
            r#"{"actions":{"all_trusted":"first"}}"#,
            "actions.all_trusted",
            "`first`",
        ),
        (
            r#"{"actions":{"too_few_hops":"leftmost"}}"#,
            "actions.too_few_hops",
            "`leftmost`",
        ),
        (
            r#"{"actions":{"reject_status":200}}"#,
            "actions.reject_status",
            ": 200",
        ),
        (
            r#"{"actions":{"reject_status":70000}}"#,
            "actions.reject_status",
            ": 70000",
        ),
        (
            r#"{"internal":["10.0.0.0/8","everything"]}"#,
            "internal[1]",
            "\"everything\"",
        ),
        (
            r#"{"rewrite":{"client_header":""}}"#,
            "rewrite.client_header",
            "\"\"",
        ),
        (
            r#"{"rewrite":{"xff":"prepend"}}"#,
            "rewrite.xff",
            "`prepend`",
        ),
        (
            r#"{"rewrite":{"forwarded":"keep"}}"#,
            "rewrite.forwarded",
            "`keep`",
        ),
        (
            r#"{"rewrite":{"strip_spoofable":"yes"}}"#,
            "rewrite.strip_spoofable",
            "\"yes\"",
        ),
        (
            r#"{"access":{"allow":["203.0.113.0/24","::/129"]}}"#,
            "access.allow[1]",
            "\"::/129\"",
        ),
        (r#"{"access":{"deny":[1]}}"#, "access.deny[0]", "1"),
        (r#"{"access":{"status":302}}"#, "access.status", ": 302"),
        (r#"{"envoy":{"mode":"edge"}}"#, "envoy.mode", "`edge`"),
        (r#"{"tust":{}}"#, "tust", "unknown field `tust`"),
    ];
    assert_errors(cases);
}

/// Invalid proxy-only sections, as `(document, field path, text the message must contain)`.
const PROXY_SECTION_CASES: &[(&str, &str, &str)] = &[
    (
        r#"{"listeners":[{"address":"0.0.0.0:80","protocol":"udp","upstream":"127.0.0.1:1"}]}"#,
        "listeners[0].protocol",
        "`udp`",
    ),
    (
        r#"{"listeners":[{"address":"0.0.0.0","protocol":"http","upstream":"127.0.0.1:1"}]}"#,
        "listeners[0].address",
        "0.0.0.0",
    ),
    (
        r#"{"admin":{"address":"localhost:9901"}}"#,
        "admin.address",
        "localhost:9901",
    ),
];

#[cfg(feature = "proxy-sections")]
#[test]
fn invalid_proxy_sections_name_their_path_and_value() {
    assert_errors(PROXY_SECTION_CASES);
}

/// Without `proxy-sections` (the filter's build) the proxy-only sections are accepted without being read,
/// however wrong, and come out empty.
#[cfg(not(feature = "proxy-sections"))]
#[test]
fn proxy_sections_are_accepted_unread_without_the_feature() {
    for (json, _, _) in PROXY_SECTION_CASES {
        let c = Config::from_json(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert!(c.listeners.is_empty(), "{json}");
        assert_eq!(c.admin, None, "{json}");
    }
}

/// Each document fails to load with the field path and a message that contains the needle.
fn assert_errors(cases: &[(&str, &str, &str)]) {
    for (json, path, needle) in cases {
        let e = err(json);
        assert_eq!(e.path, *path, "{json}: {e}");
        assert!(e.message.contains(needle), "{json}: {e:?} lacks {needle:?}");
        if !path.is_empty() {
            assert!(e.to_string().starts_with(&format!("{path}: ")), "{e}");
        }
    }
}

#[test]
fn syntax_errors_say_where() {
    let e = err(r#"{"trust": "#);
    assert!(e.message.contains("line 1"), "{e}");
    let e = err("not json");
    assert_eq!(e.path, "");
    assert!(e.message.contains("line 1 column"), "{e}");
}

#[test]
fn header_names_are_lowercased() {
    let c = Config::from_json(r#"{"sources":[{"header":"CF-Connecting-IP"}]}"#).expect("config");
    assert_eq!(
        c.policy.sources.as_slice(),
        &[SourceSpec::Header(
            HeaderName::new("cf-connecting-ip").expect("name")
        )]
    );
}

#[test]
fn specs_are_kept_for_display() {
    let c =
        Config::from_json(r#"{"trust":{"proxies":["private","192.0.2.1","::ffff:10.0.0.0/104"]}}"#)
            .expect("config");
    let shown: Vec<String> = c
        .policy
        .trust
        .proxies
        .specs()
        .iter()
        .map(CidrSpec::to_string)
        .collect();
    assert_eq!(shown, vec!["private", "192.0.2.1/32", "10.0.0.0/8"]);
}

#[test]
fn repeated_keys_are_errors_at_their_path() {
    assert_errors(&[
        (
            r#"{"trust":{},"trust":{"proxies":["0.0.0.0/0"]}}"#,
            "trust",
            "duplicate field `trust`",
        ),
        (
            r#"{"access":{"status":403,"status":200}}"#,
            "access.status",
            "duplicate field `status`",
        ),
        (
            r#"{"sources":[{"header":"x-a","header":"x-b"}]}"#,
            "sources[0]",
            "duplicate field `header`",
        ),
    ]);
}

#[test]
fn null_means_absent_only_for_optional_fields() {
    let c = Config::from_json(
        r#"{"trust":{"hops":null},"internal":null,"rewrite":{"client_header":null},"envoy":{"debug_header":null},"admin":null}"#,
    )
    .expect("nulls for optional fields");
    assert_eq!(c.policy, Policy::default());
    assert_errors(&[
        (
            r#"{"rewrite":{"xff":null}}"#,
            "rewrite.xff",
            "invalid type: null",
        ),
        (
            r#"{"trust":null}"#,
            "trust",
            "invalid type: null, expected a map",
        ),
        (r#"{"access":{"allow":null}}"#, "access.allow", "null"),
    ]);
}

#[test]
fn wrong_json_types_show_the_value() {
    assert_errors(&[
        (
            r#"{"trust":{"hops":2.5}}"#,
            "trust.hops",
            "floating point `2.5`",
        ),
        (
            r#"{"trust":{"hops":2.0}}"#,
            "trust.hops",
            "floating point `2.0`",
        ),
        (
            r#"{"actions":{"reject_status":"400"}}"#,
            "actions.reject_status",
            "string \"400\"",
        ),
        (r#"{"envoy":{"mode":true}}"#, "envoy.mode", "boolean `true`"),
        (r#"{"sources":"forwarded"}"#, "sources", "a list of sources"),
        (r#"{"sources":[7]}"#, "sources[0]", "integer `7`"),
        (r#"{"access":{"body":[]}}"#, "access.body", "sequence"),
        (r#"[]"#, "", "invalid type: sequence, expected a map"),
    ]);
}

#[test]
fn deep_nesting_is_a_syntax_error_not_a_stack_overflow() {
    let json = format!(
        "{{\"trust\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let e = err(&json);
    assert_eq!(e.path, "");
    assert!(e.message.contains("recursion limit"), "{e}");
}

#[cfg(feature = "proxy-sections")]
#[test]
fn proxy_sections_keep_their_path_and_refuse_repeated_keys() {
    assert_errors(&[
        (
            r#"{"listeners":[{"address":"0.0.0.0:80","address":"0.0.0.0:81","protocol":"echo"}]}"#,
            "listeners[0].address",
            "duplicate field `address`",
        ),
        (r#"{"listeners":{}}"#, "listeners", "sequence"),
        (
            r#"{"admin":{"address":"127.0.0.1:1","x":1}}"#,
            "admin.x",
            "unknown field `x`",
        ),
    ]);
}
