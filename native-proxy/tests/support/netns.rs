//! Throwaway network namespaces for the transparent-proxy tests.
//!
//! `client -- proxy -- server` (and `lb -- proxy` for PROXY protocol), joined by veth pairs with
//! addresses that exist only inside these namespaces; the proxy routes between them and nothing
//! routes out. Names carry the test process id and a counter, so parallel tests and parallel runs
//! never collide, and `Drop` kills what the test started and deletes the namespaces (which takes
//! the veths and every rule inside with them), pass or fail.
//!
//! These tests need root (CAP_SYS_ADMIN for namespaces, CAP_NET_ADMIN inside). CI runs as root;
//! elsewhere they fail with a message that says so.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part of the harness

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

/// How long any wait in these tests may take before it is a failure (never a hang).
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The addresses of the topology.
pub mod addr {
    /// Client, on the client–proxy link.
    pub const CLIENT4: &str = "10.200.1.2";
    /// Proxy, client side.
    pub const PROXY_C4: &str = "10.200.1.1";
    /// Proxy, server side.
    pub const PROXY_S4: &str = "10.200.2.1";
    /// Server.
    pub const SERVER4: &str = "10.200.2.2";
    /// Load balancer, on the lb–proxy link.
    pub const LB4: &str = "10.200.3.2";
    /// Proxy, lb side.
    pub const PROXY_L4: &str = "10.200.3.1";
    /// IPv6 counterparts.
    pub const CLIENT6: &str = "fd00:200:1::2";
    /// Proxy, client side.
    pub const PROXY_C6: &str = "fd00:200:1::1";
    /// Proxy, server side.
    pub const PROXY_S6: &str = "fd00:200:2::1";
    /// Server.
    pub const SERVER6: &str = "fd00:200:2::2";
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The namespaces of one test, removed on drop.
pub struct Topology {
    /// Short unique prefix of every name.
    pub id: String,
    children: Vec<Child>,
    namespaces: Vec<String>,
    files: Vec<std::path::PathBuf>,
}

impl Topology {
    /// Builds client, proxy and server (and the lb namespace, linked to the proxy).
    pub fn new() -> Topology {
        require_root();
        let id = format!(
            "tq{:x}x{}",
            std::process::id() % 0xfffff,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut topo = Topology {
            id,
            children: Vec::new(),
            namespaces: Vec::new(),
            files: Vec::new(),
        };
        for host in ["client", "proxy", "server", "lb"] {
            let name = topo.ns(host);
            sh(&["ip", "netns", "add", &name]);
            topo.namespaces.push(name);
            topo.exec_ok(host, &["ip", "link", "set", "lo", "up"]);
        }
        topo.link(
            "client",
            "c0",
            "10.200.1.2/24",
            "fd00:200:1::2/64",
            "proxy",
            "pc",
            "10.200.1.1/24",
            "fd00:200:1::1/64",
        );
        topo.link(
            "server",
            "s0",
            "10.200.2.2/24",
            "fd00:200:2::2/64",
            "proxy",
            "ps",
            "10.200.2.1/24",
            "fd00:200:2::1/64",
        );
        topo.link(
            "lb",
            "l0",
            "10.200.3.2/24",
            "fd00:200:3::2/64",
            "proxy",
            "pl",
            "10.200.3.1/24",
            "fd00:200:3::1/64",
        );
        for (host, v4, v6) in [
            ("client", addr::PROXY_C4, addr::PROXY_C6),
            ("server", addr::PROXY_S4, addr::PROXY_S6),
            ("lb", addr::PROXY_L4, "fd00:200:3::1"),
        ] {
            topo.exec_ok(host, &["ip", "-4", "route", "add", "default", "via", v4]);
            topo.exec_ok(host, &["ip", "-6", "route", "add", "default", "via", v6]);
        }
        topo.exec_ok("proxy", &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        topo.exec_ok(
            "proxy",
            &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"],
        );
        topo
    }

    /// The namespace name of a host.
    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.id)
    }

    /// Runs a command inside a host's namespace.
    pub fn exec(&self, host: &str, argv: &[&str]) -> Output {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(host)]).args(argv);
        cmd.stdin(Stdio::null())
            .output()
            .expect("run ip netns exec")
    }

    /// Runs a command inside a host's namespace and requires success.
    pub fn exec_ok(&self, host: &str, argv: &[&str]) -> Output {
        let out = self.exec(host, argv);
        assert!(
            out.status.success(),
            "{argv:?} in {host} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts a long-running process in a host's namespace; stderr is captured line by line.
    pub fn spawn(&mut self, host: &str, argv: &[&str]) -> Logs {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(host)]).args(argv);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn in namespace");
        let logs = Logs::default();
        if let Some(stderr) = child.stderr.take() {
            let sink = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    sink.push(line);
                }
            });
        }
        self.children.push(child);
        logs
    }

    /// Writes a file (a config) that is removed with the topology.
    pub fn write_file(&mut self, name: &str, contents: &str) -> String {
        let path = std::env::temp_dir().join(format!("{}-{name}", self.id));
        std::fs::write(&path, contents).expect("write temp file");
        self.files.push(path.clone());
        path.to_string_lossy().into_owned()
    }

    /// Runs `f` on a thread that has entered a host's network namespace. Sockets created there
    /// stay in that namespace after the thread exits, so the test can use them from anywhere.
    pub fn within<T: Send + 'static>(
        &self,
        host: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let path = format!("/run/netns/{}", self.ns(host));
        std::thread::spawn(move || {
            let file = File::open(&path).expect("open namespace");
            setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("namespace thread")
    }

    /// A TCP listener inside a host's namespace.
    pub fn listen(&self, host: &str, addr: &str) -> TcpListener {
        let addr: SocketAddr = addr.parse().expect("listen address");
        self.within(host, move || {
            // v6-only, so [::]:port and 0.0.0.0:port can both be bound and each family's peer
            // address is reported as itself rather than as a v4-mapped IPv6 address.
            let socket = socket2::Socket::new(
                socket2::Domain::for_address(addr),
                socket2::Type::STREAM,
                None,
            )
            .expect("socket in namespace");
            if addr.is_ipv6() {
                socket.set_only_v6(true).expect("IPV6_V6ONLY");
            }
            socket.bind(&addr.into()).expect("bind in namespace");
            socket.listen(128).expect("listen in namespace");
            TcpListener::from(socket)
        })
    }

    /// A TCP connection from inside a host's namespace.
    pub fn connect(&self, host: &str, addr: &str) -> std::io::Result<TcpStream> {
        let addr: SocketAddr = addr.parse().expect("connect address");
        self.within(host, move || {
            let stream = TcpStream::connect_timeout(&addr, DEADLINE)?;
            stream.set_read_timeout(Some(DEADLINE))?;
            stream.set_write_timeout(Some(DEADLINE))?;
            Ok(stream)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn link(
        &self,
        a: &str,
        a_if: &str,
        a4: &str,
        a6: &str,
        b: &str,
        b_if: &str,
        b4: &str,
        b6: &str,
    ) {
        let a_name = format!("{}{a_if}", self.id);
        let b_name = format!("{}{b_if}", self.id);
        sh(&[
            "ip",
            "link",
            "add",
            &a_name,
            "netns",
            &self.ns(a),
            "type",
            "veth",
            "peer",
            "name",
            &b_name,
            "netns",
            &self.ns(b),
        ]);
        for (host, name, v4, v6) in [(a, &a_name, a4, a6), (b, &b_name, b4, b6)] {
            self.exec_ok(host, &["ip", "addr", "add", v4, "dev", name]);
            // nodad: the address is usable at once instead of after duplicate detection.
            self.exec_ok(host, &["ip", "addr", "add", v6, "dev", name, "nodad"]);
            self.exec_ok(host, &["ip", "link", "set", name, "up"]);
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for name in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Lines a spawned process wrote to stderr, shared with its reader thread.
#[derive(Clone, Default)]
pub struct Logs(Arc<(Mutex<Vec<String>>, Condvar)>);

impl Logs {
    fn push(&self, line: String) {
        let (lines, ready) = &*self.0;
        if let Ok(mut lines) = lines.lock() {
            lines.push(line);
        }
        ready.notify_all();
    }

    /// Waits until a line contains `needle`, failing the test at the deadline.
    pub fn wait_for(&self, needle: &str) -> String {
        let (lines, ready) = &*self.0;
        let start = Instant::now();
        let mut guard = lines.lock().expect("log lock");
        loop {
            if let Some(line) = guard.iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            let left = DEADLINE.checked_sub(start.elapsed()).unwrap_or_default();
            assert!(
                !left.is_zero(),
                "no log line containing {needle:?} within {DEADLINE:?}; got:\n{}",
                guard.join("\n")
            );
            guard = ready.wait_timeout(guard, left).expect("log lock").0;
        }
    }

    /// Waits for `n` lines containing `needle`.
    pub fn wait_for_count(&self, needle: &str, n: usize) {
        let (lines, ready) = &*self.0;
        let start = Instant::now();
        let mut guard = lines.lock().expect("log lock");
        loop {
            if guard.iter().filter(|l| l.contains(needle)).count() >= n {
                return;
            }
            let left = DEADLINE.checked_sub(start.elapsed()).unwrap_or_default();
            assert!(
                !left.is_zero(),
                "fewer than {n} lines containing {needle:?}; got:\n{}",
                guard.join("\n")
            );
            guard = ready.wait_timeout(guard, left).expect("log lock").0;
        }
    }
}

/// A server that answers each connection with the peer address it saw, then closes. A client
/// opens with `GET ` (an HTTP request, answered in HTTP) or with [`PEER_QUERY`] (answered raw).
pub fn peer_echo(listener: TcpListener) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || answer(stream));
        }
    });
}

fn answer(mut stream: TcpStream) {
    use std::io::{Read, Write};
    let _ = stream.set_read_timeout(Some(DEADLINE));
    let Ok(peer) = stream.peer_addr() else { return };
    let mut head = [0u8; 4];
    if stream.read_exact(&mut head).is_err() {
        return;
    }
    let mut body = format!("peer={}\n", peer.ip());
    if &head != b"GET " {
        let _ = stream.write_all(body.as_bytes());
        return;
    }
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") && request.len() < 8192 {
        match stream.read(&mut byte) {
            Ok(1) => request.extend_from_slice(&byte),
            _ => return,
        }
    }
    // Echo the client-IP headers a proxy in front may have set, one `name=value` line each.
    for line in String::from_utf8_lossy(&request).lines() {
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            if name == "x-real-ip" || name == "x-forwarded-for" {
                body.push_str(&format!("{name}={}\n", value.trim()));
            }
        }
    }
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// What a raw TCP client sends to ask [`peer_echo`] who it is.
pub const PEER_QUERY: &[u8; 4] = b"PEER";

/// Reads a whole response (until the server closes).
pub fn read_all(mut stream: TcpStream) -> String {
    use std::io::Read;
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}

/// The `peer=` value in a response.
pub fn seen_peer(response: &str) -> Option<IpAddr> {
    response
        .lines()
        .find_map(|l| l.strip_prefix("peer="))
        .and_then(|ip| ip.trim().parse().ok())
}

/// The trueip binary under test.
pub fn trueip() -> &'static str {
    env!("CARGO_BIN_EXE_trueip")
}

fn require_root() {
    // SAFETY-free check: the effective uid is in /proc/self/status ("Uid: real effective ...").
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1).map(str::to_owned));
    assert_eq!(
        euid.as_deref(),
        Some("0"),
        "the network-namespace tests need root (they create namespaces, veths and TPROXY rules); \
         run them as root, as CI does: sudo -E cargo test -p trueip-proxy --test transparent_netns"
    );
    let missing: Vec<&str> = ["ip", "nft", "iptables", "setpriv"]
        .into_iter()
        .filter(|tool| {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .map_or(true, |o| !o.status.success())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "missing tools {missing:?}: install iproute2, nftables, iptables, util-linux (scripts/test.sh does)"
    );
}

fn sh(argv: &[&str]) {
    let (tool, args) = argv.split_first().expect("a command");
    let out = Command::new(tool).args(args).output().expect("run command");
    assert!(
        out.status.success(),
        "{argv:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
