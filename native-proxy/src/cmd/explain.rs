//! `trueip explain`: what client IP one request would get, and why.
//!
//! This answers the question operators ask most ("why is this the IP?") with the exact decision the filter and the
//! proxy make: the same configuration, the same core. Input is a peer, header lines and optionally a PROXY header to
//! decode first (its source then becomes the peer, as behind a PROXY listener). `--batch` reads cases as JSON lines on
//! stdin so scripts and other tools can drive the core without Rust. The JSON output is a stable interface documented
//! in `docs/cli.md`.

use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use trueip::proxy_protocol::{self, Addresses, Aws, Azure, Command, Tlv};
use trueip::{Access, PeerAddr, Request, Resolver};

use super::{Format, load_config, sysexits};

/// Arguments of `trueip explain`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The configuration (JSON); the bundled default when omitted.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The TCP peer: `10.0.0.7:5100`, `[2001:db8::1]:443`, or a bare address (port 0).
    #[arg(long)]
    peer: Option<String>,
    /// A request header line, `Name: value`; repeat it for every line, in arrival order.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The peer's mTLS identity (URI SAN), as the filter sees it in sidecar mode.
    #[arg(long)]
    identity: Option<String>,
    /// A PROXY v2 header in hex (spaces and colons allowed) to decode first; its source becomes the peer.
    #[arg(long, value_name = "HEX", conflicts_with = "proxy_v1")]
    proxy_v2_hex: Option<String>,
    /// A PROXY v1 line to decode first, e.g. `PROXY TCP4 198.51.100.7 10.0.0.1 41000 443` (CRLF added if missing).
    #[arg(long, value_name = "LINE")]
    proxy_v1: Option<String>,
    /// Read cases as JSON lines on stdin and print one JSON result per line.
    #[arg(long, conflicts_with_all = ["peer", "headers", "identity", "proxy_v2_hex", "proxy_v1"])]
    batch: bool,
    /// Output format (`--batch` always prints JSON lines).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Runs `trueip explain`.
pub(crate) fn run(args: Args) -> u8 {
    let config = match load_config(args.config.as_deref(), &super::BUNDLED_POLICY) {
        Ok(config) => config,
        Err(e) => return super::report_load_error(&e, args.format),
    };
    let resolver = Resolver::new(&config.policy);
    if args.batch {
        return run_batch(&resolver);
    }
    let case = match Case::from_args(&args) {
        Ok(case) => case,
        Err(e) => {
            let report = Report::error(e);
            return print(&report, args.format);
        }
    };
    let report = explain(&resolver, &case);
    print(&report, args.format)
}

fn run_batch(resolver: &Resolver) -> u8 {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    let mut worst = sysexits::EX_OK;
    for line in stdin.lock().lines() {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                eprintln!("error: reading stdin: {e}");
                return sysexits::EX_IOERR;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let report = match serde_json::from_str::<Case>(&line) {
            Ok(case) => explain(resolver, &case),
            Err(e) => Report::error(CaseError::new(
                "bad_batch_line",
                sysexits::EX_DATAERR,
                e.to_string(),
            )),
        };
        // A batch exits with the most serious code of its lines: data errors above refusals above success.
        worst = worst.max(report.exit_code());
        let json = serde_json::to_string(&report).unwrap_or_default();
        if writeln!(stdout, "{json}").is_err() {
            return sysexits::EX_IOERR;
        }
    }
    worst
}

fn print(report: &Report, format: Format) -> u8 {
    let text = match format {
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default(),
        Format::Text => report.to_text(),
    };
    if writeln!(std::io::stdout().lock(), "{text}").is_err() {
        return sysexits::EX_IOERR;
    }
    report.exit_code()
}

/// One request to explain: from the command line or one JSON line of `--batch`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default)]
    peer: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    identity: Option<String>,
    #[serde(default)]
    proxy_v1: Option<String>,
    #[serde(default)]
    proxy_v2_hex: Option<String>,
}

impl Case {
    fn from_args(args: &Args) -> Result<Case, CaseError> {
        let headers = args
            .headers
            .iter()
            .map(|line| split_header_line(line))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Case {
            peer: args.peer.clone(),
            headers,
            identity: args.identity.clone(),
            proxy_v1: args.proxy_v1.clone(),
            proxy_v2_hex: args.proxy_v2_hex.clone(),
        })
    }
}

/// Splits `Name: value` at the first colon; the name must be an HTTP token.
fn split_header_line(line: &str) -> Result<(String, String), CaseError> {
    let bad =
        |why: &str| CaseError::new("bad_header", sysexits::EX_USAGE, format!("{why}: {line:?}"));
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| bad("a header is `Name: value`"))?;
    if name.is_empty() || !name.bytes().all(trueip::forwarded::is_tchar) {
        return Err(bad("not a valid header name"));
    }
    Ok((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()))
}

/// Why a case could not be explained, with the exit code it maps to.
#[derive(Debug)]
struct CaseError {
    kind: String,
    exit: u8,
    message: String,
}

impl CaseError {
    fn new(kind: &str, exit: u8, message: String) -> CaseError {
        CaseError {
            kind: kind.to_owned(),
            exit,
            message,
        }
    }
}

/// The explanation of one case. Field names and labels are a stable interface (`docs/cli.md`).
#[derive(Debug, Default, Serialize)]
struct Report {
    /// `forward`, `reject` (the policy refuses the request), `deny` (access lists) or `error` (bad input).
    outcome: &'static str,
    /// The peer the decision used: the PROXY source when a PROXY header carried one, else `--peer`.
    peer: Option<String>,
    /// Whether that peer may forward client addresses (by range or identity).
    peer_trusted: Option<bool>,
    /// The decoded PROXY header, when one was given.
    proxy: Option<ProxyReport>,
    client: Option<ClientReport>,
    /// Which source decided: `peer`, `x-forwarded-for`, `forwarded`, or a header name.
    source: Option<String>,
    /// 0 is the peer, 1 the rightmost header entry, and so on.
    hop: Option<u16>,
    internal: Option<bool>,
    spoof: Vec<&'static str>,
    fallback: Option<&'static str>,
    reject: Option<RejectReport>,
    access: Option<AccessReport>,
    /// The request's header lines as they would be sent upstream, in order.
    upstream_headers: Vec<(String, String)>,
    trace: Vec<String>,
    error: Option<ErrorReport>,
    #[serde(skip)]
    exit: u8,
}

#[derive(Debug, Serialize)]
struct ClientReport {
    ip: IpAddr,
    port: Option<u16>,
}

#[derive(Debug, Serialize)]
struct RejectReport {
    kind: &'static str,
    status: u16,
    detail: String,
}

#[derive(Debug, Serialize)]
struct AccessReport {
    verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct ErrorReport {
    kind: String,
    message: String,
}

#[derive(Debug, Serialize)]
struct ProxyReport {
    version: u8,
    command: &'static str,
    addresses: &'static str,
    source: Option<SocketAddr>,
    destination: Option<SocketAddr>,
    consumed: usize,
    tlvs: Vec<TlvReport>,
}

#[derive(Debug, Serialize)]
struct TlvReport {
    #[serde(rename = "type")]
    tlv_type: u8,
    name: &'static str,
    value: String,
}

impl Report {
    fn error(e: CaseError) -> Report {
        Report {
            outcome: "error",
            exit: e.exit,
            error: Some(ErrorReport {
                kind: e.kind,
                message: e.message,
            }),
            ..Report::default()
        }
    }

    fn exit_code(&self) -> u8 {
        self.exit
    }

    fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        if let Some(e) = &self.error {
            let _ = write!(s, "error ({}): {}", e.kind, e.message);
            return s;
        }
        if let Some(p) = &self.proxy {
            let _ = write!(s, "proxy      v{} {} {}", p.version, p.command, p.addresses);
            if let (Some(src), Some(dst)) = (p.source, p.destination) {
                let _ = write!(s, " {src} -> {dst}");
            }
            for t in &p.tlvs {
                let _ = write!(
                    s,
                    "\n           tlv 0x{:02x} {}: {}",
                    t.tlv_type, t.name, t.value
                );
            }
            s.push('\n');
        }
        if let Some(peer) = &self.peer {
            let trust = if self.peer_trusted == Some(true) {
                "trusted"
            } else {
                "untrusted"
            };
            let _ = writeln!(s, "peer       {peer} ({trust})");
        }
        if let Some(c) = &self.client {
            let port = c.port.map(|p| format!(" port {p}")).unwrap_or_default();
            let place = if self.internal == Some(true) {
                "internal"
            } else {
                "external"
            };
            let _ = writeln!(
                s,
                "client     {}{port} (from {}, hop {}, {place})",
                c.ip,
                self.source.as_deref().unwrap_or("?"),
                self.hop.unwrap_or(0)
            );
        }
        if let Some(f) = self.fallback {
            let _ = writeln!(s, "fallback   {f}");
        }
        if let Some(r) = &self.reject {
            let _ = writeln!(s, "rejected   {} with {}: {}", r.kind, r.status, r.detail);
        }
        if let Some(a) = &self.access {
            match (a.status, a.reason) {
                (Some(status), Some(reason)) => {
                    let _ = writeln!(s, "access     deny with {status} ({reason})");
                }
                _ => {
                    let _ = writeln!(s, "access     {}", a.verdict);
                }
            }
        }
        let spoof = if self.spoof.is_empty() {
            "none".to_owned()
        } else {
            self.spoof.join(", ")
        };
        let _ = writeln!(s, "spoof      {spoof}");
        s.push_str("why\n");
        for (i, step) in self.trace.iter().enumerate() {
            let _ = writeln!(s, "  {}. {step}", i + 1);
        }
        if self.outcome == "forward" {
            s.push_str("upstream headers\n");
            for (name, value) in &self.upstream_headers {
                let _ = writeln!(s, "  {name}: {value}");
            }
        }
        s.truncate(s.trim_end().len());
        s
    }
}

/// Explains one case: decode the PROXY header if any, resolve, check access, plan the rewrite.
fn explain(resolver: &Resolver, case: &Case) -> Report {
    match try_explain(resolver, case) {
        Ok(report) => report,
        Err(e) => Report::error(e),
    }
}

fn try_explain(resolver: &Resolver, case: &Case) -> Result<Report, CaseError> {
    let given_peer = case.peer.as_deref().map(parse_peer).transpose()?;
    let mut report = Report::default();
    let proxy_bytes = proxy_input(case)?;
    let mut peer = given_peer;
    if let Some(bytes) = &proxy_bytes {
        let decoded = proxy_protocol::decode(bytes).map_err(|e| {
            CaseError::new(
                &format!("proxy_header.{}", e.kind()),
                sysexits::EX_DATAERR,
                e.to_string(),
            )
        })?;
        if decoded.consumed != bytes.len() {
            return Err(CaseError::new(
                "proxy_header.trailing_bytes",
                sysexits::EX_DATAERR,
                format!(
                    "{} bytes after the PROXY header",
                    bytes.len() - decoded.consumed
                ),
            ));
        }
        let header = decoded.header;
        let (source, destination) = match header.addresses() {
            Addresses::Inet {
                source,
                destination,
            } => (Some(source), Some(destination)),
            _ => (None, None),
        };
        // Behind a PROXY listener the PROXY source is the peer; LOCAL and UNKNOWN keep the connection's own peer.
        if header.command() == Command::Proxy
            && let Some(source) = source
        {
            peer = Some(source);
        }
        report.proxy = Some(ProxyReport {
            version: match header.version() {
                proxy_protocol::Version::V1 => 1,
                proxy_protocol::Version::V2 => 2,
            },
            command: match header.command() {
                Command::Local => "local",
                Command::Proxy => "proxy",
            },
            addresses: header.addresses().kind(),
            source,
            destination,
            consumed: decoded.consumed,
            tlvs: header
                .tlvs()
                .map(|t| t.map(|t| tlv_report(&t)))
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    CaseError::new(
                        &format!("proxy_tlv.{}", e.kind()),
                        sysexits::EX_DATAERR,
                        e.to_string(),
                    )
                })?,
        });
    }
    let peer = peer.ok_or_else(|| {
        CaseError::new(
            "no_peer",
            sysexits::EX_USAGE,
            "no peer: give --peer, or a PROXY header with a source address".to_owned(),
        )
    })?;

    let lines: Vec<(&[u8], &[u8])> = case
        .headers
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let req = Request {
        peer: PeerAddr(peer),
        peer_identity: case.identity.as_deref(),
        headers: &lines,
    };
    let (result, trace) = resolver.resolve_traced(&req);
    report.peer = Some(peer.to_string());
    report.peer_trusted = Some(resolver.peer_trusted(&req));
    report.trace = trace.steps().to_vec();
    match result {
        Err(rejection) => {
            report.outcome = "reject";
            report.exit = sysexits::EX_REFUSED;
            report.spoof = rejection.spoof.labels().collect();
            report.reject = Some(RejectReport {
                kind: rejection.kind.label(),
                status: rejection.status,
                detail: rejection.detail,
            });
        }
        Ok(decision) => {
            report.client = Some(ClientReport {
                ip: decision.client.ip,
                port: decision.client.port,
            });
            report.source = Some(decision.source.label().to_owned());
            report.hop = Some(decision.hop);
            report.internal = Some(decision.internal);
            report.spoof = decision.spoof.labels().collect();
            report.fallback = decision.fallback.map(|f| f.label());
            match resolver.access(&decision) {
                Access::Allow => {
                    report.outcome = "forward";
                    report.exit = sysexits::EX_OK;
                    report.access = Some(AccessReport {
                        verdict: "allow",
                        status: None,
                        reason: None,
                    });
                    let plan = resolver.rewrite_plan(&req, &decision);
                    report.upstream_headers = plan
                        .apply(&lines)
                        .into_iter()
                        .map(|(n, v)| (lossy(&n), lossy(&v)))
                        .collect();
                }
                Access::Deny { status, reason, .. } => {
                    report.outcome = "deny";
                    report.exit = sysexits::EX_REFUSED;
                    report.access = Some(AccessReport {
                        verdict: "deny",
                        status: Some(status),
                        reason: Some(reason.label()),
                    });
                }
            }
        }
    }
    Ok(report)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A peer is `ip:port`, `[v6]:port` or a bare address (port 0: the port rarely matters to the decision).
fn parse_peer(s: &str) -> Result<SocketAddr, CaseError> {
    s.parse::<SocketAddr>()
        .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 0)))
        .map_err(|_| {
            CaseError::new(
                "bad_peer",
                sysexits::EX_USAGE,
                format!("not an address or ip:port: {s:?}"),
            )
        })
}

/// The PROXY header bytes the case carries, if any.
fn proxy_input(case: &Case) -> Result<Option<Vec<u8>>, CaseError> {
    match (&case.proxy_v1, &case.proxy_v2_hex) {
        (Some(_), Some(_)) => Err(CaseError::new(
            "bad_proxy_input",
            sysexits::EX_USAGE,
            "give proxy_v1 or proxy_v2_hex, not both".to_owned(),
        )),
        (Some(line), None) => {
            let mut bytes = line.as_bytes().to_vec();
            if !bytes.ends_with(b"\r\n") {
                bytes.extend_from_slice(b"\r\n");
            }
            Ok(Some(bytes))
        }
        (None, Some(hex)) => decode_hex(hex).map(Some),
        (None, None) => Ok(None),
    }
}

/// Hex to bytes; spaces, colons and a leading `0x` are ignored so copied dumps work as they are.
fn decode_hex(s: &str) -> Result<Vec<u8>, CaseError> {
    let digits: Vec<u8> = s
        .trim()
        .trim_start_matches("0x")
        .bytes()
        .filter(|b| !matches!(b, b' ' | b':' | b'\n' | b'\t'))
        .collect();
    let bad =
        |why: &str| CaseError::new("proxy_header.bad_hex", sysexits::EX_DATAERR, why.to_owned());
    if digits.len() % 2 != 0 {
        return Err(bad("odd number of hex digits"));
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).map_err(|_| bad("not hex"))?;
            u8::from_str_radix(text, 16).map_err(|_| bad(&format!("not a hex byte: {text:?}")))
        })
        .collect()
}

fn tlv_report(tlv: &Tlv<'_>) -> TlvReport {
    let (name, value) = match tlv {
        Tlv::Alpn(v) => ("alpn", lossy(v)),
        Tlv::Authority(v) => ("authority", (*v).to_owned()),
        Tlv::Crc32c(v) => ("crc32c", format!("{v:#010x} (verified)")),
        Tlv::Noop(v) => ("noop", format!("{} bytes", v.len())),
        Tlv::UniqueId(v) => ("unique_id", hex(v)),
        Tlv::Ssl(ssl) => (
            "ssl",
            format!(
                "client flags {:#04x}, verify {}",
                ssl.client().0,
                ssl.verify()
            ),
        ),
        Tlv::Netns(v) => ("netns", (*v).to_owned()),
        Tlv::GcpPscConnectionId(id) => ("gcp.psc_connection_id", id.to_string()),
        Tlv::Aws(Aws::VpceId(id)) => ("aws.vpce_id", (*id).to_owned()),
        Tlv::Azure(Azure::LinkId(id)) => ("azure.link_id", id.to_string()),
        other => ("other", format!("type {:#04x}", other.tlv_type())),
    };
    TlvReport {
        tlv_type: tlv.tlv_type(),
        name,
        value,
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(json: &str) -> Resolver {
        Resolver::new(&trueip::Config::from_json(json).expect("config").policy)
    }

    fn case(peer: &str, headers: &[(&str, &str)]) -> Case {
        Case {
            peer: Some(peer.to_owned()),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            ..Case::default()
        }
    }

    #[test]
    fn a_trusted_chain_is_explained_with_the_headers_sent_upstream() {
        let r = resolver(r#"{"trust":{"proxies":["10.0.0.0/8"]}}"#);
        let report = explain(
            &r,
            &case(
                "10.0.0.7:5100",
                &[("X-Forwarded-For", "203.0.113.9, 10.0.0.5")],
            ),
        );
        assert_eq!(report.outcome, "forward");
        assert_eq!(report.exit_code(), sysexits::EX_OK);
        assert_eq!(
            report.client.as_ref().map(|c| c.ip.to_string()),
            Some("203.0.113.9".to_owned())
        );
        assert_eq!(report.hop, Some(2));
        assert!(!report.trace.is_empty());
        assert!(
            report
                .upstream_headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
        );
    }

    #[test]
    fn a_proxy_v1_source_becomes_the_peer() {
        let r = resolver("{}");
        let mut c = case("10.0.0.1:1", &[]);
        c.proxy_v1 = Some("PROXY TCP4 198.51.100.7 10.0.0.1 41000 443".to_owned());
        let report = explain(&r, &c);
        assert_eq!(report.peer.as_deref(), Some("198.51.100.7:41000"));
        assert_eq!(
            report.client.as_ref().map(|c| c.ip.to_string()),
            Some("198.51.100.7".to_owned())
        );
    }

    #[test]
    fn a_bad_proxy_header_is_a_data_error_with_its_kind() {
        let r = resolver("{}");
        let mut c = case("10.0.0.1:1", &[]);
        c.proxy_v2_hex = Some("0d0a0d0a000d0a515549540a21".to_owned());
        let report = explain(&r, &c);
        assert_eq!(report.outcome, "error");
        assert_eq!(report.exit_code(), sysexits::EX_DATAERR);
        let kind = report
            .error
            .as_ref()
            .map(|e| e.kind.clone())
            .unwrap_or_default();
        assert!(kind.starts_with("proxy_header."), "{kind}");
    }

    #[test]
    fn header_lines_must_have_a_token_name() {
        assert!(split_header_line("X-Forwarded-For: 1.2.3.4").is_ok());
        assert!(split_header_line("no colon").is_err());
        assert!(split_header_line("bad name: x").is_err());
        assert_eq!(
            split_header_line("A:\t v \t").map(|(_, v)| v).ok(),
            Some("v".to_owned())
        );
    }

    #[test]
    fn hex_accepts_copied_dumps() {
        assert_eq!(decode_hex("0x0d 0a:ff").ok(), Some(vec![0x0d, 0x0a, 0xff]));
        assert!(decode_hex("abc").is_err());
        assert!(decode_hex("zz").is_err());
    }
}
