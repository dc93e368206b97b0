// kafkajs against `kafka-fuzz serve`. Run by scripts/client-tests.sh, which
// starts the server and sets KAFKA_FUZZ_BOOTSTRAP (host:port):
//
//     KAFKA_FUZZ_BOOTSTRAP=127.0.0.1:9092 node tests/clients/kafkajs_test.mjs
//
// Ends with `kafkajs client tests: N passed, M failed`; exits non-zero on any
// failure. Counts are exact: what is consumed must be exactly what was
// acknowledged, partition by partition, offset by offset, in produce order.

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import kafkajs from 'kafkajs'

const { Kafka, logLevel, CompressionTypes, Partitioners } = kafkajs

const BOOTSTRAP = process.env.KAFKA_FUZZ_BOOTSTRAP ?? '127.0.0.1:9092'
const MESSAGES = 5000
const PARTITIONS = 3
const BATCH = 250
const CONSUME_TIMEOUT_MS = 60_000
const GROUP_TIMEOUT_MS = 30_000
const QUIET_MS = 1500
const TEST_TIMEOUT_MS = 120_000

const kafka = new Kafka({
  clientId: 'kafka-fuzz-kafkajs-test',
  brokers: [BOOTSTRAP],
  logLevel: logLevel.WARN,
  connectionTimeout: 5000,
  requestTimeout: 15_000,
})

const unique = prefix => `${prefix}-${randomUUID().slice(0, 10)}`
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const payload = i => `kafkajs-${String(i).padStart(5, '0')}|` + 'kafka-fuzz reference payload '.repeat(3)
const keyOf = i => `key-${i % 17}`

async function waitFor (what, condition, timeoutMs = GROUP_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

// A group consumer that collects every message and reports its assignment.
async function startConsumer (topic, groupId) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000, maxWaitTimeInMs: 500 })
  const state = { records: [], assigned: [], crashed: null, consumer }
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    state.assigned = (payload.memberAssignment[topic] ?? []).slice().sort((a, b) => a - b)
  })
  consumer.on(consumer.events.CRASH, ({ payload }) => { state.crashed = payload.error })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      state.records.push({
        partition,
        offset: Number(message.offset),
        key: message.key?.toString(),
        value: message.value.toString(),
        header: message.headers?.i?.toString(),
      })
    },
  })
  return state
}

function assertExactlyOnce (produced, consumed) {
  assert.equal(consumed.length, produced.length, 'consumed count != acknowledged count')
  const seen = new Map()
  for (const r of consumed) seen.set(r.value, (seen.get(r.value) ?? 0) + 1)
  const dupes = [...seen].filter(([, n]) => n > 1)
  assert.deepEqual(dupes.slice(0, 5), [], `${dupes.length} values consumed more than once`)
  const key = r => `${r.partition}/${r.offset}/${r.key}/${r.value}`
  assert.deepEqual(consumed.map(key).sort(), produced.map(key).sort(), 'consumed records differ from acknowledged ones')
  for (let p = 0; p < PARTITIONS; p++) {
    const got = consumed.filter(r => r.partition === p)
    const want = produced.filter(r => r.partition === p)
    assert.ok(got.length > 0, `partition ${p} got no messages`)
    assert.deepEqual(got.map(r => r.offset), [...got.keys()], `partition ${p}: offsets not 0..n-1 in order`)
    assert.deepEqual(got.map(r => r.value), want.map(r => r.value), `partition ${p}: not in produce order`)
  }
  for (const r of consumed) {
    assert.equal(r.header, r.value.split('|')[0].split('-')[1].replace(/^0+(?=\d)/, ''), "header 'i'")
  }
}

async function idempotentProducerAndGroupConsumer () {
  const topic = unique('kjs-idempotent')
  const groupId = unique('kjs-group')
  const admin = kafka.admin()
  await admin.connect()
  try {
    // CreateTopics, then Metadata shows it; creating it again fails.
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true }), true)
    console.log('(kafkajs logs the next CreateTopics as an ERROR: expected, the topic exists)')
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] }), false)
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
    assert.deepEqual(topics[0].partitions.map(p => p.partitionId).sort(), [0, 1, 2])

    // Idempotent producer (InitProducerId, sequence numbers), gzip batches.
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    })
    await producer.connect()
    const partitioner = Partitioners.DefaultPartitioner()
    const partitionMetadata = [...Array(PARTITIONS).keys()].map(partitionId => ({ partitionId, leader: 1 }))
    const next = Array(PARTITIONS).fill(0)
    const produced = []
    try {
      for (let start = 0; start < MESSAGES; start += BATCH) {
        const messages = []
        for (let i = start; i < start + BATCH; i++) {
          messages.push({ key: keyOf(i), value: payload(i), headers: { i: String(i) } })
        }
        const acks = await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages })
        // Each partition's batch starts where the previous one ended.
        const counts = Array(PARTITIONS).fill(0)
        for (const m of messages) {
          const partition = partitioner({ topic, partitionMetadata, message: m })
          produced.push({ partition, offset: next[partition] + counts[partition], key: m.key, value: m.value })
          counts[partition]++
        }
        for (const ack of acks) {
          assert.equal(ack.errorCode, 0)
          assert.equal(Number(ack.baseOffset), next[ack.partition], `partition ${ack.partition}: base offset`)
        }
        assert.deepEqual(acks.map(a => a.partition).sort(), counts.flatMap((n, p) => n ? [p] : []))
        counts.forEach((n, p) => { next[p] += n })
      }
    } finally {
      await producer.disconnect()
    }
    assert.equal(produced.length, MESSAGES)

    // A group consumer reads back exactly those, and commits.
    const first = await startConsumer(topic, groupId)
    try {
      await waitFor('all messages', () => first.records.length >= MESSAGES || first.crashed, CONSUME_TIMEOUT_MS)
      await sleep(QUIET_MS)
      assert.equal(first.crashed, null)
      assert.deepEqual(first.assigned, [0, 1, 2])
      assertExactlyOnce(produced, first.records)
    } finally {
      await first.consumer.disconnect()
    }

    // Committed offsets (OffsetFetch) and watermarks (ListOffsets).
    const ends = next.map(String)
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] })
    assert.deepEqual(committed.partitions.sort((a, b) => a.partition - b.partition).map(p => p.offset), ends, 'committed offsets')
    const watermarks = await admin.fetchTopicOffsets(topic)
    assert.deepEqual(watermarks.sort((a, b) => a.partition - b.partition).map(p => [p.low, p.high]), ends.map(e => ['0', e]), 'watermarks')

    // A new member of the group gets nothing old, then exactly one marker
    // per partition, at the old end offset.
    const second = await startConsumer(topic, groupId)
    try {
      await waitFor('the second consumer to be assigned everything', () => second.assigned.length === PARTITIONS)
      await sleep(QUIET_MS)
      assert.deepEqual(second.records, [], 'a group member got messages after everything was committed')
      const marker = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
      await marker.connect()
      await marker.send({ topic, acks: -1, messages: [...Array(PARTITIONS).keys()].map(p => ({ partition: p, value: `marker-${p}` })) })
      await marker.disconnect()
      await waitFor('the markers', () => second.records.length >= PARTITIONS, CONSUME_TIMEOUT_MS)
      await sleep(QUIET_MS)
      assert.equal(second.crashed, null)
      assert.deepEqual(
        second.records.map(r => [r.partition, r.offset, r.value]).sort((a, b) => a[0] - b[0]),
        next.map((end, p) => [p, end, `marker-${p}`]),
      )
    } finally {
      await second.consumer.disconnect()
    }
  } finally {
    await admin.disconnect()
  }
}

const tests = [idempotentProducerAndGroupConsumer]

let passed = 0
let failed = 0
for (const test of tests) {
  const started = Date.now()
  let timer
  try {
    await Promise.race([
      test(),
      new Promise((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${TEST_TIMEOUT_MS} ms`)), TEST_TIMEOUT_MS)
      }),
    ])
    passed++
    console.log(`${test.name} ... ok (${Date.now() - started} ms)`)
  } catch (error) {
    failed++
    console.log(`${test.name} ... FAIL (${Date.now() - started} ms)\n${error.stack}`)
  } finally {
    clearTimeout(timer)
  }
}
console.log(`kafkajs client tests: ${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
