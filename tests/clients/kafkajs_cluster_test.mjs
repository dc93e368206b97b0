// kafkajs against a three-node `kafka-fuzz serve --cluster 3`. Run by
// scripts/client-tests.sh, which starts the cluster and sets
// KAFKA_FUZZ_BOOTSTRAP (host:port,...). Creates a 3-replica topic, produces
// with acks=all and consumes through a group: exactly what was acknowledged,
// once, in produce order per partition. Ends with
// `kafkajs cluster tests: N passed, M failed`.

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import kafkajs from 'kafkajs'

const { Kafka, logLevel, Partitioners } = kafkajs

const BROKERS = (process.env.KAFKA_FUZZ_BOOTSTRAP ?? '127.0.0.1:9092').split(',')
const MESSAGES = 1000
const PARTITIONS = 3
const TIMEOUT_MS = 60_000

const kafka = new Kafka({ clientId: 'kafka-fuzz-kafkajs-cluster', brokers: BROKERS, logLevel: logLevel.WARN })
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const unique = prefix => `${prefix}-${randomUUID().slice(0, 10)}`

async function producesAndConsumes () {
  const topic = unique('kafkajs-cluster')
  const admin = kafka.admin()
  await admin.connect()
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 3 }], waitForLeaders: true }), true)
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] })
  for (const partition of metadata.topics[0].partitions) assert.deepEqual(partition.replicas.slice().sort(), [1, 2, 3])
  await admin.disconnect()

  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const acked = []
  for (let start = 0; start < MESSAGES; start += 250) {
    const messages = Array.from({ length: 250 }, (_, j) => ({ key: `key-${(start + j) % 17}`, value: `kafkajs-${start + j}` }))
    const results = await producer.send({ topic, acks: -1, messages })
    for (const result of results) assert.equal(result.errorCode, 0, `partition ${result.partition}: error ${result.errorCode}`)
    acked.push(...messages.map(m => m.value))
  }
  await producer.disconnect()

  const consumer = kafka.consumer({ groupId: unique('kafkajs-cluster-group'), maxWaitTimeInMs: 500 })
  const records = []
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({ eachMessage: async ({ partition, message }) => { records.push({ partition, offset: Number(message.offset), value: message.value.toString() }) } })
  const deadline = Date.now() + TIMEOUT_MS
  while (records.length < MESSAGES && Date.now() < deadline) await sleep(50)
  await sleep(1500)
  await consumer.disconnect()

  assert.equal(records.length, MESSAGES, `consumed ${records.length} of ${MESSAGES}`)
  assert.deepEqual(new Set(records.map(r => r.value)), new Set(acked), 'consumed values differ from acknowledged ones')
  const byPartition = new Map()
  for (const r of records) byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r])
  assert.equal(byPartition.size, PARTITIONS)
  for (const [partition, rs] of byPartition) {
    assert.deepEqual(rs.map(r => r.offset), rs.map((_, i) => i), `partition ${partition}: offsets not 0..n-1`)
    const order = rs.map(r => Number(r.value.split('-')[1]))
    assert.deepEqual(order, order.slice().sort((a, b) => a - b), `partition ${partition}: not in produce order`)
  }
}

let passed = 0
let failed = 0
for (const [name, test] of [['produces and consumes on a 3-node cluster', producesAndConsumes]]) {
  try {
    await test()
    passed++
    console.log(`ok: ${name}`)
  } catch (error) {
    failed++
    console.log(`FAILED: ${name}: ${error.stack}`)
  }
}
console.log(`kafkajs cluster tests: ${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
