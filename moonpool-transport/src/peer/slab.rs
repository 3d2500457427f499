//! `Slab`: values in a vector with a free list, addressed by index.
//!
//! Insert and remove are O(1) and allocate nothing once the vector has
//! grown to the peak count; iteration is in index order, which depends only
//! on the sequence of inserts and removes (deterministic). An index is
//! valid from its insert until its remove; the owner of an index removes
//! it exactly once.
//!
//! Invariant: `len` counts the occupied entries; `free` lists exactly the
//! vacant ones; an emptied slab drops its storage.

/// Values addressed by index.
pub(crate) struct Slab<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Stores `value`; returns its index.
    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(at) => {
                self.entries[at] = Some(value);
                at
            }
            None => {
                self.entries.push(Some(value));
                self.entries.len() - 1
            }
        }
    }

    /// Takes the value at `at`, if any.
    pub(crate) fn remove(&mut self, at: usize) -> Option<T> {
        let value = self.entries.get_mut(at)?.take()?;
        self.len -= 1;
        if self.len == 0 {
            self.entries.clear();
            self.free.clear();
        } else {
            self.free.push(at);
        }
        Some(value)
    }

    /// Whether nothing is stored.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The values, in index order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn indexes_are_reused_and_iteration_follows_them() {
        let mut s = Slab::default();
        let a = s.insert('a');
        let b = s.insert('b');
        let c = s.insert('c');
        assert_eq!(s.remove(b), Some('b'));
        assert_eq!(s.remove(b), None, "removed twice");
        let d = s.insert('d');
        assert_eq!(d, b, "the free index is reused");
        assert_eq!(s.values().copied().collect::<Vec<_>>(), vec!['a', 'd', 'c']);
        for i in [a, c, d] {
            s.remove(i);
        }
        assert!(s.is_empty());
        assert_eq!(s.insert('e'), 0, "an emptied slab starts over");
    }
}
