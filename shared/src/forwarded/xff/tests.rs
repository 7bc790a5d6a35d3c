use super::*;
use crate::addr::ClientAddr;

fn ips(lines: &[&str]) -> Vec<Result<Node, crate::forwarded::EntryErrorKind>> {
    entries_rev(lines.iter().rev().map(|l| l.as_bytes()))
        .map(|e| e.node)
        .collect()
}

#[test]
fn lines_and_coalesced_line_agree() {
    assert_eq!(
        ips(&["192.0.2.1, 198.51.100.2", "10.0.0.1"]),
        ips(&["192.0.2.1, 198.51.100.2, 10.0.0.1"])
    );
    let first = ips(&["192.0.2.1"]);
    assert_eq!(
        first,
        vec![Ok(Node::Addr(ClientAddr {
            ip: "192.0.2.1".parse().expect("ip"),
            port: None
        }))]
    );
}
