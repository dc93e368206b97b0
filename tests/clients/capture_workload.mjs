// A short, typical kafkajs workload against a Kafka server, for
// scripts/capture-real-traffic.sh to capture as seed traffic:
//
//     KAFKA_FUZZ_BOOTSTRAP=127.0.0.1:9092 node tests/clients/capture_workload.mjs
//
// Admin CreateTopics and Metadata, a plain producer, an idempotent gzip
// producer, a consumer group that commits, then the committed offsets and
// the partition offsets read back. Few messages: the capture is for the
// shapes of the requests. Exits non-zero if any step failed.

import { readFileSync } from 'node:fs'
import kafkajs from 'kafkajs'

const { Kafka, logLevel, CompressionTypes } = kafkajs

const BOOTSTRAP = process.env.KAFKA_FUZZ_BOOTSTRAP ?? '127.0.0.1:9092'
const MESSAGES = 20
const TOPIC = 'capture-kafkajs'
const GROUP = 'capture-kafkajs-group'
const TIMEOUT_MS = 30_000

const version = JSON.parse(readFileSync(new URL('./node_modules/kafkajs/package.json', import.meta.url))).version
console.log(`kafkajs ${version}`)

const kafka = new Kafka({ clientId: 'kafka-fuzz-capture', brokers: [BOOTSTRAP], logLevel: logLevel.WARN })
const messages = tag => Array.from({ length: MESSAGES }, (_, i) => ({
  key: `key-${i % 7}`,
  value: `${tag}-${i}|` + 'kafka-fuzz capture payload '.repeat(3),
  headers: { i: String(i) },
}))

const admin = kafka.admin()
await admin.connect()
await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 3 }], waitForLeaders: true })
await admin.fetchTopicMetadata({ topics: [TOPIC] })

const plain = kafka.producer()
await plain.connect()
await plain.send({ topic: TOPIC, acks: -1, messages: messages('none') })
await plain.disconnect()
const idempotent = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
await idempotent.connect()
await idempotent.send({ topic: TOPIC, acks: -1, compression: CompressionTypes.GZIP, messages: messages('gzip') })
await idempotent.disconnect()
console.log(`produced ${2 * MESSAGES} messages (none, idempotent gzip)`)

const consumer = kafka.consumer({ groupId: GROUP, maxWaitTimeInMs: 500 })
await consumer.connect()
await consumer.subscribe({ topics: [TOPIC], fromBeginning: true })
let consumed = 0
await consumer.run({ eachMessage: async () => { consumed += 1 } })
const deadline = Date.now() + TIMEOUT_MS
while (consumed < 2 * MESSAGES && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
await consumer.disconnect()
if (consumed !== 2 * MESSAGES) throw new Error(`consumed ${consumed} of ${2 * MESSAGES}`)
console.log(`consumed and committed ${consumed} messages in a group`)

await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] })
await admin.fetchTopicOffsets(TOPIC)
await admin.disconnect()
