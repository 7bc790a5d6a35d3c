//! These tests set privileged socket options for real, so they need `CAP_NET_ADMIN` (CI runs
//! as root). Without it they fail with a message saying so rather than pretending to pass.

use super::*;
use crate::transparent::caps::{CapSet, Capability};
use socket2::SockRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn require_net_admin() {
    let caps = CapSet::effective().expect("readable /proc/self/status");
    assert!(
        caps.has(Capability::NetAdmin),
        "transparent socket tests need CAP_NET_ADMIN (run as root, as CI does); effective set {caps}"
    );
}

const OPTS: ConnectOptions = ConnectOptions {
    mark: None,
    timeout: Duration::from_secs(5),
};

#[tokio::test]
async fn ipv4_listener_has_ip_transparent_set() {
    require_net_admin();
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let listener = transparent_listener(addr, 16).expect("bind");
    let sock = SockRef::from(&listener);
    assert!(sock.ip_transparent_v4().expect("getsockopt IP_TRANSPARENT"));
    assert!(sock.reuse_address().expect("getsockopt SO_REUSEADDR"));
}

#[tokio::test]
async fn ipv6_listener_has_ipv6_transparent_set_and_is_v6_only() {
    require_net_admin();
    let addr: SocketAddr = "[::1]:0".parse().expect("addr");
    let listener = transparent_listener(addr, 16).expect("bind");
    let sock = SockRef::from(&listener);
    assert!(
        sock.ip_transparent_v6()
            .expect("getsockopt IPV6_TRANSPARENT")
    );
    assert!(sock.only_v6().expect("getsockopt IPV6_V6ONLY"));
}

#[test]
fn transparent_socket_may_bind_a_foreign_address() {
    require_net_admin();
    // 198.51.100.0/24 (TEST-NET-2) is on no interface here: only IP_TRANSPARENT makes the bind
    // legal. Nothing is sent.
    let foreign: SocketAddr = "198.51.100.7:0".parse().expect("addr");
    let plain = new_socket(foreign).expect("socket");
    let err = plain
        .bind(&foreign.into())
        .expect_err("plain bind of a foreign address");
    assert_eq!(err.raw_os_error(), Some(libc_eaddrnotavail()));

    let transparent = new_socket(foreign).expect("socket");
    set_transparent(&transparent, foreign).expect("IP_TRANSPARENT");
    assert!(is_transparent(&transparent, foreign).expect("getsockopt"));
    transparent
        .bind(&foreign.into())
        .expect("transparent bind of a foreign address");
}

#[test]
fn ipv6_transparent_socket_may_bind_a_foreign_address() {
    require_net_admin();
    let foreign: SocketAddr = "[2001:db8::7]:0".parse().expect("addr");
    let transparent = new_socket(foreign).expect("socket");
    set_transparent(&transparent, foreign).expect("IPV6_TRANSPARENT");
    assert!(is_transparent(&transparent, foreign).expect("getsockopt"));
    transparent
        .bind(&foreign.into())
        .expect("transparent bind of a foreign address");
}

#[test]
fn mark_is_set_and_read_back() {
    require_net_admin();
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let socket = new_socket(addr).expect("socket");
    set_mark(&socket, addr, Mark(0x200)).expect("SO_MARK");
    assert_eq!(socket.mark().expect("getsockopt SO_MARK"), 0x200);
}

#[tokio::test]
async fn orig_dst_is_the_accepted_sockets_local_address() {
    require_net_admin();
    let listener = transparent_listener("127.0.0.1:0".parse().expect("addr"), 16).expect("bind");
    let local = listener.local_addr().expect("local");
    let client = TcpStream::connect(local).await.expect("connect");
    let (accepted, peer) = listener.accept().await.expect("accept");
    assert_eq!(orig_dst(&accepted).expect("orig dst"), OrigDstAddr(local));
    assert_eq!(peer, client.local_addr().expect("client local"));
}

#[tokio::test]
async fn transparent_connect_leaves_from_the_given_client_address_with_its_mark() {
    require_net_admin();
    let server = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dest = server.local_addr().expect("local");
    let client_ip: IpAddr = "127.0.0.42".parse().expect("ip");
    let options = ConnectOptions {
        mark: Some(Mark(0x200)),
        ..OPTS
    };
    let (connected, accepted) = tokio::join!(
        connect(UpstreamSource::Client(client_ip), dest, options),
        server.accept()
    );
    let mut upstream = connected.expect("transparent connect");
    let (mut seen, peer) = accepted.expect("accept");
    assert_eq!(peer.ip(), client_ip);
    let sock = SockRef::from(&upstream);
    assert!(sock.ip_transparent_v4().expect("getsockopt"));
    assert_eq!(sock.mark().expect("getsockopt SO_MARK"), 0x200);
    upstream.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    seen.read_exact(&mut buf).await.expect("read");
    assert_eq!(&buf, b"ping");
}

#[tokio::test]
async fn plain_connect_leaves_from_the_proxy() {
    let server = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dest = server.local_addr().expect("local");
    let (connected, accepted) =
        tokio::join!(connect(UpstreamSource::Proxy, dest, OPTS), server.accept());
    let upstream = connected.expect("connect");
    let (_seen, peer) = accepted.expect("accept");
    assert_eq!(peer, upstream.local_addr().expect("local"));
    assert!(
        !SockRef::from(&upstream)
            .ip_transparent_v4()
            .expect("getsockopt")
    );
}

#[tokio::test]
async fn family_mismatch_is_refused_before_any_syscall() {
    let err = connect(
        UpstreamSource::Client("2001:db8::1".parse().expect("ip")),
        "127.0.0.1:9".parse().expect("addr"),
        OPTS,
    )
    .await
    .expect_err("v6 client to v4 upstream");
    assert_eq!(err.kind(), "family_mismatch");
    assert_eq!(
        err.to_string(),
        "cannot connect from 2001:db8::1 to 127.0.0.1:9: address families differ"
    );
}

#[tokio::test]
async fn refused_upstream_is_reported_with_its_address() {
    // Bind then drop to get a port that nothing listens on.
    let dest = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("local");
    let err = connect(UpstreamSource::Proxy, dest, OPTS)
        .await
        .expect_err("nothing listens");
    assert_eq!(err.kind(), "refused");
    assert!(
        err.to_string()
            .starts_with(&format!("connect to {dest} failed")),
        "{err}"
    );
}

#[test]
fn permission_denied_names_the_capability() {
    let addr: SocketAddr = "127.0.0.1:15001".parse().expect("addr");
    let err = privileged_option_error(
        "IP_TRANSPARENT",
        addr,
        "CAP_NET_ADMIN or CAP_NET_RAW",
        io::Error::from_raw_os_error(1), // EPERM
    );
    assert_eq!(
        err.to_string(),
        "setting IP_TRANSPARENT on a socket for 127.0.0.1:15001 was refused: the process needs \
         CAP_NET_ADMIN or CAP_NET_RAW (run as root or grant the capability)"
    );
}

fn libc_eaddrnotavail() -> i32 {
    // EADDRNOTAVAIL on Linux; spelled out to avoid a libc dependency for one constant.
    99
}
