//! Decodes one PROXY header many times with one parser: a steady loop for instruction
//! counting, which stays meaningful on a busy machine where wall-clock benchmarks do not.
//!
//! ```text
//! cargo build --release -p trueip --example proxy_decode_loop
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/proxy_decode_loop trueip v2-ipv4
//! ```
//! Parsers: `none` (the loop alone, to subtract), `trueip`, `trueip-raw-tlvs`, `ppp`,
//! `proxy-header`. Inputs: `v2-ipv4`, `v2-ipv6`, `v2-tlvs`, `v1`. Each call does the same
//! work as the criterion benchmark in `benches/proxy_protocol.rs`. Prints the iteration count.

use std::hint::black_box;

use trueip::proxy_protocol::{Addresses, Tlv, Transport, V2Builder, decode, encode_v1};

const ITERATIONS: usize = 100_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let parser = args.next().unwrap_or_default();
    let input = args.next().unwrap_or_default();
    let v4 = Addresses::Inet {
        source: "192.0.2.1:56324".parse().expect("address"),
        destination: "198.51.100.7:443".parse().expect("address"),
    };
    let v6 = Addresses::Inet {
        source: "[2001:db8::1]:51234".parse().expect("address"),
        destination: "[2001:db8::2]:443".parse().expect("address"),
    };
    let header = match input.as_str() {
        "v2-ipv4" => V2Builder::proxy(Transport::Stream, v4).encode(),
        "v2-ipv6" => V2Builder::proxy(Transport::Stream, v6).encode(),
        "v2-tlvs" => V2Builder::proxy(Transport::Stream, v4)
            .tlv(Tlv::Alpn(b"h2"))
            .tlv(Tlv::Authority("api.example.com"))
            .tlv(Tlv::UniqueId(b"0123456789abcdef"))
            .encode(),
        "v1" => encode_v1(&v4),
        other => {
            eprintln!("unknown input {other:?}: v2-ipv4, v2-ipv6, v2-tlvs, v1");
            std::process::exit(64);
        }
    }
    .expect("encodable header");
    let parse: fn(&[u8]) -> usize = match parser.as_str() {
        "none" => |_| 0,
        "trueip" => trueip_typed,
        "trueip-raw-tlvs" => trueip_raw,
        "ppp" => ppp,
        "proxy-header" => proxy_header,
        other => {
            eprintln!("unknown parser {other:?}: none, trueip, trueip-raw-tlvs, ppp, proxy-header");
            std::process::exit(64);
        }
    };
    let mut total = 0;
    for _ in 0..ITERATIONS {
        total += parse(black_box(&header));
    }
    println!("{ITERATIONS} iterations ({total})");
}

fn trueip_typed(buf: &[u8]) -> usize {
    let d = decode(buf).expect("trueip decodes");
    black_box(&d.header.source());
    black_box(&d.header.destination());
    d.header
        .tlvs()
        .map(|t| usize::from(black_box(t).is_ok()))
        .sum()
}

fn trueip_raw(buf: &[u8]) -> usize {
    let d = decode(buf).expect("trueip decodes");
    black_box(&d.header.source());
    black_box(&d.header.destination());
    d.header
        .raw_tlvs_iter()
        .map(|t| usize::from(black_box(t).is_ok()))
        .sum()
}

fn ppp(buf: &[u8]) -> usize {
    if buf.first() == Some(&b'P') {
        let h = ppp::v1::Header::try_from(buf).expect("ppp decodes");
        black_box(&h.addresses);
        return 0;
    }
    let h = ppp::v2::Header::try_from(buf).expect("ppp decodes");
    black_box(&h.addresses);
    h.tlvs().map(|t| usize::from(black_box(t).is_ok())).sum()
}

fn proxy_header(buf: &[u8]) -> usize {
    let (h, _) = proxy_header::ProxyHeader::parse(buf, proxy_header::ParseConfig::default())
        .expect("proxy-header decodes");
    black_box(h.proxied_address());
    h.tlvs().map(|t| usize::from(black_box(t).is_ok())).sum()
}
