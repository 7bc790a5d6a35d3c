//! The human-readable account of a decision, and the tracer abstraction that lets the untraced walk compile to
//! nothing extra.

use std::fmt;

/// Receives one note per step of the walk. The silent tracer ignores them without formatting anything.
pub(crate) trait Tracer {
    /// Whether notes are kept: work done only for a note (formatting an entry) is skipped when not.
    const ENABLED: bool;

    /// Records one step.
    fn note(&mut self, args: fmt::Arguments<'_>);
}

/// The tracer of [`crate::Resolver::resolve`].
pub(crate) struct Silent;

impl Tracer for Silent {
    const ENABLED: bool = false;

    #[inline(always)]
    fn note(&mut self, _: fmt::Arguments<'_>) {}
}

/// The steps of one decision, in order, e.g. `peer 10.0.0.7:5100 is trusted (trust.proxies)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    steps: Vec<String>,
}

impl Trace {
    /// The steps, one line each.
    pub fn steps(&self) -> &[String] {
        &self.steps
    }
}

impl Tracer for Trace {
    const ENABLED: bool = true;

    fn note(&mut self, args: fmt::Arguments<'_>) {
        self.steps.push(args.to_string());
    }
}

impl fmt::Display for Trace {
    /// One step per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(step)?;
        }
        Ok(())
    }
}
