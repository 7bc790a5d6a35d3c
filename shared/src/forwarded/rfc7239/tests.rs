use super::*;
use crate::addr::ClientAddr;

#[test]
fn rfc_example_elements_rightmost_first() {
    let line: &[u8] = b"for=192.0.2.43, for=\"[2001:db8:cafe::17]:4711\";proto=https";
    let got: Vec<_> = elements_rev(std::iter::once(line))
        .map(|e| e.node)
        .collect();
    assert_eq!(
        got,
        vec![
            Ok(Node::Addr(ClientAddr {
                ip: "2001:db8:cafe::17".parse().expect("ip"),
                port: Some(4711)
            })),
            Ok(Node::Addr(ClientAddr {
                ip: "192.0.2.43".parse().expect("ip"),
                port: None
            })),
        ]
    );
}
