//! The state root: a compact sparse Merkle tree over SHA-256 key paths (protocol.md section
//! 14).
//!
//! Every state entry is a leaf at `path = SHA-256(key bytes)`. The root of a set S of leaves at
//! depth d is defined as a function of the set alone, so every node recomputes it identically
//! whatever order the writes came in:
//!
//! ```text
//! root(S, d) = 32 zero bytes                                   if S is empty
//!            = SHA-256(00 || path || SHA-256(value))           if S has one leaf
//!            = SHA-256(01 || root(S0, d+1) || root(S1, d+1))   otherwise,
//! ```
//!
//! where S0/S1 are the leaves whose path has bit d (most significant bit first) 0/1. A subtree
//! with one leaf is the leaf itself, so the tree is about log2(n) deep rather than 256.
//!
//! [`StateTree`] keeps the nodes with their hashes; an update rehashes only the nodes on the
//! updated path.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

pub type Hash = [u8; 32];

/// The root of the empty tree.
pub const EMPTY_ROOT: Hash = [0u8; 32];

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Where a key's leaf lives.
pub fn key_path(key: &[u8]) -> Hash {
    sha256(&[key])
}

/// The hash a value contributes to its leaf.
pub fn value_hash(value: &[u8]) -> Hash {
    sha256(&[value])
}

fn leaf_hash(path: &Hash, value: &Hash) -> Hash {
    sha256(&[&[0u8], path, value])
}

fn inner_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[1u8], left, right])
}

/// Bit `depth` of a path, most significant bit of byte 0 first.
fn bit(path: &Hash, depth: usize) -> bool {
    (path[depth / 8] >> (7 - depth % 8)) & 1 == 1
}

#[derive(Clone, Debug, Default)]
enum Node {
    #[default]
    Empty,
    Leaf {
        path: Hash,
        hash: Hash,
    },
    Inner {
        // Shared between the versions of the tree: cloning a chain state (every block a
        // follower applies starts from a clone of its parent's) copies no nodes, and an update
        // copies only the nodes on its path.
        left: Arc<Node>,
        right: Arc<Node>,
        hash: Hash,
    },
}

impl Node {
    fn hash(&self) -> Hash {
        match self {
            Node::Empty => EMPTY_ROOT,
            Node::Leaf { hash, .. } | Node::Inner { hash, .. } => *hash,
        }
    }

    fn leaf(path: Hash, value: Hash) -> Node {
        Node::Leaf {
            hash: leaf_hash(&path, &value),
            path,
        }
    }

    fn inner(left: Node, right: Node) -> Node {
        Node::Inner {
            hash: inner_hash(&left.hash(), &right.hash()),
            left: Arc::new(left),
            right: Arc::new(right),
        }
    }

    /// An inner node whose subtree holds one leaf is that leaf (the definition's second case).
    fn joined(left: Node, right: Node) -> Node {
        match (left, right) {
            (Node::Empty, Node::Empty) => Node::Empty,
            (leaf @ Node::Leaf { .. }, Node::Empty) | (Node::Empty, leaf @ Node::Leaf { .. }) => {
                leaf
            }
            (l, r) => Node::inner(l, r),
        }
    }
}

/// The node itself when this version holds the only reference, else a shallow copy (its
/// children stay shared).
fn own(node: Arc<Node>) -> Node {
    Arc::unwrap_or_clone(node)
}

/// Two distinct leaves below depth `depth`: inner nodes down to the first differing bit.
fn split(a: Node, a_path: &Hash, b: Node, b_path: &Hash, depth: usize) -> Node {
    // Distinct SHA-256 paths differ in some bit before 256.
    if depth >= 256 {
        return a;
    }
    match (bit(a_path, depth), bit(b_path, depth)) {
        (false, true) => Node::inner(a, b),
        (true, false) => Node::inner(b, a),
        (false, false) => Node::inner(split(a, a_path, b, b_path, depth + 1), Node::Empty),
        (true, true) => Node::inner(Node::Empty, split(a, a_path, b, b_path, depth + 1)),
    }
}

fn insert(node: Node, depth: usize, path: &Hash, value: &Hash) -> Node {
    match node {
        Node::Empty => Node::leaf(*path, *value),
        Node::Leaf { path: p, .. } if p == *path => Node::leaf(*path, *value),
        old @ Node::Leaf { .. } => {
            let old_path = match &old {
                Node::Leaf { path, .. } => *path,
                _ => return old,
            };
            split(old, &old_path, Node::leaf(*path, *value), path, depth)
        }
        Node::Inner { left, right, .. } => {
            if bit(path, depth) {
                Node::inner(own(left), insert(own(right), depth + 1, path, value))
            } else {
                Node::inner(insert(own(left), depth + 1, path, value), own(right))
            }
        }
    }
}

fn remove(node: Node, depth: usize, path: &Hash) -> Node {
    match node {
        Node::Empty => Node::Empty,
        Node::Leaf { path: p, .. } if p == *path => Node::Empty,
        leaf @ Node::Leaf { .. } => leaf,
        Node::Inner { left, right, .. } => {
            if bit(path, depth) {
                Node::joined(own(left), remove(own(right), depth + 1, path))
            } else {
                Node::joined(remove(own(left), depth + 1, path), own(right))
            }
        }
    }
}

/// The tree with every node's hash kept, so an update costs one path of hashes.
#[derive(Clone, Debug, Default)]
pub struct StateTree {
    root: Node,
    leaves: usize,
}

impl StateTree {
    pub fn new() -> StateTree {
        StateTree::default()
    }

    pub fn root(&self) -> Hash {
        self.root.hash()
    }

    /// The number of leaves (with the root: enough to tell two trees of equal content apart
    /// from unequal ones, the root being a hash of every leaf).
    pub fn leaves(&self) -> usize {
        self.leaves
    }

    pub fn len(&self) -> usize {
        self.leaves
    }

    pub fn is_empty(&self) -> bool {
        self.leaves == 0
    }

    /// Sets the entry at `key` to `value`, or removes it when `value` is `None`.
    pub fn set(&mut self, key: &[u8], value: Option<&[u8]>) {
        let path = key_path(key);
        let before = self.contains_path(&path);
        let root = std::mem::take(&mut self.root);
        self.root = match value {
            Some(v) => insert(root, 0, &path, &value_hash(v)),
            None => remove(root, 0, &path),
        };
        match (before, value.is_some()) {
            (false, true) => self.leaves += 1,
            (true, false) => self.leaves -= 1,
            _ => {}
        }
    }

    fn contains_path(&self, path: &Hash) -> bool {
        let mut node = &self.root;
        let mut depth = 0;
        loop {
            match node {
                Node::Empty => return false,
                Node::Leaf { path: p, .. } => return p == path,
                Node::Inner { left, right, .. } => {
                    node = if bit(path, depth) { right } else { left };
                    depth += 1;
                }
            }
        }
    }
}

/// The root of a set of (path, value hash) leaves computed from scratch by the definition;
/// the reference the incremental tree is tested against, and what a light client would use.
pub fn root_of(leaves: &BTreeMap<Hash, Hash>) -> Hash {
    fn go(items: &[(Hash, Hash)], depth: usize) -> Hash {
        match items {
            [] => EMPTY_ROOT,
            [(p, v)] => leaf_hash(p, v),
            _ => {
                // Sorted paths: the leaves with bit `depth` = 0 come first.
                let cut = items.partition_point(|(p, _)| !bit(p, depth));
                inner_hash(&go(&items[..cut], depth + 1), &go(&items[cut..], depth + 1))
            }
        }
    }
    let items: Vec<(Hash, Hash)> = leaves.iter().map(|(p, v)| (*p, *v)).collect();
    go(&items, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(entries: &BTreeMap<Vec<u8>, Vec<u8>>) -> Hash {
        root_of(
            &entries
                .iter()
                .map(|(k, v)| (key_path(k), value_hash(v)))
                .collect(),
        )
    }

    #[test]
    fn empty_and_single_leaf_roots_follow_the_definition() {
        let mut t = StateTree::new();
        assert_eq!(t.root(), EMPTY_ROOT);
        t.set(b"a", Some(b"1"));
        assert_eq!(t.root(), leaf_hash(&key_path(b"a"), &value_hash(b"1")));
        t.set(b"a", None);
        assert_eq!(t.root(), EMPTY_ROOT);
        assert!(t.is_empty());
    }

    #[test]
    fn two_leaves_hash_in_path_order() {
        let mut t = StateTree::new();
        t.set(b"a", Some(b"1"));
        t.set(b"b", Some(b"2"));
        let (pa, pb) = (key_path(b"a"), key_path(b"b"));
        let (la, lb) = (
            leaf_hash(&pa, &value_hash(b"1")),
            leaf_hash(&pb, &value_hash(b"2")),
        );
        // Walk the definition by hand: inner nodes with an empty side down to the first
        // differing bit.
        let first = (0..256).find(|&d| bit(&pa, d) != bit(&pb, d)).unwrap();
        let mut h = if bit(&pa, first) {
            inner_hash(&lb, &la)
        } else {
            inner_hash(&la, &lb)
        };
        for d in (0..first).rev() {
            h = if bit(&pa, d) {
                inner_hash(&EMPTY_ROOT, &h)
            } else {
                inner_hash(&h, &EMPTY_ROOT)
            };
        }
        assert_eq!(t.root(), h);
    }

    proptest::proptest! {
        #[test]
        fn incremental_root_equals_the_definition(
            ops in proptest::collection::vec((0u8..40, proptest::option::of(0u8..4)), 0..200)
        ) {
            let mut t = StateTree::new();
            let mut entries = BTreeMap::new();
            for (k, v) in ops {
                let key = vec![k];
                match v {
                    Some(v) => {
                        t.set(&key, Some(&[v]));
                        entries.insert(key, vec![v]);
                    }
                    None => {
                        t.set(&key, None);
                        entries.remove(&key);
                    }
                }
                proptest::prop_assert_eq!(t.root(), reference(&entries));
                proptest::prop_assert_eq!(t.len(), entries.len());
            }
        }
    }
}
