//! Transparent proxying, proved with the real `trueip` binary in throwaway network namespaces.
//!
//! Topology (see `support/netns.rs`): client 10.200.1.2 / fd00:200:1::2 -- proxy -- server
//! 10.200.2.2 / fd00:200:2::2; the client and the server route through the proxy. The server
//! answers every connection with the peer address its socket saw.

mod support;

use std::io::Write as _;
use std::net::IpAddr;

use support::netns::{Logs, PEER_QUERY, Topology, addr, peer_echo, read_all, seen_peer, trueip};

const TPROXY_PORT: &str = "15001";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// Starts `trueip tproxy` in the proxy namespace and waits until every listener is up.
fn start_tproxy(topo: &mut Topology, extra: &[&str]) -> Logs {
    let mut argv = vec![trueip(), "tproxy"];
    argv.extend_from_slice(extra);
    let listeners = extra.iter().filter(|a| **a == "--listen").count();
    let logs = topo.spawn("proxy", &argv);
    logs.wait_for_count("transparent listener ready", listeners);
    logs
}

/// Installs the interception for the server's networks on port 8080.
fn net_setup(topo: &Topology, backend: &str) {
    topo.exec_ok("proxy", &plan_argv("setup", backend));
}

fn plan_argv(action: &'static str, backend: &str) -> Vec<&'static str> {
    let backend: &'static str = if backend == "nft" { "nft" } else { "iptables" };
    vec![
        trueip(),
        "net",
        action,
        "--backend",
        backend,
        "--port",
        TPROXY_PORT,
        "--dport",
        "8080",
        "--dest",
        "10.200.2.0/24",
        "--dest",
        "fd00:200:2::/64",
    ]
}

/// A TCP exchange: connect from the client to the server's address, read the server's answer.
fn peer_seen_over_tcp(topo: &Topology, server: &str) -> Option<IpAddr> {
    let mut stream = topo.connect("client", server).expect("client connects");
    stream.write_all(PEER_QUERY).expect("send query");
    seen_peer(&read_all(stream))
}

/// An HTTP exchange over the same path.
fn peer_seen_over_http(topo: &Topology, server: &str, host: &str) -> Option<IpAddr> {
    let mut stream = topo.connect("client", server).expect("client connects");
    write!(
        stream,
        "GET /ip HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let response = read_all(stream);
    assert!(
        response.starts_with("HTTP/1.1 200 OK\r\n"),
        "not an HTTP answer: {response:?}"
    );
    seen_peer(&response)
}

#[test]
fn redirect_style_interception_shows_the_proxy_address_to_the_server() {
    // The symptom this mode exists to fix: with REDIRECT (Istio's default), the proxy connects
    // upstream from its own address and the application never sees the client.
    let mut topo = Topology::new();
    peer_echo(topo.listen("server", "0.0.0.0:8080"));
    topo.exec_ok(
        "proxy",
        &["nft", "add table ip redirect_demo; add chain ip redirect_demo pre { type nat hook prerouting priority dstnat; }; \
          add rule ip redirect_demo pre ip daddr 10.200.2.2 tcp dport 8080 redirect to :15001"],
    );
    start_tproxy(
        &mut topo,
        &[
            "--listen",
            "0.0.0.0:15001",
            "--upstream",
            "10.200.2.2:8080",
            "--source",
            "proxy",
        ],
    );
    assert_eq!(
        peer_seen_over_tcp(&topo, "10.200.2.2:8080"),
        Some(ip(addr::PROXY_S4))
    );
}

fn tproxy_preserves_the_client(backend: &str) {
    let mut topo = Topology::new();
    peer_echo(topo.listen("server", "0.0.0.0:8080"));
    peer_echo(topo.listen("server", "[::]:8080"));
    net_setup(&topo, backend);
    start_tproxy(
        &mut topo,
        &["--listen", "0.0.0.0:15001", "--listen", "[::]:15001"],
    );

    assert_eq!(
        peer_seen_over_tcp(&topo, "10.200.2.2:8080"),
        Some(ip(addr::CLIENT4)),
        "ipv4 tcp"
    );
    assert_eq!(
        peer_seen_over_tcp(&topo, "[fd00:200:2::2]:8080"),
        Some(ip(addr::CLIENT6)),
        "ipv6 tcp"
    );
    assert_eq!(
        peer_seen_over_http(&topo, "10.200.2.2:8080", "10.200.2.2"),
        Some(ip(addr::CLIENT4)),
        "ipv4 http"
    );
    assert_eq!(
        peer_seen_over_http(&topo, "[fd00:200:2::2]:8080", "[fd00:200:2::2]"),
        Some(ip(addr::CLIENT6)),
        "ipv6 http"
    );
}

#[test]
fn tproxy_with_nftables_rules_shows_the_client_address_to_the_server() {
    tproxy_preserves_the_client("nft");
}

#[test]
fn tproxy_with_iptables_rules_shows_the_client_address_to_the_server() {
    tproxy_preserves_the_client("iptables");
}

fn setup_is_idempotent_and_check_names_what_is_missing(backend: &str) {
    let topo = Topology::new();
    let check = plan_argv("check", backend);
    let before = topo.exec("proxy", &check);
    assert_eq!(before.status.code(), Some(1), "check before setup fails");
    let report = String::from_utf8_lossy(&before.stdout);
    assert!(
        report.contains("MISSING  routing rule: ip -4 rule add fwmark 0x100/0x100 lookup 100"),
        "{report}"
    );

    net_setup(&topo, backend);
    net_setup(&topo, backend); // a second run changes nothing and still verifies
    let after = topo.exec("proxy", &check);
    assert_eq!(
        after.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&after.stdout)
    );
    if backend == "iptables" {
        let rules = topo.exec_ok("proxy", &["iptables", "-t", "mangle", "-S", "PREROUTING"]);
        let jumps = String::from_utf8_lossy(&rules.stdout)
            .matches("-j TRUEIP_PREROUTING")
            .count();
        assert_eq!(jumps, 1, "setup twice installs one jump");
    }

    // Remove one piece by hand: check reports exactly that piece.
    topo.exec_ok(
        "proxy",
        &[
            "ip",
            "-6",
            "rule",
            "del",
            "fwmark",
            "0x100/0x100",
            "lookup",
            "100",
        ],
    );
    let partial = topo.exec("proxy", &check);
    assert_eq!(partial.status.code(), Some(1));
    let report = String::from_utf8_lossy(&partial.stdout);
    let missing: Vec<&str> = report.lines().filter(|l| l.contains("MISSING")).collect();
    assert_eq!(
        missing,
        ["  MISSING  routing rule: ip -6 rule add fwmark 0x100/0x100 lookup 100"]
    );

    topo.exec_ok("proxy", &plan_argv("teardown", backend));
    topo.exec_ok("proxy", &plan_argv("teardown", backend)); // removing nothing is fine
    let gone = topo.exec("proxy", &check);
    let report = String::from_utf8_lossy(&gone.stdout);
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        !report
            .lines()
            .any(|l| l.contains(" ok ") && !l.contains("loopback")),
        "left behind:\n{report}"
    );
}

#[test]
fn nft_setup_is_idempotent_and_check_names_what_is_missing() {
    setup_is_idempotent_and_check_names_what_is_missing("nft");
}

#[test]
fn iptables_setup_is_idempotent_and_check_names_what_is_missing() {
    setup_is_idempotent_and_check_names_what_is_missing("iptables");
}

#[test]
fn redirect_rules_in_pass_through_mode_are_refused_with_a_clear_error() {
    // REDIRECT rewrites the destination to the listener itself; "forward to the original
    // destination" would connect to ourselves. The proxy says so and closes, instead of looping
    // or silently behaving like REDIRECT.
    let mut topo = Topology::new();
    peer_echo(topo.listen("server", "0.0.0.0:8080"));
    topo.exec_ok(
        "proxy",
        &["nft", "add table ip redirect_demo; add chain ip redirect_demo pre { type nat hook prerouting priority dstnat; }; \
          add rule ip redirect_demo pre ip daddr 10.200.2.2 tcp dport 8080 redirect to :15001"],
    );
    let logs = start_tproxy(&mut topo, &["--listen", "0.0.0.0:15001"]);
    let stream = topo
        .connect("client", "10.200.2.2:8080")
        .expect("accepted by the proxy");
    assert_eq!(read_all(stream), "", "closed without forwarding");
    let line = logs.wait_for("not intercepted by TPROXY");
    assert!(line.contains("trueip net setup"), "{line}");
}

#[test]
fn missing_capability_is_a_clear_startup_error() {
    let topo = Topology::new();
    let drop_caps = [
        "setpriv",
        "--inh-caps=-all",
        "--bounding-set=-net_admin,-net_raw",
    ];
    let mut argv = drop_caps.to_vec();
    argv.extend([trueip(), "tproxy", "--listen", "0.0.0.0:15001"]);
    let out = topo.exec("proxy", &argv);
    assert_eq!(out.status.code(), Some(77));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "trueip: listener \"tproxy-0\": cannot bind 0.0.0.0:15001: setting IP_TRANSPARENT on a \
         socket for 0.0.0.0:15001 was refused: the process needs CAP_NET_ADMIN or CAP_NET_RAW (run as \
         root or grant the capability)"
    );

    let mut argv = drop_caps.to_vec();
    argv.extend(plan_argv("setup", "nft"));
    let out = topo.exec("proxy", &argv);
    assert_eq!(out.status.code(), Some(77));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("trueip net setup: CAP_NET_ADMIN is required to setup the interception"),
        "{stderr}"
    );
}

#[test]
fn unreachable_upstream_closes_the_client_and_says_why() {
    let mut topo = Topology::new();
    net_setup(&topo, "nft");
    // Nothing listens on the server's port 8080: the server answers the SYN with a reset.
    let logs = start_tproxy(
        &mut topo,
        &["--listen", "0.0.0.0:15001", "--listen", "[::]:15001"],
    );
    let stream = topo
        .connect("client", "10.200.2.2:8080")
        .expect("accepted by the proxy");
    assert_eq!(read_all(stream), "");
    let line = logs.wait_for("upstream connect failed");
    assert!(
        line.contains("connect to 10.200.2.2:8080 failed: Connection refused"),
        "{line}"
    );
    assert!(line.contains("10.200.2.2:8080"), "{line}");
}

#[test]
fn missing_return_route_is_reported_as_such() {
    // The server has no route back to the client's network except through the proxy; take it
    // away and the SYN-ACK to the (transparent) client address goes nowhere.
    let mut topo = Topology::new();
    peer_echo(topo.listen("server", "0.0.0.0:8080"));
    net_setup(&topo, "nft");
    topo.exec_ok("server", &["ip", "-4", "route", "del", "default"]);
    let logs = start_tproxy(
        &mut topo,
        &["--listen", "0.0.0.0:15001", "--connect-timeout-ms", "1000"],
    );
    let stream = topo
        .connect("client", "10.200.2.2:8080")
        .expect("accepted by the proxy");
    assert_eq!(read_all(stream), "");
    let line = logs.wait_for("upstream connect failed");
    assert!(
        line.contains("transparent connect from 10.200.1.2 to 10.200.2.2:8080 got no answer"),
        "{line}"
    );
    assert!(
        line.contains("check return routing (`trueip net check`)"),
        "{line}"
    );
}

fn proxy_v2_header(source: &str, destination: &str) -> Vec<u8> {
    use trueip::proxy_protocol::{Addresses, Transport, V2Builder};
    let addresses = Addresses::Inet {
        source: source.parse().expect("source"),
        destination: destination.parse().expect("destination"),
    };
    V2Builder::proxy(Transport::Stream, addresses)
        .encode()
        .expect("encode PROXY v2")
}

#[test]
fn proxy_v2_from_a_load_balancer_becomes_the_source_address_of_a_plain_upstream() {
    // The go-mmproxy job: the load balancer speaks PROXY v2 to trueip; the server speaks no
    // PROXY at all, yet its socket's peer is the client named in the header.
    let mut topo = Topology::new();
    peer_echo(topo.listen("server", "0.0.0.0:8080"));
    peer_echo(topo.listen("server", "[::]:8080"));
    net_setup(&topo, "nft"); // return path: replies to the client's address reach our socket
    start_tproxy(
        &mut topo,
        &[
            "--listen",
            "10.200.3.1:15002",
            "--upstream",
            "10.200.2.2:8080",
            "--proxy-protocol",
        ],
    );
    start_tproxy(
        &mut topo,
        &[
            "--listen",
            "[fd00:200:3::1]:15002",
            "--upstream",
            "[fd00:200:2::2]:8080",
            "--proxy-protocol",
        ],
    );

    for (proxy, client, dest) in [
        ("10.200.3.1:15002", "10.200.1.2:5555", "10.200.3.1:15002"),
        (
            "[fd00:200:3::1]:15002",
            "[fd00:200:1::2]:5555",
            "[fd00:200:3::1]:15002",
        ),
    ] {
        let mut stream = topo.connect("lb", proxy).expect("lb connects");
        let mut first = proxy_v2_header(client, dest);
        first.extend_from_slice(PEER_QUERY); // application bytes in the same segment are replayed
        stream.write_all(&first).expect("send header");
        let client_ip: std::net::SocketAddr = client.parse().expect("client");
        assert_eq!(
            seen_peer(&read_all(stream)),
            Some(client_ip.ip()),
            "through {proxy}"
        );
    }
}

#[test]
fn a_bad_proxy_header_is_refused_and_the_connection_closed() {
    let mut topo = Topology::new();
    peer_echo(topo.listen("server", "0.0.0.0:8080"));
    let logs = start_tproxy(
        &mut topo,
        &[
            "--listen",
            "10.200.3.1:15002",
            "--upstream",
            "10.200.2.2:8080",
            "--proxy-protocol",
        ],
    );
    let mut stream = topo.connect("lb", "10.200.3.1:15002").expect("lb connects");
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("send");
    assert_eq!(read_all(stream), "");
    let line = logs.wait_for("rejected in the PROXY stage");
    assert!(line.contains("not a PROXY protocol header"), "{line}");
}

#[test]
fn sidecar_mode_the_application_in_the_proxys_namespace_sees_the_client() {
    // The Istio-sidecar shape: the application listens in the same namespace as the proxy. The
    // proxy's transparent connect to it goes over loopback, and the application's reply (to the
    // client's foreign address) must be rerouted back to the proxy by the return-path rules.
    let mut topo = Topology::new();
    peer_echo(topo.listen("proxy", "10.200.1.1:8080"));
    peer_echo(topo.listen("proxy", "[fd00:200:1::1]:8080"));
    topo.exec_ok(
        "proxy",
        &[
            trueip(),
            "net",
            "setup",
            "--port",
            TPROXY_PORT,
            "--dport",
            "8080",
            "--in-iface",
            &format!("{}pc", topo.id),
        ],
    );
    let logs = start_tproxy(
        &mut topo,
        &[
            "--listen",
            "0.0.0.0:15001",
            "--listen",
            "[::]:15001",
            "--connect-timeout-ms",
            "1000",
        ],
    );
    assert_eq!(
        peer_seen_over_tcp(&topo, "10.200.1.1:8080"),
        Some(ip(addr::CLIENT4)),
        "ipv4"
    );
    assert_eq!(
        peer_seen_over_tcp(&topo, "[fd00:200:1::1]:8080"),
        Some(ip(addr::CLIENT6)),
        "ipv6"
    );

    // Without the return-path rules the application's reply leaves towards the client directly,
    // the proxy's connect never completes, and it says why.
    topo.exec_ok(
        "proxy",
        &["nft", "flush", "chain", "inet", "trueip", "output"],
    );
    let stream = topo
        .connect("client", "10.200.1.1:8080")
        .expect("accepted by the proxy");
    assert_eq!(read_all(stream), "");
    let line = logs.wait_for("upstream connect failed");
    assert!(
        line.contains("transparent connect from 10.200.1.2 to 10.200.1.1:8080 got no answer"),
        "{line}"
    );
}

/// Starts `trueip run --config` in the proxy namespace and waits for `listeners` listeners.
fn start_run(topo: &mut Topology, config: &str, listeners: usize) -> Logs {
    let path = topo.write_file("config.json", config);
    let logs = topo.spawn(
        "proxy",
        &[trueip(), "run", "--config", &path, "--workers", "1"],
    );
    logs.wait_for_count("listening", listeners);
    logs
}

#[test]
fn configured_tproxy_and_proxy_protocol_listeners_preserve_the_client() {
    // The same two jobs as above, through `trueip run` and the JSON listener configuration:
    // a pass-through TPROXY tcp listener per family, and a PROXY-requiring listener with a
    // transparent upstream.
    let mut topo = Topology::new();
    peer_echo(topo.listen("server", "0.0.0.0:8080"));
    peer_echo(topo.listen("server", "[::]:8080"));
    net_setup(&topo, "nft");
    let config = r#"{
      "trust": { "proxies": ["10.200.3.0/24"] },
      "listeners": [
        { "name": "tproxy4", "address": "0.0.0.0:15001", "protocol": "tcp",
          "transparent": { "interception": "tproxy" } },
        { "name": "tproxy6", "address": "[::]:15001", "protocol": "tcp",
          "transparent": { "interception": "tproxy" } },
        { "name": "mmproxy", "address": "10.200.3.1:15002", "protocol": "tcp",
          "proxy_protocol": { "default": "require" },
          "upstream": { "address": "10.200.2.2:8080" },
          "transparent": { "upstream_source": "client" } }
      ]
    }"#;
    start_run(&mut topo, config, 3);
    assert_eq!(
        peer_seen_over_tcp(&topo, "10.200.2.2:8080"),
        Some(ip(addr::CLIENT4)),
        "ipv4 pass-through"
    );
    assert_eq!(
        peer_seen_over_tcp(&topo, "[fd00:200:2::2]:8080"),
        Some(ip(addr::CLIENT6)),
        "ipv6 pass-through"
    );

    let mut stream = topo.connect("lb", "10.200.3.1:15002").expect("lb connects");
    let mut first = proxy_v2_header("10.200.1.2:5555", "10.200.3.1:15002");
    first.extend_from_slice(PEER_QUERY);
    stream.write_all(&first).expect("send header");
    assert_eq!(
        seen_peer(&read_all(stream)),
        Some(ip(addr::CLIENT4)),
        "PROXY v2 -> transparent upstream"
    );
}

#[test]
fn configured_tproxy_http_listener_decides_the_client_from_the_real_peer() {
    // An http listener behind TPROXY sees the real client as its TCP peer, so the client IP it
    // decides (and writes into X-Real-IP) is the client's even though it connects upstream from
    // its own address.
    let mut topo = Topology::new();
    peer_echo(topo.listen("server", "0.0.0.0:8081"));
    topo.exec_ok(
        "proxy",
        &[
            trueip(),
            "net",
            "setup",
            "--port",
            "15003",
            "--family",
            "ipv4",
            "--dport",
            "8081",
            "--dest",
            "10.200.2.0/24",
        ],
    );
    let config = r#"{
      "rewrite": { "client_header": "x-real-ip", "xff": "append" },
      "listeners": [
        { "name": "tproxy-http", "address": "0.0.0.0:15003", "protocol": "http",
          "upstream": { "address": "10.200.2.2:8081" },
          "transparent": { "interception": "tproxy", "upstream_source": "proxy" } }
      ]
    }"#;
    start_run(&mut topo, config, 1);
    let mut stream = topo
        .connect("client", "10.200.2.2:8081")
        .expect("client connects");
    write!(
        stream,
        "GET /ip HTTP/1.1\r\nHost: 10.200.2.2\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let response = read_all(stream);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response:?}");
    assert!(
        response.contains(&format!("x-real-ip={}\n", addr::CLIENT4)),
        "{response}"
    );
    assert_eq!(
        seen_peer(&response),
        Some(ip(addr::PROXY_S4)),
        "upstream connect from the proxy"
    );
}

#[test]
fn configured_settings_this_build_cannot_serve_are_refused_at_startup() {
    let mut topo = Topology::new();
    let config = r#"{ "listeners": [
        { "address": "0.0.0.0:15003", "protocol": "http", "upstream": { "address": "10.200.2.2:8081" },
          "transparent": { "interception": "tproxy", "upstream_source": "client" } } ] }"#;
    let path = topo.write_file("config.json", config);
    let out = topo.exec("proxy", &[trueip(), "run", "--config", &path]);
    assert_eq!(out.status.code(), Some(69));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "trueip: listener \"0.0.0.0:15003\": cannot bind 0.0.0.0:15003: transparent.upstream_source \"client\" \
         is not served on http listeners yet (one pooled upstream client cannot leave from many client \
         addresses); use \"proxy\": the upstream still gets the client in the forwarding headers"
    );

    // A configured TPROXY listener without the capability: the same clear startup error as
    // `trueip tproxy`.
    let config = r#"{ "listeners": [
        { "address": "0.0.0.0:15001", "protocol": "tcp", "transparent": { "interception": "tproxy" } } ] }"#;
    let path = topo.write_file("config2.json", config);
    let out = topo.exec(
        "proxy",
        &[
            "setpriv",
            "--inh-caps=-all",
            "--bounding-set=-net_admin,-net_raw",
            trueip(),
            "run",
            "--config",
            &path,
        ],
    );
    // `run` and `tproxy` share one start-up path: a refused transparent bind is EX_NOPERM for both.
    assert_eq!(out.status.code(), Some(77));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "cannot bind 0.0.0.0:15001: setting IP_TRANSPARENT on a socket for 0.0.0.0:15001 was refused: \
             the process needs CAP_NET_ADMIN or CAP_NET_RAW"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
