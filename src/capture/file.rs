//! Reading pcap and pcapng files into link-layer packets with `pcap-parser`'s
//! parsers over a slice: every length in the file is checked against the
//! bytes that remain, and nothing is allocated from one.

use pcap_parser::pcapng::{Block, parse_block_be, parse_block_le, parse_sectionheaderblock};
use pcap_parser::{
    LegacyPcapBlock, PcapError, nom, parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified,
    parse_pcap_header,
};

use super::CaptureError;

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const EPB_TYPE: u32 = 6;
const SPB_TYPE: u32 = 3;

type Parsed<'a, T> = Result<(&'a [u8], T), nom::Err<PcapError<&'a [u8]>>>;

/// One packet record: its number in the file (from 1, as Wireshark counts),
/// the link type of the interface it was captured on, and its bytes.
#[derive(Debug)]
pub(super) struct LinkPacket<'a> {
    pub number: u64,
    pub link_type: i32,
    pub data: &'a [u8],
}

/// The packets of a capture, in file order; the first error ends them.
pub(super) struct Packets<'a> {
    name: &'a str,
    data: &'a [u8],
    /// Where the next record or block starts.
    offset: usize,
    /// Packets read so far.
    count: u64,
    format: Format,
    failed: bool,
}

enum Format {
    Pcap {
        link_type: i32,
        record: fn(&[u8]) -> Parsed<'_, LegacyPcapBlock<'_>>,
    },
    PcapNg {
        big_endian: bool,
        /// The current section's interfaces, by interface id. Each one came
        /// from a block in the file, so the file's size bounds them.
        interfaces: Vec<Interface>,
    },
}

#[derive(Clone, Copy)]
struct Interface {
    link_type: i32,
    snaplen: u32,
}

impl<'a> Packets<'a> {
    /// Reads the file header: the pcap header or the first pcapng section
    /// header.
    pub(super) fn new(name: &'a str, data: &'a [u8]) -> Result<Self, CaptureError> {
        let start = Place { name, offset: 0 };
        let not_a_capture = || CaptureError::NotACapture {
            name: name.to_owned(),
            start: data
                .iter()
                .take(4)
                .map(|byte| format!("{byte:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        };
        let (offset, format) = match data.first_chunk::<4>() {
            None => return Err(not_a_capture()),
            Some(&PCAPNG_MAGIC) => {
                // The section header is read again as the first block; this
                // only checks that it is one.
                parse_sectionheaderblock(data).map_err(|error| start.error(error, "the section header block"))?;
                let format = Format::PcapNg {
                    big_endian: false,
                    interfaces: Vec::new(),
                };
                (0, format)
            }
            Some(_) => {
                let (rest, header) = parse_pcap_header(data).map_err(|error| match error {
                    nom::Err::Incomplete(_) => start.error(error, "the file header"),
                    _ => not_a_capture(),
                })?;
                let record = if header.is_modified_format() {
                    parse_pcap_frame_modified
                } else if header.is_bigendian() {
                    parse_pcap_frame_be
                } else {
                    parse_pcap_frame
                };
                let format = Format::Pcap {
                    link_type: header.network.0,
                    record,
                };
                (data.len() - rest.len(), format)
            }
        };
        Ok(Self {
            name,
            data,
            offset,
            count: 0,
            format,
            failed: false,
        })
    }

    fn next_packet(&mut self) -> Result<Option<LinkPacket<'a>>, CaptureError> {
        loop {
            let rest = &self.data[self.offset..];
            if rest.is_empty() {
                return Ok(None);
            }
            let number = self.count + 1;
            let place = Place {
                name: self.name,
                offset: self.offset,
            };
            let packet = match &mut self.format {
                Format::Pcap { link_type, record } => {
                    let link_type = *link_type;
                    let (after, record) = record(rest).map_err(|error| place.error(error, &packet_record(number)))?;
                    self.offset = self.data.len() - after.len();
                    Some((link_type, record.data))
                }
                Format::PcapNg { big_endian, interfaces } => {
                    let parse = if *big_endian { parse_block_be } else { parse_block_le };
                    let (after, block) = match parse(rest) {
                        Ok(parsed) => parsed,
                        Err(error) => {
                            let what = block_name(rest, *big_endian, number);
                            return Err(place.error(error, &what));
                        }
                    };
                    let packet = match block {
                        Block::SectionHeader(header) => {
                            // A new section: its own byte order and interfaces.
                            *big_endian = header.big_endian();
                            interfaces.clear();
                            None
                        }
                        Block::InterfaceDescription(interface) => {
                            interfaces.push(Interface {
                                link_type: interface.linktype.0,
                                snaplen: interface.snaplen,
                            });
                            None
                        }
                        Block::EnhancedPacket(packet) => {
                            let interface = interfaces.get(packet.if_id as usize).ok_or_else(|| {
                                place.malformed(format!(
                                    "packet {number}'s record (naming interface {} of {} described)",
                                    packet.if_id,
                                    interfaces.len()
                                ))
                            })?;
                            Some((interface.link_type, cut(packet.data, packet.caplen)))
                        }
                        Block::SimplePacket(packet) => {
                            let interface = interfaces.first().ok_or_else(|| {
                                place.malformed(format!("packet {number}'s record (before any interface is described)"))
                            })?;
                            // The captured length is the original length cut
                            // at the interface's snapshot length (0: none).
                            let snaplen = match interface.snaplen {
                                0 => u32::MAX,
                                snaplen => snaplen,
                            };
                            Some((interface.link_type, cut(cut(packet.data, packet.origlen), snaplen)))
                        }
                        _ => None,
                    };
                    self.offset = self.data.len() - after.len();
                    packet
                }
            };
            if let Some((link_type, data)) = packet {
                self.count = number;
                return Ok(Some(LinkPacket {
                    number,
                    link_type,
                    data,
                }));
            }
        }
    }
}

/// Where in which file a record or block starts, for its errors.
#[derive(Clone, Copy)]
struct Place<'a> {
    name: &'a str,
    offset: usize,
}

impl Place<'_> {
    /// The error for a record or block that `pcap-parser` refused: the file
    /// ends inside it, or it is malformed.
    fn error(self, error: nom::Err<PcapError<&[u8]>>, what: &str) -> CaptureError {
        match error {
            nom::Err::Incomplete(_) => CaptureError::Truncated {
                name: self.name.to_owned(),
                what: what.to_owned(),
                offset: self.offset,
            },
            nom::Err::Error(_) | nom::Err::Failure(_) => self.malformed(what.to_owned()),
        }
    }

    fn malformed(self, what: String) -> CaptureError {
        CaptureError::Malformed {
            name: self.name.to_owned(),
            what,
            offset: self.offset,
        }
    }
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<LinkPacket<'a>, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let packet = self.next_packet().transpose();
        self.failed = matches!(packet, Some(Err(_)));
        packet
    }
}

/// The first `len` bytes of `data`, or all of it: a packet block's data is
/// padded to 4 bytes.
fn cut(data: &[u8], len: u32) -> &[u8] {
    &data[..data.len().min(len as usize)]
}

fn packet_record(number: u64) -> String {
    format!("packet {number}'s record")
}

/// What the block at the start of `rest` is, for an error message.
fn block_name(rest: &[u8], big_endian: bool, number: u64) -> String {
    let place = match number {
        1 => "before the first packet".to_owned(),
        _ => format!("after packet {}", number - 1),
    };
    let Some(&block_type) = rest.first_chunk::<4>() else {
        return format!("a block header {place}");
    };
    let block_type = match big_endian {
        true => u32::from_be_bytes(block_type),
        false => u32::from_le_bytes(block_type),
    };
    match block_type {
        EPB_TYPE | SPB_TYPE => packet_record(number),
        _ => format!("a block of type {block_type:#010x} {place}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        Flow, Link, NgPacket, PcapFormat, pcap, pcap_on, pcapng, read, requests, try_read,
    };
    use super::*;

    fn formats() -> [PcapFormat; 5] {
        let format = |big_endian, nanoseconds, modified| PcapFormat {
            big_endian,
            nanoseconds,
            modified,
        };
        [
            format(false, false, false),
            format(true, false, false),
            format(false, true, false),
            format(true, true, false),
            format(false, false, true),
        ]
    }

    #[test]
    fn pcap_in_both_byte_orders_both_resolutions_and_the_modified_format() {
        let frames = requests(2);
        let packets: Vec<Vec<u8>> = Flow::v4(40000)
            .connection(&frames.concat(), &[10])
            .iter()
            .map(|packet| Link::Ethernet.frame(packet))
            .collect();
        for format in formats() {
            let capture = read(&pcap(format, 1, &packets));
            assert_eq!(capture.connections.len(), 1, "{format:?}");
            assert_eq!(capture.connections[0].requests, frames, "{format:?}");
        }
    }

    #[test]
    fn pcapng_with_two_interfaces_of_different_link_types_in_both_byte_orders() {
        let frames = requests(4);
        let packets = Flow::v4(40000).connection(&frames.concat(), &[5, 40, 90, 130]);
        // The handshake on Ethernet (interface 0), data in turn on raw IP
        // (interface 1) and Ethernet, one of those in a simple packet block.
        let blocks: Vec<NgPacket> = packets
            .iter()
            .enumerate()
            .map(|(index, packet)| match index {
                0..=2 => NgPacket::Enhanced(0, Link::Ethernet.frame(packet)),
                4 => NgPacket::Simple(Link::Ethernet.frame(packet)),
                _ if index % 2 == 1 => NgPacket::Enhanced(1, packet.clone()),
                _ => NgPacket::Enhanced(0, Link::Ethernet.frame(packet)),
            })
            .collect();
        for big_endian in [false, true] {
            let capture = read(&pcapng(big_endian, &[1, 101], &blocks));
            assert_eq!(capture.connections.len(), 1);
            assert_eq!(capture.connections[0].requests, frames, "big endian {big_endian}");
        }
    }

    #[test]
    fn a_second_section_has_its_own_byte_order_and_interfaces() {
        let frames = requests(2);
        let stream = frames.concat();
        let flow = Flow::v4(40000);
        let first = pcapng(
            false,
            &[101],
            &[NgPacket::Enhanced(0, flow.to_server(1, "A", &stream[..20]))],
        );
        let second = pcapng(
            true,
            &[1],
            &[NgPacket::Enhanced(
                0,
                Link::Ethernet.frame(&flow.to_server(21, "A", &stream[20..])),
            )],
        );
        let capture = read(&[first, second].concat());
        // Mid-stream (no SYN): the first frame, whole, is found again.
        assert_eq!(capture.connections[0].requests, frames);
    }

    #[test]
    fn not_a_capture() {
        for data in [&b"GET / HTTP/1.1\r\n"[..], b"", b"\xa1\xb2"] {
            let error = try_read(data).unwrap_err();
            assert!(matches!(error, CaptureError::NotACapture { .. }), "{error}");
            assert!(
                error.to_string().starts_with("test.pcap: not a pcap or pcapng file"),
                "{error}"
            );
        }
        let error = try_read(b"GET / HTTP/1.1").unwrap_err().to_string();
        assert!(error.ends_with("[47 45 54 20])"), "{error}");
    }

    #[test]
    fn a_truncated_file_names_the_packet() {
        let packets = Flow::v4(40000).connection(&requests(2).concat(), &[]);
        let file = pcap_on(Link::Raw(101), &packets);
        let error = try_read(&file[..file.len() - 5]).unwrap_err();
        let record_start = file.len() - (16 + packets[3].len());
        let CaptureError::Truncated { what, offset, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!((what.as_str(), *offset), ("packet 4's record", record_start));
        assert_eq!(
            error.to_string(),
            format!("test.pcap: the file ends inside packet 4's record, which starts at byte offset {record_start}")
        );
        // A record header cut short, and a file header.
        let error = try_read(&file[..record_start + 10]).unwrap_err();
        assert!(error.to_string().contains("packet 4's record"), "{error}");
        let error = try_read(&file[..20]).unwrap_err();
        assert!(error.to_string().contains("inside the file header"), "{error}");
        // pcapng: an enhanced packet block, and another block.
        let blocks: Vec<NgPacket> = packets
            .iter()
            .map(|packet| NgPacket::Enhanced(0, packet.clone()))
            .collect();
        let file = pcapng(false, &[101], &blocks);
        let error = try_read(&file[..file.len() - 1]).unwrap_err();
        assert!(error.to_string().contains("inside packet 4's record"), "{error}");
        let error = try_read(&file[..28 + 10]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("inside a block of type 0x00000001 before the first packet"),
            "{error}"
        );
    }

    #[test]
    fn an_unsupported_link_type_names_itself_and_the_packet() {
        let packets = Flow::v4(40000).handshake();
        let error = try_read(&pcap(PcapFormat::default(), 105, &packets)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "test.pcap: packet 1 is on a link of type 105, which is not decoded here"
        );
    }

    #[test]
    fn packets_on_an_unsupported_link_beside_the_kafka_traffic_are_skipped() {
        let frames = requests(2);
        let packets = Flow::v4(40000).connection(&frames.concat(), &[30]);
        let mut blocks: Vec<NgPacket> = packets
            .iter()
            .map(|packet| NgPacket::Enhanced(0, Link::Ethernet.frame(packet)))
            .collect();
        // Interface 1 is of link type 105 (802.11), not decoded here.
        blocks.insert(1, NgPacket::Enhanced(1, vec![0xaa; 40]));
        blocks.push(NgPacket::Enhanced(1, vec![0xbb; 12]));
        let capture = read(&pcapng(false, &[1, 105], &blocks));
        assert_eq!(capture.connections[0].requests, frames);
        assert_eq!(capture.skipped_packets, 2);
    }

    #[test]
    fn a_packet_on_an_interface_not_described_is_malformed() {
        let packet = Flow::v4(40000).to_server(1, "S", &[]);
        let error = try_read(&pcapng(false, &[101], &[NgPacket::Enhanced(1, packet.clone())])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "test.pcap: packet 1's record (naming interface 1 of 1 described) at byte offset 48 is malformed"
        );
        let error = try_read(&pcapng(false, &[], &[NgPacket::Simple(packet)])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "test.pcap: packet 1's record (before any interface is described) at byte offset 28 is malformed"
        );
    }
}
