//! For the tests: captures written by hand (pcap and pcapng writers, link
//! headers, TCP over IPv4 or IPv6 from `etherparse`'s builder), and real
//! Kafka frames to carry in them.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use etherparse::PacketBuilder;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::{Capture, CaptureError, read_capture_bytes};
use crate::harness::client::Client;
use crate::server::wire::encode_response;

pub const PORT: u16 = 9092;
pub const MAX_FRAME_SIZE: usize = 1 << 20;
pub const CLIENT_ISN: u32 = 1000;
pub const SERVER_ISN: u32 = 5000;

/// `count` request frames of one client, ApiVersions v3 and Metadata v12
/// in turn, correlation ids from 1.
pub fn requests(count: usize) -> Vec<Bytes> {
    let mut client = Client::new("capture-test");
    (0..count)
        .map(|index| {
            let (_, frame) = match index % 2 {
                0 => client.request(
                    3,
                    ApiVersionsRequest::default()
                        .with_client_software_name(StrBytes::from_static_str("kafka-fuzz"))
                        .with_client_software_version(StrBytes::from_static_str("0.1.0")),
                ),
                _ => client.request(
                    12,
                    MetadataRequest::default()
                        .with_topics(Some(vec![
                            MetadataRequestTopic::default()
                                .with_name(Some(TopicName(StrBytes::from_static_str("topic-a")))),
                        ]))
                        .with_allow_auto_topic_creation(true),
                ),
            }
            .expect("encodable request");
            frame
        })
        .collect()
}

/// The responses to `requests(count)`.
pub fn responses(count: usize) -> Vec<Bytes> {
    (0..count)
        .map(|index| {
            let correlation_id = index as i32 + 1;
            match index % 2 {
                0 => encode_response(
                    ApiKey::ApiVersions,
                    3,
                    correlation_id,
                    &ResponseKind::ApiVersions(ApiVersionsResponse::default()),
                ),
                _ => encode_response(
                    ApiKey::Metadata,
                    12,
                    correlation_id,
                    &ResponseKind::Metadata(MetadataResponse::default()),
                ),
            }
            .expect("encodable response")
        })
        .collect()
}

/// `stream` in segments that end at `ends` (and at its end): each with its
/// offset in the stream.
pub fn cut(stream: &[u8], ends: &[usize]) -> Vec<(usize, Vec<u8>)> {
    let mut start = 0;
    ends.iter()
        .copied()
        .chain([stream.len()])
        .filter_map(|end| {
            let segment = (end > start).then(|| (start, stream[start..end].to_vec()));
            start = start.max(end);
            segment
        })
        .collect()
}

/// An IP packet carrying a TCP segment; `flags` as tcpdump writes them: S
/// (SYN), A (ACK), F (FIN), R (RST).
pub fn tcp(source: SocketAddr, destination: SocketAddr, seq: u32, flags: &str, payload: &[u8]) -> Vec<u8> {
    let ip = match (source.ip(), destination.ip()) {
        (IpAddr::V4(source), IpAddr::V4(destination)) => PacketBuilder::ipv4(source.octets(), destination.octets(), 64),
        (IpAddr::V6(source), IpAddr::V6(destination)) => PacketBuilder::ipv6(source.octets(), destination.octets(), 64),
        _ => panic!("one IP version per packet"),
    };
    let mut builder = ip.tcp(source.port(), destination.port(), seq, 65535);
    for flag in flags.chars() {
        builder = match flag {
            'S' => builder.syn(),
            'A' => builder.ack(1),
            'F' => builder.fin(),
            'R' => builder.rst(),
            _ => panic!("unknown flag {flag}"),
        };
    }
    let mut packet = Vec::new();
    builder.write(&mut packet, payload).expect("packet");
    packet
}

/// A client and a server, and the packets between them.
#[derive(Debug, Clone, Copy)]
pub struct Flow {
    pub client: SocketAddr,
    pub server: SocketAddr,
}

impl Flow {
    /// 10.0.0.1:`client_port` to 10.0.0.2:9092.
    pub fn v4(client_port: u16) -> Self {
        Self {
            client: SocketAddr::from(([10, 0, 0, 1], client_port)),
            server: SocketAddr::from(([10, 0, 0, 2], PORT)),
        }
    }

    /// [fd00::1]:`client_port` to [fd00::2]:9092.
    pub fn v6(client_port: u16) -> Self {
        let address = |last| IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, last]);
        Self {
            client: SocketAddr::new(address(1), client_port),
            server: SocketAddr::new(address(2), PORT),
        }
    }

    pub fn to_server(self, seq: u32, flags: &str, payload: &[u8]) -> Vec<u8> {
        tcp(self.client, self.server, seq, flags, payload)
    }

    pub fn to_client(self, seq: u32, flags: &str, payload: &[u8]) -> Vec<u8> {
        tcp(self.server, self.client, seq, flags, payload)
    }

    /// SYN, SYN-ACK, ACK with CLIENT_ISN and SERVER_ISN.
    pub fn handshake(&self) -> Vec<Vec<u8>> {
        vec![
            self.to_server(CLIENT_ISN, "S", &[]),
            self.to_client(SERVER_ISN, "SA", &[]),
            self.to_server(CLIENT_ISN + 1, "A", &[]),
        ]
    }

    /// A handshake, then `stream` to the server in segments ending at `ends`.
    pub fn connection(&self, stream: &[u8], ends: &[usize]) -> Vec<Vec<u8>> {
        let mut packets = self.handshake();
        for (offset, bytes) in cut(stream, ends) {
            packets.push(self.to_server(CLIENT_ISN + 1 + offset as u32, "A", &bytes));
        }
        packets
    }
}

/// How a link layer frames an IP packet.
#[derive(Debug, Clone, Copy)]
pub enum Link {
    Ethernet,
    /// Ethernet with an 802.1Q tag.
    Vlan,
    Sll,
    Sll2,
    /// BSD loopback, family in little-endian order.
    Null,
    NullBigEndian,
    Loop,
    /// No header, under any of the link types that mean raw IP.
    Raw(u32),
}

impl Link {
    pub fn link_type(self) -> u32 {
        match self {
            Link::Ethernet | Link::Vlan => 1,
            Link::Sll => 113,
            Link::Sll2 => 276,
            Link::Null | Link::NullBigEndian => 0,
            Link::Loop => 108,
            Link::Raw(link_type) => link_type,
        }
    }

    pub fn frame(self, ip: &[u8]) -> Vec<u8> {
        let ipv6 = ip.first().is_some_and(|byte| byte >> 4 == 6);
        let ether_type: u16 = if ipv6 { 0x86dd } else { 0x0800 };
        let family: u32 = if ipv6 { 30 } else { 2 };
        let macs = [[2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]].concat();
        let sll_address = [2, 0, 0, 0, 0, 1, 0, 0];
        let header = match self {
            Link::Ethernet => [&macs[..], &ether_type.to_be_bytes()].concat(),
            Link::Vlan => [
                &macs[..],
                &0x8100u16.to_be_bytes(),
                &100u16.to_be_bytes(),
                &ether_type.to_be_bytes(),
            ]
            .concat(),
            Link::Sll => [&[0, 0, 0, 1, 0, 6][..], &sll_address, &ether_type.to_be_bytes()].concat(),
            Link::Sll2 => [
                &ether_type.to_be_bytes()[..],
                &[0, 0, 0, 0, 0, 2, 0, 1, 0, 6],
                &sll_address,
            ]
            .concat(),
            Link::Null => family.to_le_bytes().to_vec(),
            Link::NullBigEndian | Link::Loop => family.to_be_bytes().to_vec(),
            Link::Raw(_) => Vec::new(),
        };
        [header, ip.to_vec()].concat()
    }
}

/// A pcap file's byte order and record layout.
#[derive(Debug, Clone, Copy, Default)]
pub struct PcapFormat {
    pub big_endian: bool,
    pub nanoseconds: bool,
    /// Alexey Kuznetsov's "modified" format: 8 more bytes per record header.
    pub modified: bool,
}

/// A pcap file of `packets` on a link of type `link_type`.
pub fn pcap(format: PcapFormat, link_type: u32, packets: &[Vec<u8>]) -> Vec<u8> {
    let u32_bytes = |value: u32| match format.big_endian {
        true => value.to_be_bytes(),
        false => value.to_le_bytes(),
    };
    let magic = match (format.nanoseconds, format.modified) {
        (true, _) => 0xa1b2_3c4d,
        (false, true) => 0xa1b2_cd34,
        (false, false) => 0xa1b2_c3d4,
    };
    let version = match format.big_endian {
        true => [0, 2, 0, 4],
        false => [2, 0, 4, 0],
    };
    let mut file = [
        u32_bytes(magic),
        version,
        [0; 4],
        [0; 4],
        u32_bytes(65535),
        u32_bytes(link_type),
    ]
    .concat();
    for (index, packet) in packets.iter().enumerate() {
        let len = u32_bytes(packet.len() as u32);
        file.extend([u32_bytes(1_700_000_000 + index as u32), u32_bytes(500), len, len].concat());
        if format.modified {
            file.extend([0; 8]);
        }
        file.extend(packet);
    }
    file
}

/// A little-endian, microsecond pcap file of IP `packets` framed by `link`.
pub fn pcap_on(link: Link, packets: &[Vec<u8>]) -> Vec<u8> {
    let frames: Vec<Vec<u8>> = packets.iter().map(|packet| link.frame(packet)).collect();
    pcap(PcapFormat::default(), link.link_type(), &frames)
}

/// A pcapng block's packet, on an interface (an enhanced packet block) or
/// on the first one (a simple packet block).
#[derive(Debug, Clone)]
pub enum NgPacket {
    Enhanced(u32, Vec<u8>),
    Simple(Vec<u8>),
}

/// A pcapng file of one section: interfaces of `link_types`, then `packets`.
pub fn pcapng(big_endian: bool, link_types: &[u16], packets: &[NgPacket]) -> Vec<u8> {
    let u32_bytes = |value: u32| match big_endian {
        true => value.to_be_bytes(),
        false => value.to_le_bytes(),
    };
    let u16_bytes = |value: u16| match big_endian {
        true => value.to_be_bytes(),
        false => value.to_le_bytes(),
    };
    let block = |block_type: u32, body: Vec<u8>| {
        let mut body = body;
        body.resize(body.len().next_multiple_of(4), 0);
        let len = u32_bytes(body.len() as u32 + 12);
        [&u32_bytes(block_type)[..], &len, &body, &len].concat()
    };
    let mut file = block(
        0x0a0d_0d0a,
        [&u32_bytes(0x1a2b_3c4d)[..], &u16_bytes(1), &u16_bytes(0), &[0xff; 8]].concat(),
    );
    for &link_type in link_types {
        // Link type, reserved, snapshot length (0: none).
        file.extend(block(1, [&u16_bytes(link_type)[..], &[0; 2], &u32_bytes(0)].concat()));
    }
    for packet in packets {
        file.extend(match packet {
            NgPacket::Enhanced(interface, data) => {
                let len = u32_bytes(data.len() as u32);
                let header = [u32_bytes(*interface), [0; 4], [0; 4], len, len].concat();
                block(6, [header, data.clone()].concat())
            }
            NgPacket::Simple(data) => block(3, [&u32_bytes(data.len() as u32)[..], data].concat()),
        });
    }
    file
}

/// The capture's connections on port 9092, frames up to 1 MiB.
pub fn read(data: &[u8]) -> Capture {
    try_read(data).expect("a readable capture")
}

pub fn try_read(data: &[u8]) -> Result<Capture, CaptureError> {
    read_capture_bytes("test.pcap", data, &[PORT], MAX_FRAME_SIZE)
}
