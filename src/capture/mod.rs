//! Kafka traffic from packet captures: a pcap or pcapng file in, the request
//! and response frames of every TCP connection to a Kafka port out, for
//! seeds made of real clients' traffic.
//!
//! - `file`: pcap and pcapng records into link-layer packets.
//! - `packet`: link layer, IPv4 or IPv6, TCP: a segment.
//! - `connection`: segments into connections, client and server.
//! - `reassembly`: one direction's segments into contiguous bytes.
//! - `frames`: bytes into size-prefixed frames, found again after a gap.
//!
//! A packet that cannot be read (a truncated header, an IP fragment) is
//! skipped and counted; only a file that cannot be read is an error. The
//! whole file is read into memory: what it holds is kept as frames anyway.

mod connection;
mod file;
mod frames;
mod packet;
mod reassembly;
#[cfg(test)]
mod test_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use connection::Connections;
use file::Packets;
use packet::{Decoded, UnsupportedLinkType};

/// What a capture holds of Kafka traffic.
#[derive(Debug)]
pub struct Capture {
    /// In order of their first packet.
    pub connections: Vec<CapturedConnection>,
    /// Packets whose headers could not be read (truncated or malformed), IP
    /// fragments, and packets on links of a type not decoded here.
    pub skipped_packets: usize,
}

/// One TCP connection's frames.
#[derive(Debug)]
pub struct CapturedConnection {
    pub client: SocketAddr,
    /// The side whose port is a Kafka port (with both, the side that
    /// received the SYN).
    pub server: SocketAddr,
    /// Whole frames, 4-byte size prefix included, client to server, in
    /// stream order.
    pub requests: Vec<Bytes>,
    /// Whole frames, server to client.
    pub responses: Vec<Bytes>,
    /// Bytes, both directions, in no whole frame: skipped while finding
    /// frames after a gap or a corrupt size, or a partial frame at the end.
    pub skipped_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{name}: not a pcap or pcapng file (its first bytes: [{start}])")]
    NotACapture { name: String, start: String },
    #[error("{name}: the file ends inside {what}, which starts at byte offset {offset}")]
    Truncated { name: String, what: String, offset: usize },
    #[error("{name}: {what} at byte offset {offset} is malformed")]
    Malformed { name: String, what: String, offset: usize },
    #[error("{name}: packet {packet} is on a link of type {link_type}, which is not decoded here")]
    UnsupportedLinkType { name: String, link_type: i32, packet: u64 },
}

/// Reads the capture at `path`: the connections where one side's port is in
/// `ports`, their frames up to `max_frame_size` bytes (size prefix not
/// counted).
pub fn read_capture(path: &Path, ports: &[u16], max_frame_size: usize) -> Result<Capture, CaptureError> {
    let data = std::fs::read(path).map_err(|source| CaptureError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_capture_bytes(&path.display().to_string(), &data, ports, max_frame_size)
}

/// [`read_capture`] of a capture in memory; `name` is the file name errors
/// give.
pub fn read_capture_bytes(
    name: &str,
    data: &[u8],
    ports: &[u16],
    max_frame_size: usize,
) -> Result<Capture, CaptureError> {
    let mut connections = Connections::new(ports);
    let mut skipped_packets = 0;
    // A pcapng may hold interfaces of link types not decoded here beside
    // the one with the Kafka traffic: their packets are skipped. Only a
    // capture of nothing else is an error, naming the first such packet.
    let mut unsupported = None;
    let mut decoded_any = false;
    for packet in Packets::new(name, data)? {
        let packet = packet?;
        match packet::decode(packet.link_type, packet.data) {
            Ok(Decoded::Tcp(segment)) => {
                decoded_any = true;
                connections.segment(&segment);
            }
            Ok(Decoded::Other) => decoded_any = true,
            Ok(Decoded::Skipped) => skipped_packets += 1,
            Err(UnsupportedLinkType) => {
                skipped_packets += 1;
                unsupported.get_or_insert((packet.link_type, packet.number));
            }
        }
    }
    if let (Some((link_type, packet)), false) = (unsupported, decoded_any) {
        return Err(CaptureError::UnsupportedLinkType {
            name: name.to_owned(),
            link_type,
            packet,
        });
    }
    Ok(Capture {
        connections: connections.finish(max_frame_size),
        skipped_packets,
    })
}

#[cfg(test)]
mod tests {
    use super::test_support::{
        Flow, Link, MAX_FRAME_SIZE, NgPacket, PORT, PcapFormat, SERVER_ISN, pcap, pcap_on, pcapng, requests, responses,
    };
    use super::*;
    use crate::harness::input::seeded_bytes;

    /// The IP packets of two connections, with requests and responses.
    fn conversation() -> Vec<Vec<u8>> {
        let (requests, responses) = (requests(4), responses(4));
        let flow = Flow::v4(40000);
        let mut packets = flow.connection(&requests.concat(), &[10, 60]);
        packets.push(flow.to_client(SERVER_ISN + 1, "A", &responses.concat()));
        packets.extend(Flow::v6(40001).connection(&requests[1..].concat(), &[3]));
        packets
    }

    /// Valid captures of the conversation, in several formats and links.
    fn valid_captures() -> Vec<Vec<u8>> {
        let packets = conversation();
        let frames: Vec<Vec<u8>> = packets.iter().map(|packet| Link::Vlan.frame(packet)).collect();
        let blocks: Vec<NgPacket> = packets
            .iter()
            .enumerate()
            .map(|(index, packet)| match index % 3 {
                0 => NgPacket::Simple(Link::Sll2.frame(packet)),
                _ => NgPacket::Enhanced(1, packet.clone()),
            })
            .collect();
        vec![
            pcap_on(Link::Ethernet, &packets),
            pcap(
                PcapFormat {
                    big_endian: true,
                    ..Default::default()
                },
                1,
                &frames,
            ),
            pcapng(false, &[276, 101], &blocks),
            pcapng(true, &[276, 101], &blocks),
        ]
    }

    #[test]
    fn the_valid_captures_hold_their_frames() {
        for capture in valid_captures() {
            let capture = read_capture_bytes("test", &capture, &[PORT], MAX_FRAME_SIZE).expect("capture");
            assert_eq!(capture.connections.len(), 2);
            assert_eq!(capture.connections[0].requests, requests(4));
            assert_eq!(capture.connections[0].responses, responses(4));
            assert_eq!(capture.connections[1].requests, requests(4)[1..]);
        }
    }

    /// Thousands of damaged captures: truncated, bytes overwritten with
    /// hostile values, bytes inserted or removed, random bytes after a
    /// magic number. Whatever they hold, reading them returns.
    #[test]
    fn damaged_captures_never_panic() {
        let captures = valid_captures();
        let hostile: [&[u8]; 6] = [
            &[0xff; 4],
            &[0x7f, 0xff, 0xff, 0xff],
            &[0; 4],
            &[0x80, 0, 0, 0],
            &[0, 0, 0, 1],
            &[0xfe, 0xff, 0xff, 0xff],
        ];
        let magic: [&[u8]; 3] = [
            &[0xd4, 0xc3, 0xb2, 0xa1],
            &[0x0a, 0x0d, 0x0d, 0x0a],
            &[0xa1, 0xb2, 0xc3, 0xd4],
        ];
        for seed in 0..4000u64 {
            let random = seeded_bytes(seed, 64);
            let pick = |index: usize, below: usize| {
                u64::from_le_bytes(random[index * 8..index * 8 + 8].try_into().expect("8 bytes")) as usize
                    % below.max(1)
            };
            let mut data = match seed % 10 {
                0 => [magic[pick(1, 3)], &seeded_bytes(seed, pick(2, 300))].concat(),
                _ => captures[pick(0, captures.len())].clone(),
            };
            for round in 0..1 + pick(1, 4) {
                if data.is_empty() {
                    break;
                }
                let at = pick(2 + round, data.len());
                match pick(6 + round % 2, 5) {
                    0 => data.truncate(at),
                    1 => {
                        let value = hostile[pick(7, hostile.len())];
                        let end = (at + value.len()).min(data.len());
                        data[at..end].copy_from_slice(&value[..end - at]);
                    }
                    2 => data[at] ^= 1 << pick(5, 8),
                    3 => data.insert(at, random[at % random.len()]),
                    _ => drop(data.drain(at..(at + pick(5, 9)).min(data.len()))),
                }
            }
            let _ = read_capture_bytes("damaged", &data, &[PORT], MAX_FRAME_SIZE);
            let _ = read_capture_bytes("damaged", &data, &[PORT], 16);
        }
    }

    /// Packets damaged inside well-formed records: never an error, whatever
    /// their headers and payloads say.
    #[test]
    fn damaged_packets_are_never_an_error() {
        let packets = conversation();
        for seed in 0..1000u64 {
            let random = seeded_bytes(seed, 8 * packets.len());
            let damaged: Vec<Vec<u8>> = packets
                .iter()
                .zip(random.chunks(8))
                .map(|(packet, random)| {
                    let mut packet = packet.clone();
                    if random[0] % 4 == 0 {
                        let at = usize::from(u16::from_le_bytes([random[1], random[2]])) % packet.len();
                        match random[3] % 3 {
                            0 => packet[at] ^= random[4] | 1,
                            1 => packet.truncate(at),
                            _ => packet[at..].iter_mut().take(4).for_each(|byte| *byte = random[5]),
                        }
                    }
                    packet
                })
                .collect();
            let file = pcap_on(Link::Ethernet, &damaged);
            read_capture_bytes("damaged", &file, &[PORT], MAX_FRAME_SIZE).expect("a readable capture");
        }
    }

    #[test]
    fn read_capture_reads_a_file_and_names_it_in_errors() {
        let path = std::env::temp_dir().join(format!("kafka-fuzz-capture-{}.pcap", std::process::id()));
        std::fs::write(&path, &valid_captures()[0]).expect("write");
        let capture = read_capture(&path, &[PORT], MAX_FRAME_SIZE);
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(capture.expect("capture").connections.len(), 2);
        let error = read_capture(&path, &[PORT], MAX_FRAME_SIZE).unwrap_err();
        assert!(matches!(error, CaptureError::Io { .. }));
        assert!(error.to_string().starts_with(&path.display().to_string()), "{error}");
    }
}
