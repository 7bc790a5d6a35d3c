//! What each fuzz target checks. Targets in `fuzz_targets/` are one line each and call a
//! function here, so checks are plain Rust that also runs under `cargo test` in this crate.
//!
//! Every function must not panic for any input unless the code under test is wrong: a panic
//! here is a finding.

use trueip::proxy_protocol::{
    Command, DecodeError, Decoded, Header, Tlv, V2Builder, Version, decode, decode_v1, decode_v2,
    encode_v1,
};

/// The v1 decoder alone.
pub fn proxy_v1(data: &[u8]) {
    check_decoded(data, decode_v1(data));
}

/// The v2 decoder alone.
pub fn proxy_v2(data: &[u8]) {
    check_decoded(data, decode_v2(data));
}

/// The version-detecting decoder; every accepted header is re-encoded and decoded again, and
/// short inputs also get the all-prefixes check.
pub fn proxy_any(data: &[u8]) {
    let result = decode(data);
    if let Ok(d) = &result {
        reencode(&d.header);
    }
    if data.len() <= 300 {
        check_prefixes(data, &result);
    }
    check_decoded(data, result);
}

fn check_decoded(data: &[u8], result: Result<Decoded<'_>, DecodeError>) {
    match result {
        Ok(d) => {
            assert!(d.consumed <= data.len());
            for tlv in d.header.tlvs() {
                if let Ok(Tlv::Ssl(ssl)) = tlv {
                    ssl.sub_tlvs().for_each(drop);
                }
            }
        }
        Err(e) => {
            assert!(!e.kind().is_empty());
            if let DecodeError::Incomplete { needed } = e {
                assert!(needed >= 1);
            }
            let _ = e.to_string();
        }
    }
}

fn reencode(header: &Header<'_>) {
    let encoded = match header.version() {
        Version::V1 => encode_v1(header.addresses()),
        Version::V2 => {
            let Ok(tlvs) = header.tlvs().collect::<Result<Vec<_>, _>>() else {
                return;
            };
            let builder = match header.command() {
                Command::Local => V2Builder::local(),
                Command::Proxy => V2Builder::proxy(header.transport(), *header.addresses()),
            };
            builder.tlvs(tlvs).encode()
        }
    };
    let Ok(encoded) = encoded else {
        // Only bad SSL sub-TLVs (reported lazily by the decoder) are refused by the encoder.
        return;
    };
    let again = decode(&encoded).expect("a re-encoded header decodes");
    assert_eq!(again.consumed, encoded.len());
    assert_eq!(again.header.addresses(), header.addresses());
    assert_eq!(again.header.command(), header.command());
    if header.command() == Command::Proxy {
        assert_eq!(again.header.transport(), header.transport());
    }
    assert!(
        again
            .header
            .tlvs()
            .map(strip_crc)
            .eq(header.tlvs().map(strip_crc))
    );
}

/// The checksum is recomputed on re-encoding (LOCAL headers drop their address block).
fn strip_crc<'a, E>(t: Result<Tlv<'a>, E>) -> Result<Tlv<'a>, E> {
    t.map(|t| {
        if let Tlv::Crc32c(_) = t {
            Tlv::Crc32c(0)
        } else {
            t
        }
    })
}

fn check_prefixes(data: &[u8], full: &Result<Decoded<'_>, DecodeError>) {
    for n in 0..data.len() {
        let got = decode(&data[..n]);
        match (full, &got) {
            (Ok(f), Err(DecodeError::Incomplete { .. })) => assert!(n < f.consumed),
            (Err(_), Err(DecodeError::Incomplete { .. })) => {}
            (Ok(f), Ok(g)) => assert_eq!(f, g),
            (Err(f), Err(g)) => assert_eq!(f.kind(), g.kind()),
            (f, g) => panic!("prefix of {n} bytes gave {g:?}, full input {f:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_passes_every_check() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let mut seen = 0;
        for (target, check) in [
            ("proxy_v1", super::proxy_v1 as fn(&[u8])),
            ("proxy_v2", super::proxy_v2),
            ("proxy_any", super::proxy_any),
        ] {
            for entry in std::fs::read_dir(corpus.join(target)).expect("corpus dir") {
                check(&std::fs::read(entry.expect("entry").path()).expect("seed"));
                seen += 1;
            }
        }
        assert!(seen > 0);
    }
}
