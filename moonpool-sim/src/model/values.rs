//! Per-seed values a workload records for checks across runs: a gauge
//! (the last value set) or a small map of them, by name. Unlike counters
//! they are not sums; unlike everything else on the world they are only
//! observations: recording one draws nothing and schedules nothing, so
//! it never changes an execution or its fingerprint.
//!
//! Bounded: at most [`VALUES_MAX`] names per seed and [`VALUE_ENTRIES_MAX`]
//! keys per map; a value past a bound is dropped and counted as
//! `sim.values_dropped`.

use std::collections::BTreeMap;

/// Names a seed may record.
pub(crate) const VALUES_MAX: usize = 256;
/// Keys one map value may hold.
pub(crate) const VALUE_ENTRIES_MAX: usize = 256;

/// A value recorded for one seed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum SeedValue {
    /// A gauge: the last value set.
    Last(i64),
    /// A small map, key by key (each key's last value).
    Map(BTreeMap<String, i64>),
}

/// The values of one seed, owned by its world.
#[derive(Debug, Default)]
pub(crate) struct SeedValues {
    values: BTreeMap<String, SeedValue>,
    dropped: u64,
}

impl SeedValues {
    /// Sets the gauge `name` to `value`. False if it was dropped (too many
    /// names, or `name` holds a map).
    pub(crate) fn set(&mut self, name: &str, value: i64) -> bool {
        let full = self.values.len() >= VALUES_MAX;
        match self.values.get_mut(name) {
            Some(SeedValue::Last(v)) => *v = value,
            None if !full => {
                self.values.insert(name.to_string(), SeedValue::Last(value));
            }
            _ => {
                self.dropped += 1;
                return false;
            }
        }
        true
    }

    /// Sets `key` of the map `name` to `value`. False if it was dropped
    /// (too many names or keys, or `name` holds a gauge).
    pub(crate) fn set_entry(&mut self, name: &str, key: &str, value: i64) -> bool {
        if !self.values.contains_key(name) {
            if self.values.len() >= VALUES_MAX {
                self.dropped += 1;
                return false;
            }
            self.values
                .insert(name.to_string(), SeedValue::Map(BTreeMap::new()));
        }
        let Some(SeedValue::Map(map)) = self.values.get_mut(name) else {
            self.dropped += 1;
            return false;
        };
        if let Some(v) = map.get_mut(key) {
            *v = value;
        } else if map.len() < VALUE_ENTRIES_MAX {
            map.insert(key.to_string(), value);
        } else {
            self.dropped += 1;
            return false;
        }
        true
    }

    /// Every value, by name.
    pub(crate) fn take(&mut self) -> BTreeMap<String, SeedValue> {
        std::mem::take(&mut self.values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gauge_keeps_its_last_value_and_a_map_its_keys() {
        let mut v = SeedValues::default();
        assert!(v.set("term", 3) && v.set("term", 5));
        assert!(v.set_entry("balance", "a", 1) && v.set_entry("balance", "b", 2));
        assert!(v.set_entry("balance", "a", 7));
        // A name keeps its shape.
        assert!(!v.set("balance", 1) && !v.set_entry("term", "x", 1));
        assert_eq!(v.dropped, 2);
        let all = v.take();
        assert_eq!(all["term"], SeedValue::Last(5));
        assert_eq!(
            all["balance"],
            SeedValue::Map([("a".to_string(), 7), ("b".to_string(), 2)].into())
        );
    }

    #[test]
    fn values_past_the_bounds_are_dropped() {
        let mut v = SeedValues::default();
        for i in 0..VALUES_MAX {
            assert!(v.set(&format!("g{i}"), 1));
        }
        assert!(!v.set("one-too-many", 1));
        assert!(v.set("g0", 2), "an existing name is still updated");
        let mut m = SeedValues::default();
        for i in 0..VALUE_ENTRIES_MAX {
            assert!(m.set_entry("m", &i.to_string(), 1));
        }
        assert!(!m.set_entry("m", "one-too-many", 1));
        assert_eq!((v.dropped, m.dropped), (1, 1));
    }
}
