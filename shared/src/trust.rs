//! Trusted address ranges and the trust rules built from them.
//!
//! A [`CidrSet`] is the union of CIDRs and presets, stored as sorted, disjoint, merged ranges of `u32` (IPv4) and
//! `u128` (IPv6). A lookup is one binary search, with no allocation, so it is cheap enough to run once per hop.
//!
//! Presets (each is a documented decision):
//! - `loopback`: `127.0.0.0/8`, `::1/128`.
//! - `private`: RFC 1918 (`10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`) and RFC 4193 unique local IPv6
//!   (`fc00::/7`). Link-local is deliberately not included: on every major cloud `169.254.169.254` is the instance
//!   metadata service, which is never a proxy, and link-local addresses are not routed, so a proxy never forwards
//!   from one across a network.
//! - `linklocal`: `169.254.0.0/16`, `fe80::/10`, for the rare setups (some sidecar and node-local proxies) that
//!   really forward from link-local addresses.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::addr::canonical_ip;

/// One entry of a trusted or internal range list: a CIDR (or a bare address) or a named preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CidrSpec {
    /// A network, e.g. `10.0.0.0/8`; a bare address is a `/32` or `/128`.
    Net(IpNet),
    /// A named group of ranges.
    Preset(Preset),
}

/// Named range groups; see the [module docs](self) for what each holds and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// `127.0.0.0/8`, `::1/128`.
    Loopback,
    /// RFC 1918 and RFC 4193 ULA; not link-local.
    Private,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
}

/// The error for a range list entry that is neither a CIDR, an address nor a preset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    /// Not a CIDR, an address or a preset name.
    #[error("not a valid CIDR, address or preset (loopback, private, linklocal): {0:?}")]
    Invalid(String),
    /// A CIDR with host bits set, such as `10.0.0.1/8`: almost always a typo for a different network.
    #[error("CIDR has host bits set (did you mean {suggestion}?): {value:?}")]
    HostBits {
        /// The entry as written.
        value: String,
        /// The network it truncates to.
        suggestion: IpNet,
    },
}

impl Preset {
    /// The preset's name in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Loopback => "loopback",
            Preset::Private => "private",
            Preset::LinkLocal => "linklocal",
        }
    }

    /// The networks the preset stands for.
    // The `panic!`s below run in const evaluation: a bad constant fails the build, never a request.
    #[allow(clippy::panic)]
    pub fn nets(self) -> &'static [IpNet] {
        const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> IpNet {
            match Ipv4Net::new(Ipv4Addr::new(a, b, c, d), len) {
                Ok(n) => IpNet::V4(n),
                Err(_) => panic!("bad preset prefix length"),
            }
        }
        const fn v6(first: u16, len: u8) -> IpNet {
            match Ipv6Net::new(Ipv6Addr::new(first, 0, 0, 0, 0, 0, 0, 0), len) {
                Ok(n) => IpNet::V6(n),
                Err(_) => panic!("bad preset prefix length"),
            }
        }
        const LOOPBACK: [IpNet; 2] = [
            v4(127, 0, 0, 0, 8),
            match Ipv6Net::new(Ipv6Addr::LOCALHOST, 128) {
                Ok(n) => IpNet::V6(n),
                Err(_) => panic!("bad preset prefix length"),
            },
        ];
        const PRIVATE: [IpNet; 4] = [
            v4(10, 0, 0, 0, 8),
            v4(172, 16, 0, 0, 12),
            v4(192, 168, 0, 0, 16),
            v6(0xfc00, 7),
        ];
        const LINK_LOCAL: [IpNet; 2] = [v4(169, 254, 0, 0, 16), v6(0xfe80, 10)];
        match self {
            Preset::Loopback => &LOOPBACK,
            Preset::Private => &PRIVATE,
            Preset::LinkLocal => &LINK_LOCAL,
        }
    }
}

impl FromStr for CidrSpec {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "loopback" => return Ok(CidrSpec::Preset(Preset::Loopback)),
            "private" => return Ok(CidrSpec::Preset(Preset::Private)),
            "linklocal" => return Ok(CidrSpec::Preset(Preset::LinkLocal)),
            _ => {}
        }
        if let Ok(net) = s.parse::<IpNet>() {
            if net.trunc() != net {
                return Err(CidrError::HostBits {
                    value: s.to_owned(),
                    suggestion: net.trunc(),
                });
            }
            return Ok(CidrSpec::Net(canonical_net(net)));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(CidrSpec::Net(canonical_net(IpNet::from(ip))));
        }
        Err(CidrError::Invalid(s.to_owned()))
    }
}

impl fmt::Display for CidrSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrSpec::Net(net) => write!(f, "{net}"),
            CidrSpec::Preset(p) => f.write_str(p.name()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for CidrSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for CidrSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A set of address ranges with an allocation-free membership test.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CidrSet {
    specs: Vec<CidrSpec>,
    v4: Vec<(u32, u32)>,
    /// `v4` again when it holds one to [`FEW`] ranges, for the branch-free lookup in [`CidrSet::contains_v4`].
    v4_few: Option<Few>,
    v6: Vec<(u128, u128)>,
}

/// How many IPv4 ranges the branch-free lookup takes: the common configurations (RFC 1918 is three ranges, a
/// cloud VPC one or two) fit.
const FEW: usize = 4;

/// Up to [`FEW`] ranges as `(start, last - start)`, padded by repeating the first, so an address is in one of
/// them when `address - start <= last - start` (wrapping) for any slot: no branch per range and no early exit
/// that depends on the address, and nothing for the compiler to unroll into spilled pointers (the 5-hop
/// resolution spent about 30 instructions per request on those; BENCHMARKS.md, "Client-IP resolution").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Few([(u32, u32); FEW]);

impl Few {
    fn new(ranges: &[(u32, u32)]) -> Option<Few> {
        let &first = ranges.first()?;
        if ranges.len() > FEW {
            return None;
        }
        let mut slots = [first; FEW];
        for (slot, &range) in slots.iter_mut().zip(ranges) {
            *slot = range;
        }
        Some(Few(slots.map(|(lo, hi)| (lo, hi - lo))))
    }

    #[inline(always)]
    fn contains(&self, x: u32) -> bool {
        self.0
            .iter()
            .fold(false, |hit, &(lo, span)| hit | (x.wrapping_sub(lo) <= span))
    }
}

impl CidrSet {
    /// Builds the set from entries as configured; overlapping and adjacent ranges are merged.
    pub fn new(specs: Vec<CidrSpec>) -> CidrSet {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for spec in &specs {
            let nets: &[IpNet] = match spec {
                CidrSpec::Net(net) => std::slice::from_ref(net),
                CidrSpec::Preset(p) => p.nets(),
            };
            for net in nets {
                match net {
                    IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                    IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
                }
            }
        }
        let v4 = merge(v4);
        CidrSet {
            specs,
            v4_few: Few::new(&v4),
            v4,
            v6: merge(v6),
        }
    }

    /// Whether the address is in the set. IPv4-mapped IPv6 is looked up as IPv4.
    #[inline(always)]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match canonical_ip(ip) {
            IpAddr::V4(v4) => self.contains_v4(v4),
            IpAddr::V6(v6) => lookup(&self.v6, u128::from(v6)),
        }
    }

    /// [`CidrSet::contains`] for an IPv4 address, for callers that already hold one.
    #[inline]
    pub fn contains_v4(&self, ip: Ipv4Addr) -> bool {
        match &self.v4_few {
            Some(few) => few.contains(u32::from(ip)),
            None => lookup(&self.v4, u32::from(ip)),
        }
    }

    /// The entries as configured, for display and for `check-config` warnings.
    pub fn specs(&self) -> &[CidrSpec] {
        &self.specs
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Whether every IPv4 or every IPv6 address is in the set (`0.0.0.0/0`, `::/0`): trusting that is a mistake.
    pub fn covers_everything(&self) -> bool {
        self.v4 == [(0, u32::MAX)] || self.v6 == [(0, u128::MAX)]
    }
}

impl From<Vec<CidrSpec>> for CidrSet {
    fn from(specs: Vec<CidrSpec>) -> Self {
        CidrSet::new(specs)
    }
}

impl<'de> serde::Deserialize<'de> for CidrSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<CidrSpec>::deserialize(d).map(CidrSet::new)
    }
}

impl serde::Serialize for CidrSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.specs.serialize(s)
    }
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) is stored as the IPv4 network it stands for, because
/// addresses are normalised the same way before lookup.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(n) = net
        && let Some(v4) = n.network().to_ipv4_mapped()
        && n.prefix_len() >= 96
        && let Ok(v4net) = Ipv4Net::new(v4, n.prefix_len() - 96)
    {
        return IpNet::V4(v4net);
    }
    net
}

fn merge<T: Copy + Ord + num::One>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    heap_sort(&mut ranges);
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        if let Some(last) = out.last_mut()
            && (lo <= last.1 || last.1.checked_succ() == Some(lo))
        {
            if hi > last.1 {
                last.1 = hi;
            }
            continue;
        }
        out.push((lo, hi));
    }
    out
}

/// Sorts in place in O(n log n) without allocating. The set is built once per configuration, so its speed does not
/// matter, but its size does: `sort_unstable` instantiated for both address families was 13 KB of the wasm filter
/// at `opt-level = 3` (BENCHMARKS.md, "Wasm filter"); this is a few hundred bytes.
fn heap_sort<T: Copy + Ord>(v: &mut [T]) {
    for root in (0..v.len() / 2).rev() {
        sift_down(v, root);
    }
    for end in (1..v.len()).rev() {
        v.swap(0, end);
        if let Some(heap) = v.get_mut(..end) {
            sift_down(heap, 0);
        }
    }
}

/// Moves `heap[root]` down until neither child is larger (a max-heap below `root`).
fn sift_down<T: Copy + Ord>(heap: &mut [T], mut root: usize) {
    loop {
        // `root < heap.len() / 2` or a child of such a root, so neither index overflows.
        let left = 2 * root + 1;
        let Some(&left_value) = heap.get(left) else {
            return;
        };
        let (child, child_value) = match heap.get(left + 1) {
            Some(&right_value) if right_value > left_value => (left + 1, right_value),
            _ => (left, left_value),
        };
        match heap.get(root) {
            Some(&value) if value < child_value => heap.swap(root, child),
            _ => return,
        }
        root = child;
    }
}

/// Below this many ranges a forward scan beats a binary search (no dependent loads, predictable branches); the
/// common configuration has one to four ranges per family.
const LINEAR_SCAN_MAX: usize = 8;

// Out of line: inlined into the resolver's walk, LLVM unrolled the scan eight times and computed every unrolled
// step's address up front on each request, spilled to the stack, whether or not a lookup ran (about 30
// instructions per 5-hop resolution; BENCHMARKS.md, "Client-IP resolution").
#[inline(never)]
fn lookup<T: Copy + Ord>(ranges: &[(T, T)], x: T) -> bool {
    if ranges.len() <= LINEAR_SCAN_MAX {
        // Sorted and disjoint: the first range that does not end below x decides.
        for &(lo, hi) in ranges {
            if x <= hi {
                return lo <= x;
            }
        }
        return false;
    }
    // The first range whose start is above x; the candidate is the one before it.
    let idx = ranges.partition_point(|&(lo, _)| lo <= x);
    match idx.checked_sub(1).and_then(|i| ranges.get(i)) {
        Some(&(_, hi)) => x <= hi,
        None => false,
    }
}

mod num {
    /// Checked successor for the two range widths.
    pub(super) trait One: Sized {
        fn checked_succ(self) -> Option<Self>;
    }
    impl One for u32 {
        fn checked_succ(self) -> Option<Self> {
            self.checked_add(1)
        }
    }
    impl One for u128 {
        fn checked_succ(self) -> Option<Self> {
            self.checked_add(1)
        }
    }
}

#[cfg(test)]
mod tests;
