//! The TCP server: pipelining, a bad frame closing only its own connection,
//! timeouts, waiting fetches, shutdown.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use kafka_fuzz::corpus::{CorpusStats, SeedContent, TrafficRecorder};
use kafka_fuzz::harness::client::Client;
use kafka_fuzz::harness::input::encode_entries;
use kafka_fuzz::server::broker::{Broker, BrokerConfig, SystemClock};
use kafka_fuzz::server::net::{ConnectionLimits, ServerStats, TrafficObserver, serve};
use kafka_fuzz::server::wire::Codec;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiVersionsRequest, FetchRequest, MetadataRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

struct Server {
    addr: std::net::SocketAddr,
    stats: Arc<ServerStats>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(limits: ConnectionLimits) -> Server {
    start_observed(limits, None).await
}

async fn start_observed(limits: ConnectionLimits, observer: Option<Arc<dyn TrafficObserver>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let broker = Broker::new(BrokerConfig::default(), SystemClock);
    let stats = Arc::new(ServerStats::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        listener,
        broker,
        limits,
        Arc::clone(&stats),
        observer,
        async move {
            let _ = stopped.await;
        },
    ));
    Server {
        addr,
        stats,
        stop: Some(stop),
        task,
    }
}

impl Server {
    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

async fn read_response(stream: &mut TcpStream) -> Option<Bytes> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).await.ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
    stream.read_exact(&mut body).await.ok()?;
    let mut frame = size.to_vec();
    frame.extend_from_slice(&body);
    Some(frame.into())
}

fn metadata(topic: &str) -> MetadataRequest {
    MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(topic.to_owned())))),
    ]))
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let server = start(ConnectionLimits::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut client = Client::new("pipeline");
    let mut expected = Vec::new();
    let mut burst = Vec::new();
    for i in 0..20 {
        let (correlation_id, frame) = if i % 2 == 0 {
            client.request(3, ApiVersionsRequest::default()).unwrap()
        } else {
            client.request(12, metadata(&format!("t{i}"))).unwrap()
        };
        expected.push((i % 2, correlation_id));
        burst.extend_from_slice(&frame);
    }
    // All at once, then split across writes at odd places.
    let (first, second) = burst.split_at(burst.len() / 3);
    stream.write_all(first).await.unwrap();
    stream.write_all(second).await.unwrap();
    for (kind, correlation_id) in expected {
        let frame = read_response(&mut stream).await.unwrap();
        if kind == 0 {
            Client::response::<ApiVersionsRequest>(3, correlation_id, &frame).unwrap();
        } else {
            let response = Client::response::<MetadataRequest>(12, correlation_id, &frame).unwrap();
            assert_eq!(response.topics[0].error_code, 0);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_bad_frame_closes_only_its_connection() {
    let server = start(ConnectionLimits::default()).await;
    let mut good = TcpStream::connect(server.addr).await.unwrap();
    let mut bad = TcpStream::connect(server.addr).await.unwrap();
    // Produce v3 whose topic count claims 2^31-1.
    bad.write_all(&[
        0, 0, 0, 18, 0, 0, 0, 3, 0, 0, 0, 7, 0xff, 0xff, 0, 1, 0, 0, 0x7f, 0xff, 0xff, 0xff,
    ])
    .await
    .unwrap();
    assert!(read_response(&mut bad).await.is_none(), "closed without an answer");
    let mut client = Client::new("good");
    let (correlation_id, frame) = client.request(12, metadata("still-fine")).unwrap();
    good.write_all(&frame).await.unwrap();
    let response = read_response(&mut good).await.unwrap();
    Client::response::<MetadataRequest>(12, correlation_id, &response).unwrap();
    // An oversized size prefix closes too.
    let mut huge = TcpStream::connect(server.addr).await.unwrap();
    huge.write_all(&[0x7f, 0xff, 0xff, 0xff, 0, 0]).await.unwrap();
    assert!(read_response(&mut huge).await.is_none());
    assert_eq!(server.stats.rejected.load(Ordering::Relaxed), 2);
    server.stop().await;
}

#[tokio::test]
async fn idle_and_partial_frames_time_out() {
    let limits = ConnectionLimits {
        idle_timeout: Duration::from_millis(300),
        partial_frame_timeout: Duration::from_millis(100),
        ..ConnectionLimits::default()
    };
    let server = start(limits).await;
    let mut partial = TcpStream::connect(server.addr).await.unwrap();
    partial.write_all(&[0, 0, 0, 50, 0, 18]).await.unwrap();
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let started = std::time::Instant::now();
    // A server that never closed would hang here: bound the wait.
    let closed = |stream| tokio::time::timeout(Duration::from_secs(5), read_response(stream));
    assert!(closed(&mut partial).await.unwrap().is_none());
    let partial_after = started.elapsed();
    assert!(closed(&mut idle).await.unwrap().is_none());
    let idle_after = started.elapsed();
    assert!(
        partial_after >= Duration::from_millis(100),
        "closed before its timeout: {partial_after:?}"
    );
    assert!(
        idle_after >= Duration::from_millis(300),
        "closed before its timeout: {idle_after:?}"
    );
    assert!(partial_after < idle_after, "the partial frame went first");
    server.stop().await;
}

#[tokio::test]
async fn a_waiting_fetch_is_answered_when_data_arrives() {
    let server = start(ConnectionLimits::default()).await;
    let mut consumer = TcpStream::connect(server.addr).await.unwrap();
    let mut producer = TcpStream::connect(server.addr).await.unwrap();
    let mut client = Client::new("t");
    let topic = TopicName(StrBytes::from_static_str("waiting"));
    let (correlation_id, frame) = client.request(12, metadata("waiting")).unwrap();
    consumer.write_all(&frame).await.unwrap();
    Client::response::<MetadataRequest>(12, correlation_id, &read_response(&mut consumer).await.unwrap()).unwrap();
    let fetch = FetchRequest::default()
        .with_max_wait_ms(20_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default().with_topic(topic.clone()).with_partitions(
            vec![FetchPartition::default().with_partition_max_bytes(1 << 20)],
        )]);
    let (fetch_id, frame) = client.request(12, fetch).unwrap();
    consumer.write_all(&frame).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let entries = [(None, Some(Bytes::from_static(b"hello")))];
    let records = encode_entries(&entries, None, 0, Codec::None).unwrap();
    let produce = ProduceRequest::default().with_acks(1).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(topic)
            .with_partition_data(vec![PartitionProduceData::default().with_records(Some(records))]),
    ]);
    let (produce_id, frame) = client.request(9, produce).unwrap();
    let started = std::time::Instant::now();
    producer.write_all(&frame).await.unwrap();
    Client::response::<ProduceRequest>(9, produce_id, &read_response(&mut producer).await.unwrap()).unwrap();
    let response =
        Client::response::<FetchRequest>(12, fetch_id, &read_response(&mut consumer).await.unwrap()).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered on the produce, not the deadline"
    );
    assert!(!response.responses[0].partitions[0].records.as_ref().unwrap().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_recording_server_writes_every_request_and_connection_as_seeds() {
    let dir = std::env::temp_dir().join(format!("kafka-fuzz-record-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let recorder = Arc::new(TrafficRecorder::new(&dir));
    let server = start_observed(ConnectionLimits::default(), Some(recorder.clone())).await;
    let files = |target: &str| std::fs::read_dir(dir.join(target)).map_or(0, |d| d.count());

    let (mut first, mut second) = (Client::new("recorded"), Client::new("recorded"));
    let api_versions = first.request(3, ApiVersionsRequest::default()).unwrap().1;
    let metadata_one = first.request(12, metadata("recorded-a")).unwrap().1;
    let mut closing = TcpStream::connect(server.addr).await.unwrap();
    closing
        .write_all(&[&api_versions[..], &metadata_one].concat())
        .await
        .unwrap();
    read_response(&mut closing).await.unwrap();
    read_response(&mut closing).await.unwrap();
    drop(closing);
    // The same ApiVersions frame again (same client id and correlation id),
    // then another Metadata, on a connection still open at shutdown.
    let metadata_two = {
        second.request(3, ApiVersionsRequest::default()).unwrap();
        second.request(12, metadata("recorded-b")).unwrap().1
    };
    let mut open = TcpStream::connect(server.addr).await.unwrap();
    open.write_all(&[&api_versions[..], &metadata_two].concat())
        .await
        .unwrap();
    read_response(&mut open).await.unwrap();
    read_response(&mut open).await.unwrap();
    for _ in 0..100 {
        if files("dispatch") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(files("dispatch"), 1, "the closed connection's stream, once it closed");
    server.stop().await;
    let summary = recorder.finish();

    assert_eq!(files("dispatch"), 2, "the open connection's stream, at the end");
    assert_eq!(files("frame_decode"), 3, "three distinct frames");
    assert_eq!(files("metadata"), 2);
    let stats = CorpusStats::read(&dir).unwrap();
    let dispatch = &stats.targets["dispatch"].contents;
    let api_versions_v3 = SeedContent::Request {
        api_key: 18,
        version: 3,
    };
    let metadata_v12 = SeedContent::Request {
        api_key: 3,
        version: 12,
    };
    assert_eq!(
        (dispatch[&api_versions_v3].seeds, dispatch[&metadata_v12].seeds),
        (2, 2)
    );
    let closed_stream = [&api_versions[..], &metadata_one].concat();
    assert!(
        std::fs::read_dir(dir.join("dispatch"))
            .unwrap()
            .any(|f| std::fs::read(f.unwrap().path()).unwrap() == closed_stream),
        "a connection's seed is exactly the bytes it sent"
    );
    assert!(summary.contains("frame_decode"), "{summary}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `kafka-fuzz serve --record DIR`, as a user runs it: the seeds are there
/// when it stops, and it says how many.
#[tokio::test]
async fn serve_record_writes_seeds_and_says_so_when_it_stops() {
    use std::io::{BufRead, Read};
    let dir = std::env::temp_dir().join(format!("kafka-fuzz-serve-record-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-fuzz"))
        .args(["serve", "--listen", "127.0.0.1:0", "--record"])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut client = Client::new("serve-record");
    stream
        .write_all(&client.request(12, metadata("serve-record")).unwrap().1)
        .await
        .unwrap();
    read_response(&mut stream).await.unwrap();
    // Still connected at SIGTERM: its stream is written at shutdown.
    assert_eq!(unsafe { libc::kill(server.id() as i32, libc::SIGTERM) }, 0);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(server.wait().unwrap().success(), "{rest}");
    assert!(rest.contains("recorded seeds:"), "{rest}");
    let stats = CorpusStats::read(&dir).unwrap();
    let targets: Vec<_> = stats.targets.keys().map(String::as_str).collect();
    assert_eq!(targets, ["differential", "dispatch", "frame_decode", "metadata"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A cluster node over TCP (`serve --node-id`), alone in its quorum: one
/// connection writing acks=0 produces as fast as it can must not bury
/// another connection's requests (found by `kafka-fuzz storm`: the node read
/// every connection ahead without bound, and a flood of acks=0 produces
/// left other clients' requests waiting past their timeouts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_connection_does_not_bury_a_cluster_nodes_other_clients() {
    use std::collections::BTreeMap;

    use kafka_fuzz::server::broker::Endpoint;
    use kafka_fuzz::server::cluster::disk::FileDisk;
    use kafka_fuzz::server::cluster::{ClusterNode, NodeConfig};
    use kafka_fuzz::server::node_net::{NodeAddresses, serve_node};

    let clients = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peers_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = NodeAddresses {
        client: clients.local_addr().unwrap(),
        peer: peers_listener.local_addr().unwrap(),
    };
    let endpoint = Endpoint {
        host: "127.0.0.1".to_owned(),
        port: i32::from(own.client.port()),
    };
    let broker = BrokerConfig {
        node_id: 1,
        advertised_host: endpoint.host.clone(),
        advertised_port: endpoint.port,
        ..BrokerConfig::default()
    };
    let data = std::env::temp_dir().join(format!("kafka-fuzz-flood-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let node = ClusterNode::open(
        NodeConfig::new(broker, BTreeMap::from([(1, endpoint)])),
        FileDisk::open(&data).unwrap(),
        SystemClock,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_node(
        node,
        clients,
        peers_listener,
        BTreeMap::from([(1, own)]),
        ConnectionLimits::default(),
        async move {
            let _ = stopped.await;
        },
    ));

    // The topic, once the lone node elected itself and created it.
    let mut asker = TcpStream::connect(own.client).await.unwrap();
    let mut client = Client::new("asker");
    let ask = async |asker: &mut TcpStream, client: &mut Client| {
        let body = metadata("flood").with_allow_auto_topic_creation(true);
        let (id, frame) = client.request(9, body).unwrap();
        asker.write_all(&frame).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), read_response(asker)).await;
        let answer = answer.expect("answered within 5 s").expect("an answer");
        Client::response::<MetadataRequest>(9, id, &answer).unwrap()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while ask(&mut asker, &mut client).await.topics[0]
        .partitions
        .first()
        .is_none_or(|p| p.leader_id.0 < 0)
    {
        assert!(tokio::time::Instant::now() < deadline, "the topic never got a leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flood = {
        let flooding = flooding.clone();
        tokio::spawn(async move {
            let mut stream = TcpStream::connect(own.client).await.unwrap();
            let mut client = Client::new("flood");
            let records = encode_entries(&[(None, Some(Bytes::from_static(b"x")))], None, 0, Codec::None).unwrap();
            let mut sent = 0u64;
            while flooding.load(Ordering::Relaxed) {
                let body = ProduceRequest::default()
                    .with_acks(0)
                    .with_timeout_ms(1000)
                    .with_topic_data(vec![
                        TopicProduceData::default()
                            .with_name(TopicName(StrBytes::from_static_str("flood")))
                            .with_partition_data(vec![
                                PartitionProduceData::default()
                                    .with_index(0)
                                    .with_records(Some(records.clone())),
                            ]),
                    ]);
                let (_, frame) = client.request(9, body).unwrap();
                if stream.write_all(&frame).await.is_err() {
                    break;
                }
                sent += 1;
            }
            sent
        })
    };
    // While it floods, every metadata request is answered within 5 s.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ask(&mut asker, &mut client).await;
    }
    flooding.store(false, Ordering::Relaxed);
    let sent = flood.await.unwrap();
    assert!(sent > 1000, "the flood sent only {sent} produces");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&data);
}
