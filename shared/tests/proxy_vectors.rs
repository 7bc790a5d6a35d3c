//! Runs the PROXY protocol conformance vectors in `testdata/vectors/proxy/cases.json`
//! against the codec. The file format is described in `testdata/vectors/README.md`.
//!
//! Each case's outcome is rendered as the same JSON shape the file uses and compared whole,
//! so a failure shows both sides. On top of the stated outcome every case also checks the
//! incremental contract on all its prefixes and, when it decodes, that re-encoding the header
//! decodes to the same header (byte for byte for v2 PROXY headers).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use trueip::proxy_protocol::{
    Addresses, Aws, Azure, Command, DecodeError, EncodeError, Header, SslTlv, Tlv, Transport,
    V2Builder, Version, decode, encode_v1, starts_with_proxy_header,
};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors/proxy")
}

#[test]
fn proxy_protocol_vectors() {
    let dir = vectors_dir();
    let text = std::fs::read_to_string(dir.join("cases.json")).expect("cases.json is readable");
    let doc: Value = serde_json::from_str(&text).expect("cases.json is JSON");
    assert_eq!(doc.get("format"), Some(&json!(1)), "known format version");
    let cases = doc
        .get("cases")
        .and_then(Value::as_array)
        .expect("a cases array");
    assert!(
        cases.len() >= 60,
        "at least 60 cases, found {}",
        cases.len()
    );

    let mut failures = Vec::new();
    let mut names = std::collections::HashSet::new();
    for case in cases {
        let name = case
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>");
        assert!(names.insert(name.to_owned()), "duplicate case name {name}");
        assert!(
            case.get("why")
                .and_then(Value::as_str)
                .is_some_and(|w| !w.is_empty()),
            "{name}: every case says why"
        );
        if let Err(message) = run_case(&dir, case) {
            failures.push(format!("{name}: {message}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn run_case(dir: &Path, case: &Value) -> Result<(), String> {
    let input = input_bytes(dir, case)?;
    let expected = case.get("expect").ok_or("no expect")?;
    let result = decode(&input);
    let actual = outcome(&input, &result);
    if &actual != expected {
        return Err(format!("expected {expected}\n    got      {actual}"));
    }
    check_prefixes(&input, &result)?;
    if let Ok(d) = &result {
        check_reencode(&d.header, input.get(..d.consumed).unwrap_or(&[]))?;
    }
    Ok(())
}

/// The case's input: `text` (UTF-8 of a JSON string), `hex` (whitespace ignored) or `file`.
fn input_bytes(dir: &Path, case: &Value) -> Result<Vec<u8>, String> {
    if let Some(text) = case.get("text").and_then(Value::as_str) {
        return Ok(text.as_bytes().to_vec());
    }
    if let Some(hex) = case.get("hex").and_then(Value::as_str) {
        return decode_hex(hex);
    }
    if let Some(file) = case.get("file").and_then(Value::as_str) {
        return std::fs::read(dir.join(file)).map_err(|e| format!("reading {file}: {e}"));
    }
    Err("no text, hex or file".to_owned())
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .filter(|p| p.len() == 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("bad hex {:?}", String::from_utf8_lossy(pair)))
        })
        .collect()
}

fn outcome(
    input: &[u8],
    result: &Result<trueip::proxy_protocol::Decoded<'_>, DecodeError>,
) -> Value {
    match result {
        Ok(d) => {
            let h = &d.header;
            let (source, destination) = endpoints(&h.addresses());
            json!({"ok": {
                "version": match h.version() { Version::V1 => 1, Version::V2 => 2 },
                "command": match h.command() { Command::Local => "local", Command::Proxy => "proxy" },
                "transport": match h.transport() {
                    Transport::Unspec => "unspec", Transport::Stream => "stream", Transport::Dgram => "dgram",
                },
                "source": source,
                "destination": destination,
                "consumed": d.consumed,
                "tlvs": h.tlvs().map(|t| t.map_or_else(tlv_error, |t| tlv(&t))).collect::<Vec<_>>(),
                "stacked": starts_with_proxy_header(input.get(d.consumed..).unwrap_or(&[])),
            }})
        }
        Err(DecodeError::Incomplete { needed }) => json!({"incomplete": {"needed": needed}}),
        Err(e) => json!({"error": e.kind()}),
    }
}

fn endpoints(addresses: &Addresses) -> (Value, Value) {
    let unix = |path: &[u8; 108]| {
        let end = path.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        json!(format!(
            "unix:{}",
            path.get(..end).unwrap_or(&[]).escape_ascii()
        ))
    };
    match addresses {
        Addresses::Unspecified => (Value::Null, Value::Null),
        Addresses::Inet {
            source,
            destination,
        } => (json!(source.to_string()), json!(destination.to_string())),
        Addresses::Unix {
            source,
            destination,
        } => (unix(source), unix(destination)),
    }
}

fn tlv_error(e: trueip::proxy_protocol::TlvError) -> Value {
    json!({"error": e.kind()})
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn tlv(t: &Tlv<'_>) -> Value {
    match t {
        Tlv::Alpn(v) => json!({"kind": "alpn", "hex": hex(v)}),
        Tlv::Authority(s) => json!({"kind": "authority", "text": s}),
        Tlv::Crc32c(c) => json!({"kind": "crc32c", "value": c}),
        Tlv::Noop(v) => json!({"kind": "noop", "hex": hex(v)}),
        Tlv::UniqueId(v) => json!({"kind": "unique_id", "hex": hex(v)}),
        Tlv::Ssl(ssl) => json!({
            "kind": "ssl", "client": ssl.client().0, "verify": ssl.verify(),
            "sub": ssl.sub_tlvs().map(|s| s.map_or_else(tlv_error, |s| ssl_sub(&s))).collect::<Vec<_>>(),
        }),
        Tlv::Netns(s) => json!({"kind": "netns", "text": s}),
        Tlv::GcpPscConnectionId(id) => json!({"kind": "gcp_psc_connection_id", "value": id}),
        Tlv::Aws(Aws::VpceId(id)) => json!({"kind": "aws_vpce_id", "text": id}),
        Tlv::Aws(Aws::Other { subtype, value }) => {
            json!({"kind": "aws_other", "subtype": subtype, "hex": hex(value)})
        }
        Tlv::Azure(Azure::LinkId(id)) => json!({"kind": "azure_link_id", "value": id}),
        Tlv::Azure(Azure::Other { subtype, value }) => {
            json!({"kind": "azure_other", "subtype": subtype, "hex": hex(value)})
        }
        Tlv::Other { tlv_type, value } => {
            json!({"kind": "other", "type": tlv_type, "hex": hex(value)})
        }
        other => json!({"kind": "unlisted", "type": other.tlv_type()}),
    }
}

fn ssl_sub(s: &SslTlv<'_>) -> Value {
    let (kind, text) = match s {
        SslTlv::Version(t) => ("ssl_version", t),
        SslTlv::CommonName(t) => ("ssl_cn", t),
        SslTlv::Cipher(t) => ("ssl_cipher", t),
        SslTlv::SigAlg(t) => ("ssl_sig_alg", t),
        SslTlv::KeyAlg(t) => ("ssl_key_alg", t),
        SslTlv::Other { tlv_type, value } => {
            return json!({"kind": "other", "type": tlv_type, "hex": hex(value)});
        }
        other => return json!({"kind": "unlisted", "type": other.tlv_type()}),
    };
    json!({"kind": kind, "text": text})
}

/// Every strict prefix is `Incomplete`, the same success (once the header is complete), or
/// the same terminal error kind.
fn check_prefixes(
    input: &[u8],
    full: &Result<trueip::proxy_protocol::Decoded<'_>, DecodeError>,
) -> Result<(), String> {
    for n in 0..input.len() {
        let got = decode(input.get(..n).unwrap_or(&[]));
        let consistent = match (full, &got) {
            (Ok(f), Err(DecodeError::Incomplete { .. })) => n < f.consumed,
            (Err(_), Err(DecodeError::Incomplete { .. })) => true,
            (Ok(f), Ok(g)) => f == g,
            (Err(f), Err(g)) => f.kind() == g.kind(),
            _ => false,
        };
        if !consistent {
            return Err(format!(
                "prefix of {n} bytes gave {got:?}, full input {full:?}"
            ));
        }
    }
    Ok(())
}

/// Re-encodes a decoded header and checks it decodes to the same header. v2 PROXY headers
/// (and LOCAL ones without an address block) must come back byte for byte.
fn check_reencode(header: &Header<'_>, wire: &[u8]) -> Result<(), String> {
    let encoded = match header.version() {
        Version::V1 => encode_v1(&header.addresses()),
        Version::V2 => {
            let Ok(tlvs) = header.tlvs().collect::<Result<Vec<_>, _>>() else {
                return Ok(()); // a TLV the iterator rejects cannot be re-encoded typed
            };
            let builder = match header.command() {
                Command::Local => V2Builder::local(),
                Command::Proxy => V2Builder::proxy(header.transport(), header.addresses()),
            };
            let bad_ssl = tlvs
                .iter()
                .any(|t| matches!(t, Tlv::Ssl(ssl) if ssl.sub_tlvs().any(|s| s.is_err())));
            let encoded = builder.tlvs(tlvs).encode();
            if bad_ssl {
                // The decoder reports bad SSL sub-TLVs lazily; the encoder refuses to emit them.
                return match encoded {
                    Err(EncodeError::BadSslSubTlvs(_)) => Ok(()),
                    other => Err(format!("bad SSL sub-TLVs re-encoded as {other:?}")),
                };
            }
            encoded
        }
    }
    .map_err(|e| format!("re-encoding failed: {e}"))?;
    let again = decode(&encoded).map_err(|e| format!("re-encoded header does not decode: {e}"))?;
    if again.header.addresses() != header.addresses()
        || again.header.command() != header.command()
        || again.header.tlvs().collect::<Vec<_>>() != header.tlvs().collect::<Vec<_>>()
    {
        return Err(format!("re-encoded header differs: {:?}", again.header));
    }
    let byte_exact = header.version() == Version::V2
        && (header.command() == Command::Proxy || wire.get(13) == Some(&0x00));
    if byte_exact && encoded != wire {
        return Err(format!(
            "re-encoded bytes differ:\n    wire    {}\n    encoded {}",
            hex(wire),
            hex(&encoded)
        ));
    }
    Ok(())
}
