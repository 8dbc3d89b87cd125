//! `KeyTable`: a value per key (a key's message count, its ordering high-water mark), kept
//! in a `Vec` when keys are few and in a map of the keys actually used when they are many,
//! so that `keys = 4294967295` costs what the run touches, not 4 bytes a key up front.

use std::collections::BTreeMap;

/// Keys up to this many get a `Vec` (4 MB of `u32` at most).
const DENSE_KEYS: u32 = 1 << 20;

/// A value of type `T` (starting at `T::default()`) for each key `0..keys`.
#[derive(Clone, Debug, Default)]
pub struct KeyTable<T> {
    keys: u32,
    dense: Vec<T>,
    sparse: BTreeMap<u32, T>,
}

impl<T: Copy + Default> KeyTable<T> {
    /// A table for keys `0..keys`, every value at its default.
    #[must_use]
    pub fn new(keys: u32) -> KeyTable<T> {
        KeyTable {
            keys,
            dense: if keys <= DENSE_KEYS {
                vec![T::default(); keys as usize]
            } else {
                Vec::new()
            },
            sparse: BTreeMap::new(),
        }
    }

    /// The value of key `k`; none when `k` is not a key of the table.
    #[must_use]
    #[inline]
    pub fn get(&self, k: u32) -> Option<T> {
        if k >= self.keys {
            None
        } else if self.keys <= DENSE_KEYS {
            Some(self.dense[k as usize])
        } else {
            Some(self.sparse.get(&k).copied().unwrap_or_default())
        }
    }

    /// The value of key `k`, to change; none when `k` is not a key of the table. Always
    /// inlined, the sparse case out of line: a consumer's order check asks on every copy,
    /// and left to itself the compiler called it (seven instructions and a call).
    #[inline(always)]
    pub fn get_mut(&mut self, k: u32) -> Option<&mut T> {
        if k >= self.keys {
            None
        } else if self.keys <= DENSE_KEYS {
            Some(&mut self.dense[k as usize])
        } else {
            Some(self.sparse_mut(k))
        }
    }

    #[inline(never)]
    fn sparse_mut(&mut self, k: u32) -> &mut T {
        self.sparse.entry(k).or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_billion_keys_cost_only_the_keys_used() {
        let mut t: KeyTable<u32> = KeyTable::new(u32::MAX);
        *t.get_mut(4_000_000_000).expect("a key") += 2;
        assert_eq!(t.get(4_000_000_000), Some(2));
        assert_eq!(t.get(7), Some(0));
        assert_eq!(t.get(u32::MAX), None);
        assert!(t.dense.is_empty());
        assert_eq!(t.sparse.len(), 1);
    }

    #[test]
    fn few_keys_are_a_vector() {
        let mut t: KeyTable<u32> = KeyTable::new(3);
        *t.get_mut(2).expect("a key") = 5;
        assert_eq!((t.get(2), t.get(3)), (Some(5), None));
        assert_eq!(t.dense.len(), 3);
    }
}
