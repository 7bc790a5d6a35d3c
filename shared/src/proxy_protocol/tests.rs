//! Properties of the whole codec: round trips, all prefixes, no panics on any input.

use proptest::prelude::*;

use super::*;

#[test]
fn dispatch_on_the_first_byte() {
    assert_eq!(decode(b""), Err(DecodeError::Incomplete { needed: 15 }));
    assert_eq!(
        decode(b"GET / HTTP/1.1").map_err(|e| e.kind()).err(),
        Some("not_proxy")
    );
    assert_eq!(
        decode(b"PROXY UNKNOWN\r\n").map(|d| d.header.version()),
        Ok(Version::V1)
    );
    assert_eq!(
        decode(&V2_SIGNATURE).map_err(|e| e.kind()).err(),
        Some("incomplete")
    );
}

#[test]
fn stacked_header_detection() {
    assert!(starts_with_proxy_header(b"PROXY TCP4 "));
    assert!(starts_with_proxy_header(&V2_SIGNATURE));
    assert!(!starts_with_proxy_header(b"PROX"));
    assert!(!starts_with_proxy_header(b"POST / HTTP/1.1"));
    assert!(!starts_with_proxy_header(b""));
}

/// Incremental decoding is consistent: a prefix shorter than the header is `Incomplete`, a
/// longer one gives the full result, and a terminal error never changes with more input.
fn check_all_prefixes(input: &[u8]) -> Result<(), TestCaseError> {
    let full = decode(input);
    for n in 0..input.len() {
        let prefix = input.get(..n).unwrap_or(input);
        let got = decode(prefix);
        match (&full, &got) {
            (_, Err(DecodeError::Incomplete { needed })) => {
                prop_assert!(*needed >= 1);
                if let Ok(d) = &full {
                    prop_assert!(n < d.consumed);
                }
            }
            (Ok(f), Ok(g)) => {
                prop_assert!(n >= f.consumed);
                prop_assert_eq!(f, g);
            }
            (Err(f), Err(g)) => prop_assert_eq!(f.kind(), g.kind(), "prefix of {} bytes", n),
            (f, g) => prop_assert!(false, "prefix of {} bytes: {:?}, full: {:?}", n, g, f),
        }
    }
    Ok(())
}

/// The fast path only ever returns what the general decoder returns for the same bytes.
fn fast_path_agrees(input: &[u8]) -> Result<(), TestCaseError> {
    if let Some(fast) = v2::decode_fast(input) {
        prop_assert_eq!(Ok(fast), v2::decode_v2_general(input));
    }
    Ok(())
}

/// Drives every lazy part of a decoded header, so property tests cover the iterators too.
fn walk(header: &Header<'_>) -> usize {
    let mut n = 0;
    for tlv in header.tlvs() {
        n += 1;
        if let Ok(Tlv::Ssl(ssl)) = tlv {
            n += ssl.sub_tlvs().count();
        }
    }
    n
}

/// A TLV with owned data, so strategies can generate it; borrowed as a [`Tlv`] to encode.
#[derive(Debug, Clone)]
enum OwnedTlv {
    Alpn(Vec<u8>),
    Authority(String),
    Crc32c,
    Noop(Vec<u8>),
    UniqueId(Vec<u8>),
    Ssl(u8, u32, Vec<u8>),
    Netns(String),
    Gcp(u64),
    AwsVpce(String),
    AwsOther(u8, Vec<u8>),
    AzureLink(u32),
    AzureOther(u8, Vec<u8>),
    Other(u8, Vec<u8>),
}

impl OwnedTlv {
    fn borrow(&self) -> Tlv<'_> {
        match self {
            Self::Alpn(v) => Tlv::Alpn(v),
            Self::Authority(s) => Tlv::Authority(s),
            Self::Crc32c => Tlv::Crc32c(0),
            Self::Noop(v) => Tlv::Noop(v),
            Self::UniqueId(v) => Tlv::UniqueId(v),
            Self::Ssl(client, verify, subs) => {
                Tlv::Ssl(Ssl::new(ClientFlags(*client), *verify, subs))
            }
            Self::Netns(s) => Tlv::Netns(s),
            Self::Gcp(id) => Tlv::GcpPscConnectionId(*id),
            Self::AwsVpce(s) => Tlv::Aws(Aws::VpceId(s)),
            Self::AwsOther(subtype, value) => Tlv::Aws(Aws::Other {
                subtype: *subtype,
                value,
            }),
            Self::AzureLink(id) => Tlv::Azure(Azure::LinkId(*id)),
            Self::AzureOther(subtype, value) => Tlv::Azure(Azure::Other {
                subtype: *subtype,
                value,
            }),
            Self::Other(tlv_type, value) => Tlv::Other {
                tlv_type: *tlv_type,
                value,
            },
        }
    }
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=max)
}

fn ssl_sub_block() -> impl Strategy<Value = Vec<u8>> {
    let sub = prop_oneof![
        "[ -~]{0,12}".prop_map(|s| (0x21u8, s.into_bytes())),
        "\\PC{0,12}".prop_map(|s| (0x22u8, s.into_bytes())),
        "[A-Z0-9-]{0,20}".prop_map(|s| (0x23u8, s.into_bytes())),
        (0x26u8..=0xFF, bytes(8)),
    ];
    proptest::collection::vec(sub, 0..4).prop_map(|subs| {
        let mut block = Vec::new();
        for (t, v) in subs {
            block.push(t);
            block.extend_from_slice(&u16::try_from(v.len()).unwrap_or(0).to_be_bytes());
            block.extend_from_slice(&v);
        }
        block
    })
}

fn owned_tlv() -> impl Strategy<Value = OwnedTlv> {
    let other_type = any::<u8>().prop_filter("untyped", |t| !Tlv::has_typed_variant(*t));
    prop_oneof![
        bytes(16).prop_map(OwnedTlv::Alpn),
        "\\PC{0,20}".prop_map(OwnedTlv::Authority),
        bytes(8).prop_map(OwnedTlv::Noop),
        bytes(128).prop_map(OwnedTlv::UniqueId),
        (any::<u8>(), any::<u32>(), ssl_sub_block()).prop_map(|(c, v, s)| OwnedTlv::Ssl(c, v, s)),
        "[a-z0-9_-]{0,16}".prop_map(OwnedTlv::Netns),
        any::<u64>().prop_map(OwnedTlv::Gcp),
        "vpce-[0-9a-f]{0,17}".prop_map(OwnedTlv::AwsVpce),
        (2u8..=0xFF, bytes(8)).prop_map(|(s, v)| OwnedTlv::AwsOther(s, v)),
        any::<u32>().prop_map(OwnedTlv::AzureLink),
        (2u8..=0xFF, bytes(8)).prop_map(|(s, v)| OwnedTlv::AzureOther(s, v)),
        (other_type, bytes(16)).prop_map(|(t, v)| OwnedTlv::Other(t, v)),
    ]
}

fn ipv4_pair() -> impl Strategy<Value = Addresses> {
    (
        any::<[u8; 4]>(),
        any::<u16>(),
        any::<[u8; 4]>(),
        any::<u16>(),
    )
        .prop_map(|(s, sp, d, dp)| Addresses::Inet {
            source: SocketAddr::new(core::net::Ipv4Addr::from(s).into(), sp),
            destination: SocketAddr::new(core::net::Ipv4Addr::from(d).into(), dp),
        })
}

fn ipv6_pair() -> impl Strategy<Value = Addresses> {
    (
        any::<[u8; 16]>(),
        any::<u16>(),
        any::<[u8; 16]>(),
        any::<u16>(),
    )
        .prop_map(|(s, sp, d, dp)| Addresses::Inet {
            source: SocketAddr::new(core::net::Ipv6Addr::from(s).into(), sp),
            destination: SocketAddr::new(core::net::Ipv6Addr::from(d).into(), dp),
        })
}

fn unix_pair() -> impl Strategy<Value = Addresses> {
    (bytes(108), bytes(108)).prop_map(|(s, d)| {
        let mut source = [0u8; 108];
        let mut destination = [0u8; 108];
        for (dst, src) in source.iter_mut().zip(&s) {
            *dst = *src;
        }
        for (dst, src) in destination.iter_mut().zip(&d) {
            *dst = *src;
        }
        Addresses::Unix {
            source,
            destination,
        }
    })
}

/// Everything the v2 encoder accepts: command, transport, addresses and TLVs (at most one
/// CRC32C placeholder).
fn v2_input() -> impl Strategy<Value = (Command, Transport, Addresses, Vec<OwnedTlv>)> {
    let transport = prop_oneof![Just(Transport::Stream), Just(Transport::Dgram)];
    let proxy = prop_oneof![
        Just((Transport::Unspec, Addresses::Unspecified)),
        (transport.clone(), ipv4_pair()),
        (transport.clone(), ipv6_pair()),
        (transport, unix_pair()),
    ]
    .prop_map(|(t, a)| (Command::Proxy, t, a));
    let local = Just((Command::Local, Transport::Unspec, Addresses::Unspecified));
    let tlvs = (
        proptest::collection::vec(owned_tlv(), 0..6),
        proptest::option::of(0usize..7),
    )
        .prop_map(|(mut tlvs, crc_at)| {
            if let Some(at) = crc_at {
                tlvs.insert(at.min(tlvs.len()), OwnedTlv::Crc32c);
            }
            tlvs
        });
    (prop_oneof![3 => proxy, 1 => local], tlvs).prop_map(|((c, t, a), tlvs)| (c, t, a, tlvs))
}

fn build<'a>(c: Command, t: Transport, a: Addresses, tlvs: &'a [OwnedTlv]) -> V2Builder<'a> {
    let b = match c {
        Command::Local => V2Builder::local(),
        Command::Proxy => V2Builder::proxy(t, a),
    };
    b.tlvs(tlvs.iter().map(OwnedTlv::borrow))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn v2_round_trip((command, transport, addresses, tlvs) in v2_input(), payload in bytes(8)) {
        let encoded = build(command, transport, addresses, &tlvs).encode().expect("encodable");
        let mut input = encoded.clone();
        input.extend_from_slice(&payload);
        let d = decode(&input).expect("decodes");
        prop_assert_eq!(d.consumed, encoded.len());
        prop_assert_eq!(d.header.version(), Version::V2);
        prop_assert_eq!(d.header.command(), command);
        prop_assert_eq!(d.header.transport(), transport);
        prop_assert_eq!(d.header.addresses(), addresses);
        let decoded: Vec<_> = d
            .header
            .tlvs()
            .map(|t| t.map(|t| if let Tlv::Crc32c(_) = t { Tlv::Crc32c(0) } else { t }))
            .collect();
        let expected: Vec<_> = tlvs.iter().map(|t| Ok(t.borrow())).collect();
        prop_assert_eq!(decoded, expected);
        prop_assert_eq!(starts_with_proxy_header(input.get(d.consumed..).unwrap_or(&[])), false);
        prop_assert_eq!(
            v2::decode_fast(&input).is_some(),
            command == Command::Proxy
                && transport == Transport::Stream
                && matches!(addresses, Addresses::Inet { .. })
                && !tlvs.iter().any(|t| matches!(t, OwnedTlv::Crc32c)),
            "which headers take the fast path"
        );
        fast_path_agrees(&input)?;
        check_all_prefixes(&encoded)?;
    }

    #[test]
    fn v1_round_trip(addresses in prop_oneof![Just(Addresses::Unspecified), ipv4_pair(), ipv6_pair()]) {
        let encoded = encode_v1(&addresses).expect("encodable");
        let d = decode(&encoded).expect("decodes");
        prop_assert_eq!(d.consumed, encoded.len());
        prop_assert_eq!(d.header.addresses(), addresses);
        prop_assert_eq!(d.header.command(), Command::Proxy);
        let transport = if addresses == Addresses::Unspecified { Transport::Unspec } else { Transport::Stream };
        prop_assert_eq!(d.header.transport(), transport);
        check_all_prefixes(&encoded)?;
    }

    #[test]
    fn no_panic_on_arbitrary_bytes(input in bytes(300)) {
        for d in [decode(&input), decode_v1(&input), decode_v2(&input)].into_iter().flatten() {
            prop_assert!(d.consumed <= input.len());
            walk(&d.header);
        }
        walk(&Header { version: Version::V2, command: Command::Proxy, transport: Transport::Unspec,
                       endpoints: Endpoints::Unspecified, tlvs: &input });
    }

    #[test]
    fn no_panic_and_consistent_prefixes_after_a_valid_signature(
        fixed in (0x20u8..=0x22, 0u8..=0x33),
        body in bytes(80),
        declared in proptest::option::of(0u16..100),
    ) {
        let mut input = V2_SIGNATURE.to_vec();
        input.extend_from_slice(&[fixed.0, fixed.1]);
        let len = declared.unwrap_or(u16::try_from(body.len()).unwrap_or(0));
        input.extend_from_slice(&len.to_be_bytes());
        input.extend_from_slice(&body);
        if let Ok(d) = decode(&input) {
            walk(&d.header);
        }
        fast_path_agrees(&input)?;
        check_all_prefixes(&input)?;
    }

    #[test]
    fn mutated_headers_never_panic_and_stay_consistent(
        (command, transport, addresses, tlvs) in v2_input(),
        v1 in prop_oneof![Just(Addresses::Unspecified), ipv4_pair(), ipv6_pair()],
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let v2 = build(command, transport, addresses, &tlvs).encode().expect("encodable");
        let v1 = encode_v1(&v1).expect("encodable");
        for mut input in [v2, v1] {
            for &(at, byte, op) in &edits {
                let at = at % (input.len() + 1);
                match op {
                    0 => { if let Some(b) = input.get_mut(at) { *b = byte; } }
                    1 => input.insert(at, byte),
                    _ => { if at < input.len() { input.remove(at); } }
                }
            }
            if let Ok(d) = decode(&input) {
                walk(&d.header);
            }
            fast_path_agrees(&input)?;
            check_all_prefixes(&input)?;
        }
    }
}
