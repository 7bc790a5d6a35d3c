//! Stats defined through `proxy_define_metric`, with Envoy's rules: ids are per VM and carry the
//! metric type in their low bits, values live in the host's stats store and survive a VM reload, a
//! counter only goes up (an increment ≤ 0 is BadArgument), a histogram cannot be read back.

use std::collections::{BTreeMap, HashMap};

use crate::status::Status;

/// Metric kinds as numbered by the ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Monotonic counter.
    Counter,
    /// Gauge.
    Gauge,
    /// Histogram (count and sum kept here).
    Histogram,
}

impl MetricKind {
    fn from_abi(raw: i32) -> Option<MetricKind> {
        match raw {
            0 => Some(MetricKind::Counter),
            1 => Some(MetricKind::Gauge),
            2 => Some(MetricKind::Histogram),
            _ => None,
        }
    }
}

/// One metric's current value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricValue {
    /// Its kind.
    pub kind: MetricKind,
    /// Counter or gauge value; for a histogram the sum of recorded values.
    pub value: i64,
    /// For a histogram, how many values were recorded.
    pub samples: u64,
}

/// The host's stats store plus the current VM's id table.
#[derive(Debug, Default)]
pub struct Metrics {
    values: BTreeMap<String, MetricValue>,
    ids: HashMap<u32, String>,
    next_id: u32,
}

impl Metrics {
    /// Value of a metric by the name the module defined.
    pub fn get(&self, name: &str) -> Option<MetricValue> {
        self.values.get(name).copied()
    }

    /// Every metric, by name.
    pub fn all(&self) -> &BTreeMap<String, MetricValue> {
        &self.values
    }

    /// Keeps the values, forgets the ids (a new VM defines its own).
    pub(crate) fn for_new_vm(self) -> Metrics {
        Metrics {
            values: self.values,
            ids: HashMap::new(),
            next_id: 0,
        }
    }

    pub(crate) fn define(&mut self, kind: i32, name: &str) -> Result<u32, Status> {
        let kind = MetricKind::from_abi(kind).ok_or(Status::BadArgument)?;
        let entry = self.values.entry(name.to_owned()).or_insert(MetricValue {
            kind,
            value: 0,
            samples: 0,
        });
        if entry.kind != kind {
            return Err(Status::BadArgument);
        }
        // cpp-host: ids advance by 4 and the low two bits hold the type.
        self.next_id = self.next_id.wrapping_add(4);
        let id = self.next_id | kind_bits(kind);
        self.ids.insert(id, name.to_owned());
        Ok(id)
    }

    pub(crate) fn increment(&mut self, id: u32, offset: i64) -> Result<(), Status> {
        let m = self.lookup(id)?;
        match m.kind {
            MetricKind::Counter if offset > 0 => m.value = m.value.saturating_add(offset),
            MetricKind::Gauge => m.value = m.value.saturating_add(offset),
            _ => return Err(Status::BadArgument),
        }
        Ok(())
    }

    pub(crate) fn record(&mut self, id: u32, value: u64) -> Result<(), Status> {
        let m = self.lookup(id)?;
        let v = i64::try_from(value).unwrap_or(i64::MAX);
        match m.kind {
            MetricKind::Counter => m.value = m.value.saturating_add(v),
            MetricKind::Gauge => m.value = v,
            MetricKind::Histogram => {
                m.value = m.value.saturating_add(v);
                m.samples = m.samples.saturating_add(1);
            }
        }
        Ok(())
    }

    pub(crate) fn read(&mut self, id: u32) -> Result<u64, Status> {
        let m = self.lookup(id)?;
        match m.kind {
            MetricKind::Histogram => Err(Status::BadArgument),
            _ => Ok(u64::try_from(m.value).unwrap_or(0)),
        }
    }

    fn lookup(&mut self, id: u32) -> Result<&mut MetricValue, Status> {
        let name = self.ids.get(&id).ok_or(Status::NotFound)?;
        self.values.get_mut(name).ok_or(Status::NotFound)
    }
}

fn kind_bits(kind: MetricKind) -> u32 {
    match kind {
        MetricKind::Counter => 0,
        MetricKind::Gauge => 1,
        MetricKind::Histogram => 2,
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // a failing test panics
mod tests {
    use super::*;

    #[test]
    fn counters_only_go_up_and_survive_a_new_vm() {
        let mut m = Metrics::default();
        let id = m.define(0, "c").unwrap_or_default();
        assert_eq!(m.increment(id, 0), Err(Status::BadArgument));
        assert_eq!(m.increment(id, 2), Ok(()));
        let mut m = m.for_new_vm();
        assert_eq!(m.increment(id, 1), Err(Status::NotFound));
        let id = m.define(0, "c").unwrap_or_default();
        assert_eq!(m.increment(id, 1), Ok(()));
        assert_eq!(m.get("c").map(|v| v.value), Some(3));
    }
}
