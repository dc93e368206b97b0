//! From a link-layer packet to a TCP segment: the link header (by the
//! capture's link type), IPv4 or IPv6 with extension headers, TCP. Headers
//! are sliced with `etherparse`, which checks every length; it has no Linux
//! SLL2 or loopback header, so those small headers are read here.

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};

/// Link types, as numbered in the pcap and pcapng specifications.
mod link_type {
    /// BSD loopback: a 4-byte address family in the capturing host's order.
    pub const NULL: i32 = 0;
    pub const ETHERNET: i32 = 1;
    /// Raw IP under the DLT numbers some systems wrote into files.
    pub const RAW_DLT_12: i32 = 12;
    pub const RAW_DLT_14: i32 = 14;
    pub const RAW: i32 = 101;
    /// OpenBSD loopback: the address family in network order.
    pub const LOOP: i32 = 108;
    pub const LINUX_SLL: i32 = 113;
    pub const IPV4: i32 = 228;
    pub const IPV6: i32 = 229;
    pub const LINUX_SLL2: i32 = 276;
}

/// The Linux SLL2 header: protocol type (2 bytes), reserved (2), interface
/// index (4), ARPHRD type (2), packet type (1), address length (1), address
/// (8).
const SLL2_HEADER_LEN: usize = 20;

/// A TCP segment: who sent it to whom, its sequence number, the flags that
/// matter to reassembly, its payload.
#[derive(Debug, Clone, Copy)]
pub(super) struct Segment<'a> {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub seq: u32,
    pub syn: bool,
    pub ack: bool,
    pub payload: &'a [u8],
}

#[derive(Debug)]
pub(super) enum Decoded<'a> {
    Tcp(Segment<'a>),
    /// Not TCP over IP (ARP, UDP, ...): nothing to reassemble.
    Other,
    /// A truncated or malformed header, or an IP fragment: the packet
    /// cannot be read, and is counted.
    Skipped,
}

/// The link type is not one this reader decodes.
#[derive(Debug)]
pub(super) struct UnsupportedLinkType;

/// Decodes a packet captured on a link of type `link_type`.
pub(super) fn decode(link_type: i32, data: &[u8]) -> Result<Decoded<'_>, UnsupportedLinkType> {
    let sliced = match link_type {
        link_type::ETHERNET => SlicedPacket::from_ethernet(data),
        link_type::LINUX_SLL => SlicedPacket::from_linux_sll(data),
        link_type::LINUX_SLL2 => match data.split_first_chunk::<SLL2_HEADER_LEN>() {
            Some((header, payload)) => {
                SlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([header[0], header[1]])), payload)
            }
            None => return Ok(Decoded::Skipped),
        },
        link_type::NULL | link_type::LOOP => {
            let Some((family, payload)) = data.split_first_chunk::<4>() else {
                return Ok(Decoded::Skipped);
            };
            // Families are small numbers: of the two readings of a NULL
            // header, the smaller is the one in the writer's byte order.
            let family = match link_type {
                link_type::NULL => u32::from_le_bytes(*family).min(u32::from_be_bytes(*family)),
                _ => u32::from_be_bytes(*family),
            };
            // AF_INET everywhere; AF_INET6 is 24, 28 or 30 depending on the BSD.
            if !matches!(family, 2 | 24 | 28 | 30) {
                return Ok(Decoded::Other);
            }
            SlicedPacket::from_ip(payload)
        }
        link_type::RAW | link_type::RAW_DLT_12 | link_type::RAW_DLT_14 | link_type::IPV4 | link_type::IPV6 => {
            SlicedPacket::from_ip(data)
        }
        _ => return Err(UnsupportedLinkType),
    };
    let Ok(sliced) = sliced else {
        return Ok(Decoded::Skipped);
    };
    if sliced.is_ip_payload_fragmented() {
        return Ok(Decoded::Skipped);
    }
    let (source, destination): (IpAddr, IpAddr) = match &sliced.net {
        Some(NetSlice::Ipv4(ip)) => (ip.header().source_addr().into(), ip.header().destination_addr().into()),
        Some(NetSlice::Ipv6(ip)) => (ip.header().source_addr().into(), ip.header().destination_addr().into()),
        _ => return Ok(Decoded::Other),
    };
    let Some(TransportSlice::Tcp(tcp)) = sliced.transport else {
        return Ok(Decoded::Other);
    };
    Ok(Decoded::Tcp(Segment {
        source: SocketAddr::new(source, tcp.source_port()),
        destination: SocketAddr::new(destination, tcp.destination_port()),
        seq: tcp.sequence_number(),
        syn: tcp.syn(),
        ack: tcp.ack(),
        payload: tcp.payload(),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{Flow, Link, pcap_on, read, requests, tcp};

    #[test]
    fn every_link_type_over_ipv4_and_ipv6() {
        let frames = requests(2);
        let links = [
            Link::Ethernet,
            Link::Vlan,
            Link::Sll,
            Link::Sll2,
            Link::Null,
            Link::NullBigEndian,
            Link::Loop,
            Link::Raw(101),
            Link::Raw(12),
            Link::Raw(14),
        ];
        for link in links {
            for flow in [Flow::v4(40000), Flow::v6(40000)] {
                let capture = read(&pcap_on(link, &flow.connection(&frames.concat(), &[30])));
                assert_eq!(capture.skipped_packets, 0, "{link:?}");
                let connection = &capture.connections[0];
                assert_eq!(
                    (connection.client, connection.server),
                    (flow.client, flow.server),
                    "{link:?}"
                );
                assert_eq!(connection.requests, frames, "{link:?} {flow:?}");
            }
        }
        for (link, flow) in [(Link::Raw(228), Flow::v4(40000)), (Link::Raw(229), Flow::v6(40000))] {
            let capture = read(&pcap_on(link, &flow.connection(&frames.concat(), &[30])));
            assert_eq!(capture.connections[0].requests, frames, "{link:?}");
        }
    }

    #[test]
    fn unreadable_packets_and_fragments_are_skipped_and_counted() {
        let frames = requests(2);
        let flow = Flow::v4(40000);
        let mut packets = flow.connection(&frames.concat(), &[30]);
        // A TCP header cut after 10 bytes, in an IPv4 packet that says so.
        let mut truncated = flow.to_server(1, "A", b"lost");
        truncated[2..4].copy_from_slice(&30u16.to_be_bytes());
        truncated.truncate(30);
        // An IPv4 fragment (more fragments follow).
        let mut fragment = flow.to_server(1, "A", b"fragment");
        fragment[6] |= 0x20;
        // A packet shorter than any IP header, and an SLL2 header cut short.
        packets.extend([truncated, fragment, vec![0x45, 0]]);
        let capture = read(&pcap_on(Link::Raw(101), &packets));
        assert_eq!(capture.skipped_packets, 3);
        assert_eq!(capture.connections[0].requests, frames);
        let capture = read(&pcap_on(Link::Sll2, &[vec![0x45; 10]]));
        assert_eq!(capture.skipped_packets, 1);
    }

    #[test]
    fn other_protocols_are_neither_connections_nor_skipped() {
        let flow = Flow::v4(40000);
        let mut udp = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(40000, 9092)
            .write(&mut udp, b"not tcp")
            .expect("packet");
        // An IPX family on a loopback link.
        let ipx = [&23u32.to_le_bytes()[..], &tcp(flow.client, flow.server, 1, "S", &[])].concat();
        let capture = read(&pcap_on(Link::Raw(101), &[udp]));
        assert_eq!((capture.connections.len(), capture.skipped_packets), (0, 0));
        let capture = read(&super::super::test_support::pcap(Default::default(), 0, &[ipx]));
        assert_eq!((capture.connections.len(), capture.skipped_packets), (0, 0));
    }
}
