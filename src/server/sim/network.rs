//! The simulated network: every message between nodes, and between clients
//! and nodes, waits in a queue per ordered pair of endpoints (TCP's order
//! within a connection) until the driver delivers it. Partitions cut links
//! between nodes; a cut link loses what was on it, as a broken connection
//! does.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

/// One end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Address {
    Node(i32),
    /// A client connection (to one node).
    Client(u64),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Node(id) => write!(f, "n{id}"),
            Address::Client(id) => write!(f, "c{id}"),
        }
    }
}

/// A link: (from, to).
pub type Link = (Address, Address);

#[derive(Debug, Clone, Default)]
pub struct SimNetwork {
    /// Each link's messages, with the order they were sent in overall.
    queues: BTreeMap<Link, VecDeque<(u64, Bytes)>>,
    sent: u64,
    /// Node pairs that cannot reach each other, smaller id first.
    cut: BTreeSet<(i32, i32)>,
}

fn pair(a: i32, b: i32) -> (i32, i32) {
    (a.min(b), a.max(b))
}

impl SimNetwork {
    /// Queues a message; one across a cut link is lost. Whether it was queued.
    pub fn send(&mut self, from: Address, to: Address, bytes: Bytes) -> bool {
        if let (Address::Node(a), Address::Node(b)) = (from, to)
            && self.cut.contains(&pair(a, b))
        {
            return false;
        }
        self.sent += 1;
        self.queues.entry((from, to)).or_default().push_back((self.sent, bytes));
        true
    }

    /// Links with a message waiting, in a fixed order.
    pub fn busy(&self) -> Vec<Link> {
        self.queues
            .iter()
            .filter(|(_, queue)| !queue.is_empty())
            .map(|(link, _)| *link)
            .collect()
    }

    /// Of the links `usable` allows, the one whose next message was sent
    /// first: a network that keeps the order of everything.
    pub fn oldest(&self, usable: impl Fn(Link) -> bool) -> Option<Link> {
        self.queues
            .iter()
            .filter(|(link, _)| usable(**link))
            .filter_map(|(link, queue)| Some((queue.front()?.0, *link)))
            .min()
            .map(|(_, link)| link)
    }

    pub fn pending(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    /// The next message on a link.
    pub fn take(&mut self, link: Link) -> Option<Bytes> {
        let queue = self.queues.get_mut(&link)?;
        let message = queue.pop_front();
        if queue.is_empty() {
            self.queues.remove(&link);
        }
        message.map(|(_, bytes)| bytes)
    }

    /// Loses everything to and from `address` (a crashed node, a closed
    /// connection); the links lost.
    pub fn drop_address(&mut self, address: Address) -> Vec<Link> {
        let lost: Vec<Link> = self
            .queues
            .keys()
            .filter(|(from, to)| *from == address || *to == address)
            .copied()
            .collect();
        for link in &lost {
            self.queues.remove(link);
        }
        lost
    }

    /// Cuts every link between `side` and the other `nodes`.
    pub fn partition(&mut self, side: &[i32], nodes: &[i32]) {
        for &a in side {
            for &b in nodes.iter().filter(|b| !side.contains(b)) {
                self.cut.insert(pair(a, b));
                self.queues.remove(&(Address::Node(a), Address::Node(b)));
                self.queues.remove(&(Address::Node(b), Address::Node(a)));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    pub fn is_cut(&self, a: i32, b: i32) -> bool {
        self.cut.contains(&pair(a, b))
    }

    pub fn has_cuts(&self) -> bool {
        !self.cut.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_their_order_and_cuts_lose_messages() {
        let mut network = SimNetwork::default();
        let (one, two, three) = (Address::Node(1), Address::Node(2), Address::Node(3));
        for byte in 0..3u8 {
            assert!(network.send(one, two, Bytes::from(vec![byte])));
        }
        network.send(one, three, Bytes::from_static(b"x"));
        assert_eq!(network.busy(), vec![(one, two), (one, three)]);
        network.send(three, one, Bytes::from_static(b"z"));
        assert_eq!(network.oldest(|_| true), Some((one, two)));
        assert_eq!(network.oldest(|link| link.0 == three), Some((three, one)));
        assert_eq!(network.take((one, two)).unwrap()[0], 0);
        network.partition(&[1], &[1, 2, 3]);
        assert!(network.busy().is_empty(), "a cut loses what was in flight");
        assert!(!network.send(two, one, Bytes::from_static(b"y")));
        network.heal();
        assert!(network.send(two, one, Bytes::from_static(b"y")));
        let client = Address::Client(7);
        network.send(client, two, Bytes::from_static(b"req"));
        assert_eq!(network.drop_address(client), vec![(client, two)]);
        assert_eq!(network.pending(), 1);
    }
}
