//! The play queue: an ordered list of track ids in play order, the index of the current item,
//! and the arithmetic of "what comes next" under the repeat modes. Pure data, no I/O; owned by
//! the engine thread, which publishes [`QueueSnapshot`](super::QueueSnapshot)s of it.
//!
//! Every edit that moves items returns a [`Remap`] (old index → new index, `None` when the item
//! is gone) so the engine can keep its own indexes (the heard track, the track being decoded,
//! the pending and the preloaded load) pointing at the same entries. Shuffle reorders the items
//! themselves (the snapshot always shows play order); each entry keeps a key of its unshuffled
//! position, so turning shuffle off restores the original order.

use rand::seq::SliceRandom;

use super::RepeatMode;
use crate::id::SpotifyId;

/// Old index → new index after an edit (`None`: removed).
pub(super) type Remap = Vec<Option<usize>>;

/// Applies a [`Remap`] to an optional index.
pub(super) fn remap(map: &Remap, index: Option<usize>) -> Option<usize> {
    index.and_then(|i| map.get(i).copied().flatten())
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    id: SpotifyId,
    /// Position in the unshuffled order (entries sort by it when shuffle goes off).
    key: u64,
}

#[derive(Debug, Default)]
pub(super) struct Queue {
    entries: Vec<Entry>,
    next_key: u64,
    shuffled: bool,
    /// The item being heard (or loading to be heard).
    pub current: Option<usize>,
}

impl Queue {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn shuffled(&self) -> bool {
        self.shuffled
    }

    pub fn id(&self, index: usize) -> Option<SpotifyId> {
        self.entries.get(index).map(|e| e.id)
    }

    pub fn ids(&self) -> Vec<SpotifyId> {
        self.entries.iter().map(|e| e.id).collect()
    }

    /// Replaces the whole queue (current becomes `None`).
    pub fn replace(&mut self, ids: Vec<SpotifyId>) {
        self.entries = ids
            .into_iter()
            .enumerate()
            .map(|(i, id)| Entry { id, key: i as u64 })
            .collect();
        self.next_key = self.entries.len() as u64;
        self.current = None;
    }

    /// Inserts `ids` at `pos` (clamped to the end). In the unshuffled order they go right after
    /// the entry now before `pos`.
    pub fn insert_at(&mut self, pos: usize, ids: Vec<SpotifyId>) -> Remap {
        let pos = pos.min(self.entries.len());
        let n = ids.len();
        let old_len = self.entries.len();
        // Unshuffled order: the new entries follow the key of the entry before `pos`.
        let after_key = pos
            .checked_sub(1)
            .and_then(|p| self.entries.get(p))
            .map(|e| e.key);
        let first_new_key = match after_key {
            Some(k) => k + 1,
            None => 0,
        };
        for e in &mut self.entries {
            if e.key >= first_new_key {
                e.key += n as u64;
            }
        }
        self.next_key += n as u64;
        let new: Vec<Entry> = ids
            .into_iter()
            .enumerate()
            .map(|(i, id)| Entry {
                id,
                key: first_new_key + i as u64,
            })
            .collect();
        self.entries.splice(pos..pos, new);
        let map: Remap = (0..old_len)
            .map(|i| Some(if i < pos { i } else { i + n }))
            .collect();
        self.current = remap(&map, self.current);
        map
    }

    /// Removes one item; `None` when `index` is out of range.
    pub fn remove(&mut self, index: usize) -> Option<Remap> {
        if index >= self.entries.len() {
            return None;
        }
        let old_len = self.entries.len();
        self.entries.remove(index);
        let map: Remap = (0..old_len)
            .map(|i| match i.cmp(&index) {
                std::cmp::Ordering::Less => Some(i),
                std::cmp::Ordering::Equal => None,
                std::cmp::Ordering::Greater => Some(i - 1),
            })
            .collect();
        self.current = remap(&map, self.current);
        Some(map)
    }

    /// Moves the item at `from` so that it ends up at index `to`; `None` when either is out of
    /// range. The unshuffled order follows only when shuffle is off.
    pub fn move_item(&mut self, from: usize, to: usize) -> Option<Remap> {
        let len = self.entries.len();
        if from >= len || to >= len {
            return None;
        }
        let entry = self.entries.remove(from);
        self.entries.insert(to, entry);
        let map: Remap = (0..len)
            .map(|i| {
                Some(if i == from {
                    to
                } else if from < to && i > from && i <= to {
                    i - 1
                } else if to < from && i >= to && i < from {
                    i + 1
                } else {
                    i
                })
            })
            .collect();
        if !self.shuffled {
            self.renumber_keys();
        }
        self.current = remap(&map, self.current);
        Some(map)
    }

    /// Keeps only the entries at `keep` (in queue order); everything else is removed.
    pub fn retain(&mut self, keep: &[usize]) -> Remap {
        let old_len = self.entries.len();
        let mut map: Remap = vec![None; old_len];
        let mut kept = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if keep.contains(&i) {
                map[i] = Some(kept.len());
                kept.push(*e);
            }
        }
        self.entries = kept;
        self.current = remap(&map, self.current);
        map
    }

    /// Turns shuffle on: the entries at `head` come first (in that order), the rest follow in
    /// random order.
    pub fn shuffle(&mut self, head: &[usize]) -> Remap {
        let old_len = self.entries.len();
        let mut head_idx: Vec<usize> = Vec::new();
        for &h in head {
            if h < old_len && !head_idx.contains(&h) {
                head_idx.push(h);
            }
        }
        let mut rest: Vec<usize> = (0..old_len).filter(|i| !head_idx.contains(i)).collect();
        rest.shuffle(&mut rand::thread_rng());
        self.reorder(head_idx.into_iter().chain(rest).collect())
    }

    /// Turns shuffle off: back to the unshuffled order.
    pub fn unshuffle(&mut self) -> Remap {
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        order.sort_by_key(|&i| self.entries[i].key);
        self.reorder(order)
    }

    pub fn set_shuffled(&mut self, on: bool) {
        self.shuffled = on;
    }

    /// `order[new] = old`.
    fn reorder(&mut self, order: Vec<usize>) -> Remap {
        let mut map: Remap = vec![None; self.entries.len()];
        let mut entries = Vec::with_capacity(order.len());
        for (new, &old) in order.iter().enumerate() {
            if let Some(e) = self.entries.get(old) {
                map[old] = Some(new);
                entries.push(*e);
            }
        }
        self.entries = entries;
        self.current = remap(&map, self.current);
        map
    }

    fn renumber_keys(&mut self) {
        for (i, e) in self.entries.iter_mut().enumerate() {
            e.key = i as u64;
        }
        self.next_key = self.entries.len() as u64;
    }

    /// What follows `from`. `manual` (the user pressed next, or an item failed) moves on even in
    /// [`RepeatMode::One`], wrapping around like [`RepeatMode::All`].
    pub fn next_index(
        &self,
        from: Option<usize>,
        repeat: RepeatMode,
        manual: bool,
    ) -> Option<usize> {
        let len = self.entries.len();
        if len == 0 {
            return None;
        }
        let Some(from) = from else {
            return Some(0);
        };
        if repeat == RepeatMode::One && !manual && from < len {
            return Some(from);
        }
        if from + 1 < len {
            Some(from + 1)
        } else if repeat != RepeatMode::Off {
            Some(0)
        } else {
            None
        }
    }

    /// What precedes `from` (wrapping unless repeat is off).
    pub fn prev_index(&self, from: Option<usize>, repeat: RepeatMode) -> Option<usize> {
        let len = self.entries.len();
        if len == 0 {
            return None;
        }
        match from {
            None => Some(0),
            Some(0) if repeat != RepeatMode::Off => Some(len - 1),
            Some(0) => None,
            Some(f) => Some((f - 1).min(len - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u128) -> Vec<SpotifyId> {
        (1..=n).map(SpotifyId).collect()
    }

    fn q(n: u128) -> Queue {
        let mut q = Queue::default();
        q.replace(ids(n));
        q
    }

    #[test]
    fn insert_remove_move_remap() {
        let mut q = q(4);
        q.current = Some(1);
        let m = q.insert_at(2, vec![SpotifyId(10), SpotifyId(11)]);
        assert_eq!(m, vec![Some(0), Some(1), Some(4), Some(5)]);
        assert_eq!(q.ids(), [1, 2, 10, 11, 3, 4].map(SpotifyId));
        assert_eq!(q.current, Some(1));
        let m = q.remove(0).unwrap();
        assert_eq!(m[0], None);
        assert_eq!(q.current, Some(0));
        assert!(q.remove(99).is_none());
        let m = q.move_item(0, 3).unwrap();
        assert_eq!(q.ids(), [10, 11, 3, 2, 4].map(SpotifyId));
        assert_eq!(m, vec![Some(3), Some(0), Some(1), Some(2), Some(4)]);
        assert_eq!(q.current, Some(3));
        assert!(q.move_item(0, 5).is_none());
        let m = q.move_item(4, 0).unwrap();
        assert_eq!(q.ids(), [4, 10, 11, 3, 2].map(SpotifyId));
        assert_eq!(m, vec![Some(1), Some(2), Some(3), Some(4), Some(0)]);
    }

    #[test]
    fn retain_keeps_listed() {
        let mut q = q(5);
        q.current = Some(3);
        let m = q.retain(&[3]);
        assert_eq!(q.ids(), vec![SpotifyId(4)]);
        assert_eq!(q.current, Some(0));
        assert_eq!(m, vec![None, None, None, Some(0), None]);
    }

    #[test]
    fn shuffle_and_restore() {
        let mut q = q(30);
        q.current = Some(7);
        q.set_shuffled(true);
        let m = q.shuffle(&[7]);
        assert_eq!(q.id(0), Some(SpotifyId(8)));
        assert_eq!(q.current, Some(0));
        assert_eq!(m[7], Some(0));
        let mut sorted = q.ids();
        sorted.sort();
        assert_eq!(sorted, ids(30));
        // An edit while shuffled: play-next after the current item.
        q.insert_at(1, vec![SpotifyId(100)]);
        q.set_shuffled(false);
        q.unshuffle();
        let mut want = ids(8);
        want.push(SpotifyId(100));
        want.extend((9..=30).map(SpotifyId));
        assert_eq!(q.ids(), want);
        assert_eq!(q.current, Some(7));
    }

    #[test]
    fn next_and_prev() {
        let q = q(3);
        use RepeatMode::*;
        assert_eq!(q.next_index(Some(0), Off, false), Some(1));
        assert_eq!(q.next_index(Some(2), Off, false), None);
        assert_eq!(q.next_index(Some(2), All, false), Some(0));
        assert_eq!(q.next_index(Some(1), One, false), Some(1));
        assert_eq!(q.next_index(Some(1), One, true), Some(2));
        assert_eq!(q.next_index(Some(2), One, true), Some(0));
        assert_eq!(q.next_index(None, Off, false), Some(0));
        assert_eq!(q.prev_index(Some(0), Off), None);
        assert_eq!(q.prev_index(Some(0), All), Some(2));
        assert_eq!(q.prev_index(Some(2), Off), Some(1));
        assert_eq!(Queue::default().next_index(None, All, false), None);
    }
}
