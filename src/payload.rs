//! What both maps' nodes carry, and how an insert carries it across
//! attempts.
//!
//! # Invariants
//!
//! * A [`Payload`]'s hash, key and value are written once, by
//!   [`Payload::new`], before any other thread can reach the node that holds
//!   it, and never change afterwards. They live in [`sync::UnsafeCell`]s, so
//!   under loom every read is checked against that write.
//! * A [`Pending`] owns its node until `published`: dropping it (an early
//!   return, or a panic in user code) frees a node no other thread saw, and
//!   never one the map holds.
//!
//! [`sync::UnsafeCell`]: crate::sync::UnsafeCell

use crate::reclaim;
use crate::sync::UnsafeCell;
use core::borrow::Borrow;

/// A key, its value and its hash: immutable once shared.
#[repr(C)]
pub(crate) struct Payload<K, V> {
    hash: UnsafeCell<u64>,
    key: UnsafeCell<K>,
    value: UnsafeCell<V>,
}

impl<K, V> Payload<K, V> {
    pub(crate) fn new(hash: u64, key: K, value: V) -> Self {
        Self {
            hash: UnsafeCell::new(hash),
            key: UnsafeCell::new(key),
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    pub(crate) fn hash(&self) -> u64 {
        // SAFETY: written only by `new`, before the payload was shared.
        self.hash.with(|p| unsafe { *p })
    }

    #[inline]
    pub(crate) fn key(&self) -> &K {
        // SAFETY: as in `hash`; the reference lives no longer than `self`.
        self.key.with(|p| unsafe { &*p })
    }

    #[inline]
    pub(crate) fn value(&self) -> &V {
        // SAFETY: as in `hash`.
        self.value.with(|p| unsafe { &*p })
    }

    /// The value, mutably.
    ///
    /// # Safety
    ///
    /// The caller has exclusive access to the map holding the payload
    /// (`&mut` to the map), so no other reference to the value exists.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn value_mut(&self) -> &mut V {
        // SAFETY: the caller's exclusivity; the reference lives no longer
        // than `self`.
        self.value.with_mut(|p| unsafe { &mut *p })
    }

    #[inline]
    pub(crate) fn matches<Q>(&self, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.hash() == hash && self.key().borrow() == key
    }

    /// The key and value of a payload this thread owns.
    pub(crate) fn into_parts(self) -> (K, V) {
        (self.key.into_inner(), self.value.into_inner())
    }
}

/// A node type that carries one [`Payload`]: a chain node, a hopscotch entry.
pub(crate) trait Carrier: Sized + 'static {
    type Key: 'static;
    type Value: 'static;

    /// A fresh, unshared node around `payload`.
    fn wrap(payload: Payload<Self::Key, Self::Value>) -> Self;

    /// The payload of a node this thread owns.
    fn unwrap(self) -> Payload<Self::Key, Self::Value>;

    /// The payload.
    fn payload(&self) -> &Payload<Self::Key, Self::Value>;
}

/// A key and value an insert carries across its attempts, allocated into a
/// node the first time an attempt needs one, so that a retry neither
/// reallocates nor needs `K: Clone`.
pub(crate) struct Pending<N: Carrier> {
    state: PendingState<N>,
}

enum PendingState<N: Carrier> {
    Parts {
        key: N::Key,
        value: Option<N::Value>,
    },
    Built(*mut N),
    Gone,
}

impl<N: Carrier> Pending<N> {
    pub(crate) fn new(key: N::Key, value: Option<N::Value>) -> Self {
        Self {
            state: PendingState::Parts { key, value },
        }
    }

    pub(crate) fn key(&self) -> &N::Key {
        match &self.state {
            PendingState::Parts { key, .. } => key,
            // SAFETY: a built node is owned by this call until published;
            // other threads at most compare its address.
            PendingState::Built(node) => unsafe { (**node).payload().key() },
            PendingState::Gone => unreachable!("pending node used after publication"),
        }
    }

    pub(crate) fn has_value(&self) -> bool {
        !matches!(&self.state, PendingState::Parts { value: None, .. })
    }

    /// Replaces the value (a `compute` retry computed a new one).
    pub(crate) fn set_value(&mut self, new: N::Value) {
        let state = core::mem::replace(&mut self.state, PendingState::Gone);
        let key = match state {
            PendingState::Parts { key, .. } => key,
            // SAFETY: never published, owned by this call (a map withdraws
            // an unpublished node from wherever it showed it before its
            // attempt gives up).
            PendingState::Built(node) => unsafe { reclaim::take(node) }.unwrap().into_parts().0,
            PendingState::Gone => unreachable!("pending node used after publication"),
        };
        self.state = PendingState::Parts {
            key,
            value: Some(new),
        };
    }

    /// The node, allocated on first use.
    pub(crate) fn node(&mut self, hash: u64) -> *mut N {
        let state = core::mem::replace(&mut self.state, PendingState::Gone);
        let node = match state {
            PendingState::Parts {
                key,
                value: Some(value),
            } => reclaim::alloc(N::wrap(Payload::new(hash, key, value))),
            PendingState::Built(node) => node,
            PendingState::Parts { value: None, .. } | PendingState::Gone => {
                unreachable!("pending node built without a value")
            }
        };
        self.state = PendingState::Built(node);
        node
    }

    /// The node was published: it belongs to the map now. Called right
    /// after the publishing CAS, before any code that could panic (a user
    /// `Eq` in the clean-up, a destructor run by the reclaimer), so an
    /// unwinding call never frees a node the map holds.
    pub(crate) fn published(&mut self) {
        self.state = PendingState::Gone;
    }
}

impl<N: Carrier> Drop for Pending<N> {
    fn drop(&mut self) {
        if let PendingState::Built(node) = self.state {
            // SAFETY: never published, so no other thread dereferenced it.
            unsafe { reclaim::destroy(node) };
        }
    }
}

/// How a conditional insert (`claim`) ended.
pub(crate) enum Claim<R, V> {
    /// This call published its node; what `on_insert` made of its value.
    Inserted(R),
    /// The key was present, with this value.
    Present(V),
}
