//! Sorting segments into connections: which two endpoints, which of them is
//! the server, and when the same endpoints start a new connection.
//!
//! A new connection announces itself with a SYN: a SYN (without ACK) whose
//! sequence number is not the one that began the connection starts a new
//! one, whether the old one ended with FIN, RST or not at all. FIN and RST
//! end nothing by themselves: late retransmissions still belong to the
//! connection they were sent on.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::CapturedConnection;
use super::frames::{self, Side};
use super::packet::Segment;
use super::reassembly::Stream;

/// The connections of a capture, in order of their first packet.
pub(super) struct Connections<'a> {
    ports: &'a [u16],
    all: Vec<Connection>,
    /// The newest connection between two endpoints (in address order), by
    /// index in `all`.
    current: HashMap<(SocketAddr, SocketAddr), usize>,
}

struct Connection {
    /// The source of the connection's first packet, and its destination.
    first: SocketAddr,
    second: SocketAddr,
    /// The server, once the ports or a SYN tell.
    server: Option<SocketAddr>,
    /// `first` to `second`, and `second` to `first`.
    streams: [Stream; 2],
}

impl<'a> Connections<'a> {
    /// Connections where one side's port is in `ports`; others are ignored.
    pub(super) fn new(ports: &'a [u16]) -> Self {
        Self {
            ports,
            all: Vec::new(),
            current: HashMap::new(),
        }
    }

    pub(super) fn segment(&mut self, segment: &Segment) {
        let (source, destination) = (segment.source, segment.destination);
        let (source_listed, destination_listed) = (
            self.ports.contains(&source.port()),
            self.ports.contains(&destination.port()),
        );
        if !source_listed && !destination_listed {
            return;
        }
        let key = (source.min(destination), source.max(destination));
        let opens = segment.syn && !segment.ack;
        let index = match self.current.get(&key) {
            Some(&index) if !opens || self.all[index].isn(source) == Some(segment.seq) => index,
            _ => {
                self.all.push(Connection {
                    first: source,
                    second: destination,
                    // With both ports listed, the side that receives the SYN.
                    server: match (source_listed, destination_listed) {
                        (true, false) => Some(source),
                        (false, true) => Some(destination),
                        _ => None,
                    },
                    streams: [Stream::new(), Stream::new()],
                });
                self.current.insert(key, self.all.len() - 1);
                self.all.len() - 1
            }
        };
        let connection = &mut self.all[index];
        if segment.syn && connection.server.is_none() {
            connection.server = Some(if segment.ack { source } else { destination });
        }
        let direction = connection.direction(source);
        connection.streams[direction].segment(segment.seq, segment.syn, segment.payload);
    }

    /// Every connection's frames. Where both ports are listed and no SYN was
    /// seen, the server is taken to be the first packet's destination.
    pub(super) fn finish(self, max_frame_size: usize) -> Vec<CapturedConnection> {
        self.all
            .into_iter()
            .map(|connection| {
                let server = connection.server.unwrap_or(connection.second);
                let [from_first, from_second] = connection.streams;
                let (client, to_server, to_client) = match server == connection.second {
                    true => (connection.first, from_first, from_second),
                    false => (connection.second, from_second, from_first),
                };
                let requests = frames::split(to_server.finish(), Side::Requests, max_frame_size);
                let correlation_ids = frames::correlation_ids(&requests.frames);
                let responses = frames::split(
                    to_client.finish(),
                    Side::Responses {
                        correlation_ids: &correlation_ids,
                    },
                    max_frame_size,
                );
                CapturedConnection {
                    client,
                    server,
                    skipped_bytes: requests.skipped_bytes + responses.skipped_bytes,
                    requests: requests.frames,
                    responses: responses.frames,
                }
            })
            .collect()
    }
}

impl Connection {
    /// The index in `streams` of what `source` sends.
    fn direction(&self, source: SocketAddr) -> usize {
        usize::from(source != self.first)
    }

    /// The sequence number of the SYN that `source` opened its stream with.
    fn isn(&self, source: SocketAddr) -> Option<u32> {
        self.streams[self.direction(source)].isn()
    }
}

#[cfg(test)]
mod tests {
    use super::super::read_capture_bytes;
    use super::super::test_support::{
        CLIENT_ISN, Flow, Link, MAX_FRAME_SIZE, SERVER_ISN, pcap_on, read, requests, responses,
    };

    #[test]
    fn two_connections_on_different_client_ports() {
        let frames = requests(4);
        let (first, second) = (Flow::v4(40001), Flow::v4(40002));
        let mut packets = second.handshake();
        packets.extend(first.handshake());
        packets.push(first.to_server(CLIENT_ISN + 1, "A", &frames[..2].concat()));
        packets.push(second.to_server(CLIENT_ISN + 1, "A", &frames[2..].concat()));
        let capture = read(&pcap_on(Link::Ethernet, &packets));
        let found: Vec<_> = capture
            .connections
            .iter()
            .map(|connection| (connection.client, connection.requests.clone()))
            .collect();
        assert_eq!(
            found,
            [
                (second.client, frames[2..].to_vec()),
                (first.client, frames[..2].to_vec())
            ]
        );
    }

    #[test]
    fn a_port_reused_after_fin_is_a_new_connection() {
        let frames = requests(4);
        let flow = Flow::v4(40000);
        let first = frames[..2].concat();
        let mut packets = flow.connection(&first, &[]);
        let fin = CLIENT_ISN + 1 + first.len() as u32;
        packets.push(flow.to_server(fin, "FA", &[]));
        packets.push(flow.to_client(SERVER_ISN + 1, "FA", &[]));
        // A retransmitted SYN belongs to the connection it opened.
        packets.insert(1, flow.to_server(CLIENT_ISN, "S", &[]));
        let isn = 77_000;
        packets.push(flow.to_server(isn, "S", &[]));
        packets.push(flow.to_server(isn + 1, "A", &frames[2..].concat()));
        let capture = read(&pcap_on(Link::Ethernet, &packets));
        let found: Vec<_> = capture
            .connections
            .iter()
            .map(|connection| connection.requests.clone())
            .collect();
        assert_eq!(found, [frames[..2].to_vec(), frames[2..].to_vec()]);
    }

    #[test]
    fn responses_are_kept_apart_from_requests() {
        let (requests, responses) = (requests(4), responses(4));
        let flow = Flow::v6(40000);
        let mut packets = flow.handshake();
        let (mut client_seq, mut server_seq) = (CLIENT_ISN + 1, SERVER_ISN + 1);
        for (request, response) in requests.iter().zip(&responses) {
            packets.push(flow.to_server(client_seq, "A", request));
            packets.push(flow.to_client(server_seq, "A", response));
            client_seq += request.len() as u32;
            server_seq += response.len() as u32;
        }
        let capture = read(&pcap_on(Link::Ethernet, &packets));
        let connection = &capture.connections[0];
        assert_eq!((connection.client, connection.server), (flow.client, flow.server));
        assert_eq!((&connection.requests, &connection.responses), (&requests, &responses));
        assert_eq!(connection.skipped_bytes, 0);
    }

    #[test]
    fn with_both_ports_listed_the_server_is_the_side_the_syn_went_to() {
        let flow = Flow::v4(9093);
        let ports = [9092, 9093];
        let capture = |packets: &[Vec<u8>]| {
            let file = pcap_on(Link::Raw(101), packets);
            let capture = read_capture_bytes("test.pcap", &file, &ports, MAX_FRAME_SIZE).expect("capture");
            let connection = &capture.connections[0];
            (connection.client, connection.server)
        };
        assert_eq!(capture(&flow.handshake()), (flow.client, flow.server));
        // Only the SYN-ACK seen: its sender received the SYN.
        assert_eq!(capture(&flow.handshake()[1..]), (flow.client, flow.server));
        let reversed = Flow {
            client: flow.server,
            server: flow.client,
        };
        assert_eq!(capture(&reversed.handshake()), (flow.server, flow.client));
        // No SYN: the first packet's destination.
        assert_eq!(capture(&reversed.handshake()[2..]), (flow.server, flow.client));
    }

    #[test]
    fn connections_on_other_ports_are_ignored() {
        let flow = Flow::v4(40000);
        let file = pcap_on(Link::Raw(101), &flow.handshake());
        let capture = read_capture_bytes("test.pcap", &file, &[9093], MAX_FRAME_SIZE).expect("capture");
        assert!(capture.connections.is_empty());
    }
}
