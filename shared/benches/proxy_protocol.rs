//! PROXY protocol decode speed against `ppp` and `proxy-header`, on the same inputs.
//!
//! Each benchmark parses a complete header and reads what a proxy needs from it (the source
//! address; with TLVs, every TLV), so lazy parsers are not credited for skipped work.
//! Run: `cargo bench -p trueip --bench proxy_protocol`; results go to BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use trueip::proxy_protocol::{Addresses, ClientFlags, Ssl, SslTlv, Tlv, Transport, V2Builder};

fn inet(source: &str, destination: &str) -> Addresses {
    Addresses::Inet {
        source: source.parse().expect("bench address"),
        destination: destination.parse().expect("bench address"),
    }
}

struct Inputs {
    v2_ipv4: Vec<u8>,
    v2_ipv6: Vec<u8>,
    v2_tlvs: Vec<u8>,
    v2_tlvs_crc: Vec<u8>,
    v1_tcp4: Vec<u8>,
}

fn inputs() -> Inputs {
    let v4 = inet("192.0.2.1:56324", "198.51.100.7:443");
    let v6 = inet("[2001:db8::1]:51234", "[2001:db8::2]:443");
    let subs = trueip::proxy_protocol::encode_ssl_sub_tlvs(&[
        SslTlv::Version("TLSv1.3"),
        SslTlv::CommonName("client.example.com"),
        SslTlv::Cipher("TLS_AES_128_GCM_SHA256"),
    ])
    .expect("bench sub-TLVs");
    let tlvs = [
        Tlv::Alpn(b"h2"),
        Tlv::Authority("api.example.com"),
        Tlv::UniqueId(b"0123456789abcdef0123456789abcdef"),
        Tlv::Ssl(Ssl::new(ClientFlags(0x07), 0, &subs)),
    ];
    let build = |a| V2Builder::proxy(Transport::Stream, a);
    Inputs {
        v2_ipv4: build(v4).encode().expect("bench header"),
        v2_ipv6: build(v6).encode().expect("bench header"),
        v2_tlvs: build(v4).tlvs(tlvs).encode().expect("bench header"),
        v2_tlvs_crc: build(v4)
            .tlvs(tlvs)
            .crc32c()
            .encode()
            .expect("bench header"),
        v1_tcp4: trueip::proxy_protocol::encode_v1(&v4).expect("bench header"),
    }
}

/// trueip builds socket addresses on access, so both are read here to match the others'
/// eager work.
fn trueip_source(buf: &[u8]) -> usize {
    let d = trueip::proxy_protocol::decode(buf).expect("trueip decodes");
    black_box(&d.header.source());
    black_box(&d.header.destination());
    d.consumed
}

fn trueip_tlvs_raw(buf: &[u8]) -> usize {
    let d = trueip::proxy_protocol::decode(buf).expect("trueip decodes");
    black_box(&d.header.source());
    black_box(&d.header.destination());
    d.header
        .raw_tlvs_iter()
        .map(|t| black_box(t).is_ok() as usize)
        .sum()
}

fn trueip_tlvs(buf: &[u8]) -> usize {
    let d = trueip::proxy_protocol::decode(buf).expect("trueip decodes");
    black_box(&d.header.source());
    black_box(&d.header.destination());
    let mut n = 0;
    for tlv in d.header.tlvs() {
        if let Ok(Tlv::Ssl(ssl)) = tlv {
            n += ssl
                .sub_tlvs()
                .map(|s| black_box(s).is_ok() as usize)
                .sum::<usize>();
        }
        n += black_box(tlv).is_ok() as usize;
    }
    n
}

fn ppp_v2_source(buf: &[u8]) -> usize {
    let h = ppp::v2::Header::try_from(buf).expect("ppp decodes");
    black_box(&h.addresses);
    h.len()
}

fn ppp_v2_tlvs(buf: &[u8]) -> usize {
    let h = ppp::v2::Header::try_from(buf).expect("ppp decodes");
    black_box(&h.addresses);
    h.tlvs().map(|t| black_box(t).is_ok() as usize).sum()
}

fn ppp_v1_source(buf: &[u8]) -> usize {
    let h = ppp::v1::Header::try_from(buf).expect("ppp decodes");
    black_box(&h.addresses);
    h.header.len()
}

fn proxy_header_source(buf: &[u8]) -> usize {
    let config = proxy_header::ParseConfig {
        include_tlvs: false,
        ..Default::default()
    };
    let (h, consumed) =
        proxy_header::ProxyHeader::parse(buf, config).expect("proxy-header decodes");
    black_box(h.proxied_address());
    consumed
}

fn proxy_header_tlvs(buf: &[u8]) -> usize {
    let (h, _) = proxy_header::ProxyHeader::parse(buf, proxy_header::ParseConfig::default())
        .expect("proxy-header decodes");
    black_box(h.proxied_address());
    let mut n = 0;
    for tlv in h.tlvs() {
        if let Ok(proxy_header::Tlv::Ssl(ssl)) = &tlv {
            n += ssl
                .tlvs()
                .map(|s| black_box(s).is_ok() as usize)
                .sum::<usize>();
        }
        n += black_box(tlv).is_ok() as usize;
    }
    n
}

type Parser = fn(&[u8]) -> usize;

fn compare(c: &mut Criterion, group: &str, input: &[u8], parsers: &[(&str, Parser)]) {
    let mut g = c.benchmark_group(group);
    for (name, parse) in parsers {
        g.bench_function(*name, |b| b.iter(|| parse(black_box(input))));
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    let inputs = inputs();
    let plain: [(&str, Parser); 3] = [
        ("trueip", trueip_source),
        ("ppp", ppp_v2_source),
        ("proxy-header", proxy_header_source),
    ];
    compare(c, "proxy_v2_ipv4", &inputs.v2_ipv4, &plain);
    compare(c, "proxy_v2_ipv6", &inputs.v2_ipv6, &plain);
    // ppp's TLV iterator yields type and value only, so it is compared with trueip's raw
    // iterator; proxy-header interprets (and UTF-8 checks) values, like trueip's typed one.
    compare(
        c,
        "proxy_v2_tlvs_raw",
        &inputs.v2_tlvs,
        &[("trueip", trueip_tlvs_raw), ("ppp", ppp_v2_tlvs)],
    );
    compare(
        c,
        "proxy_v2_tlvs_typed",
        &inputs.v2_tlvs,
        &[("trueip", trueip_tlvs), ("proxy-header", proxy_header_tlvs)],
    );
    // Only trueip verifies the checksum, so this one has no peers: it prices the CRC32C.
    compare(
        c,
        "proxy_v2_tlvs_crc32c",
        &inputs.v2_tlvs_crc,
        &[("trueip", trueip_tlvs)],
    );
    compare(
        c,
        "proxy_v1_tcp4",
        &inputs.v1_tcp4,
        &[
            ("trueip", trueip_source),
            ("ppp", ppp_v1_source),
            ("proxy-header", proxy_header_source),
        ],
    );
}

criterion_group!(proxy_protocol, benches);
criterion_main!(proxy_protocol);
