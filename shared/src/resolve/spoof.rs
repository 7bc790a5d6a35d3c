//! Spoof signals: facts about a request that suggest someone tried to forge its origin. They never change the
//! decision (the walk is already safe against each); they are for logs, metrics and the trace.

use std::fmt;

/// One spoof signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Spoof {
    /// Client-IP headers arrived from a peer that is not trusted to forward.
    UntrustedForwardingHeaders,
    /// A single-address header (e.g. `X-Real-IP`) had more than one value.
    DuplicateSingleHeader,
    /// `X-Forwarded-For` arrived as more than one line (proxies append to one line; a second line is usually the
    /// client's own).
    MultipleXffLines,
    /// `Forwarded` arrived as more than one line.
    MultipleForwardedLines,
    /// A `_` look-alike of a client-IP header name (`X_Forwarded_For`, `x-real_ip`).
    HeaderNameVariant,
    /// `X-Forwarded-For` and `Forwarded` were both present and the same walk over each gives different clients.
    XffForwardedMismatch,
}

impl Spoof {
    /// Every signal, in bit order.
    pub const ALL: [Spoof; 6] = [
        Spoof::UntrustedForwardingHeaders,
        Spoof::DuplicateSingleHeader,
        Spoof::MultipleXffLines,
        Spoof::MultipleForwardedLines,
        Spoof::HeaderNameVariant,
        Spoof::XffForwardedMismatch,
    ];

    /// A stable snake_case label for logs, metrics and JSON output.
    pub fn label(self) -> &'static str {
        match self {
            Spoof::UntrustedForwardingHeaders => "untrusted_forwarding_headers",
            Spoof::DuplicateSingleHeader => "duplicate_single_header",
            Spoof::MultipleXffLines => "multiple_xff_lines",
            Spoof::MultipleForwardedLines => "multiple_forwarded_lines",
            Spoof::HeaderNameVariant => "header_name_variant",
            Spoof::XffForwardedMismatch => "xff_forwarded_mismatch",
        }
    }

    /// Parses a label back.
    pub fn from_label(label: &str) -> Option<Spoof> {
        Spoof::ALL.into_iter().find(|s| s.label() == label)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A small set of [`Spoof`] signals.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SpoofSignals(u8);

impl SpoofSignals {
    /// No signal.
    pub const NONE: SpoofSignals = SpoofSignals(0);

    /// Adds a signal.
    pub fn insert(&mut self, s: Spoof) {
        self.0 |= s.bit();
    }

    /// Whether a signal is present.
    pub fn contains(self, s: Spoof) -> bool {
        self.0 & s.bit() != 0
    }

    /// Whether no signal is present.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The signals present, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Spoof> {
        Spoof::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// The labels of the signals present, in bit order.
    pub fn labels(self) -> impl Iterator<Item = &'static str> {
        self.iter().map(Spoof::label)
    }
}

impl fmt::Debug for SpoofSignals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.labels()).finish()
    }
}

impl FromIterator<Spoof> for SpoofSignals {
    fn from_iter<I: IntoIterator<Item = Spoof>>(iter: I) -> Self {
        let mut s = SpoofSignals::NONE;
        for x in iter {
            s.insert(x);
        }
        s
    }
}
