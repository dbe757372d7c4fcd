//! A group's queue for one channel: highest priority first, then oldest.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use super::item::{Item, ItemId};
use super::time::Millis;

/// The sort key of a queued item. Ordering by it *is* the queue order:
/// priority descending, then creation time, then id (a total order, so two
/// items created in the same millisecond still have a fixed place).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct QueueKey {
    priority: Reverse<i32>,
    created_at: Millis,
    id: ItemId,
}

impl QueueKey {
    pub(crate) fn of(item: &Item) -> Self {
        QueueKey {
            priority: Reverse(item.priority),
            created_at: item.created_at,
            id: item.id,
        }
    }
}

/// The queue of one (group, channel). Owned by [`super::Core`].
#[derive(Debug, Default, Clone)]
pub(crate) struct Queue {
    keys: BTreeSet<QueueKey>,
    /// The same items by age, so the longest wait is read without a scan.
    by_age: BTreeSet<(Millis, ItemId)>,
}

impl Queue {
    pub(crate) fn push(&mut self, item: &Item) {
        self.keys.insert(QueueKey::of(item));
        self.by_age.insert((item.created_at, item.id));
    }

    pub(crate) fn remove(&mut self, item: &Item) -> bool {
        self.by_age.remove(&(item.created_at, item.id));
        self.keys.remove(&QueueKey::of(item))
    }

    /// The item routing serves next (what the property tests check order by).
    #[cfg(test)]
    pub(crate) fn head(&self) -> Option<ItemId> {
        self.keys.first().map(|k| k.id)
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Ids in queue order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = ItemId> + '_ {
        self.keys.iter().map(|k| k.id)
    }

    /// The creation time of the longest-waiting item (not the head: a
    /// high-priority newcomer may stand before it).
    pub(crate) fn oldest_created_at(&self) -> Option<Millis> {
        self.by_age.first().map(|&(at, _)| at)
    }

    /// 1-based place of an item in the queue, if it is queued here.
    pub(crate) fn position(&self, item: &Item) -> Option<usize> {
        let key = QueueKey::of(item);
        self.keys
            .contains(&key)
            .then(|| self.keys.range(..key).count() + 1)
    }
}
