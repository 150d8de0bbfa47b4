// kafkajs (a pure-JavaScript Kafka client with its own protocol code) against
// a running ferrologd: admin create and metadata, produce with keys, headers
// and gzip, a consumer group that reads everything and commits, a second
// consumer of the group that resumes after the commit, and admin offset
// queries. Exits non-zero on failure; every wait is bounded.
//
//     (cd tools/kafkajs && npm install) && node tools/kafkajs/smoke.js 127.0.0.1:9092
const { Kafka, CompressionTypes, logLevel } = require('kafkajs')

const bootstrap = process.argv[2] || '127.0.0.1:9092'
const topic = `kafkajs-${Date.now()}`
const groupId = `${topic}-g`
const kafka = new Kafka({ clientId: 'smoke', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 3 } })

function within (ms, what, promise) {
  let timer
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms) })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

// Runs one group consumer until `want` records arrived; returns them.
async function consumeGroup (want) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, rebalanceTimeout: 10000 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const got = []
  let done
  const all = new Promise(resolve => { done = resolve })
  await consumer.run({
    autoCommit: true,
    eachMessage: async ({ partition, message }) => {
      got.push({ partition, offset: Number(message.offset), key: message.key && message.key.toString(), value: message.value.toString(), headers: message.headers })
      if (got.length >= want) done()
    }
  })
  await within(30000, `group read ${want}`, all)
  await consumer.disconnect() // commits what was consumed
  return got
}

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  await within(10000, 'create topic', admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true }))
  const listed = await admin.listTopics()
  if (!listed.includes(topic)) throw new Error(`topic missing from ${listed}`)
  const meta = await admin.fetchTopicMetadata({ topics: [topic] })
  if (meta.topics[0].partitions.length !== 3) throw new Error(`partitions: ${JSON.stringify(meta)}`)

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  for (const compression of [CompressionTypes.None, CompressionTypes.GZIP]) {
    const messages = []
    for (let i = 0; i < 500; i++) {
      messages.push({ key: `k${i % 11}`, value: `${compression}-${i}`, headers: { 'correlation-id': `c${i}` } })
    }
    await producer.send({ topic, acks: -1, compression, messages })
  }

  const first = await consumeGroup(1000)
  if (first.length !== 1000) throw new Error(`group read ${first.length} of 1000`)
  for (const p of [0, 1, 2]) {
    const offsets = first.filter(m => m.partition === p).map(m => m.offset)
    offsets.forEach((o, i) => { if (o !== i) throw new Error(`partition ${p} offsets not dense: ${offsets.slice(0, 10)}`) })
  }
  // Per-key ordering: each key lives on one partition, in send order.
  const byKey = new Map()
  for (const m of first) {
    const seen = byKey.get(m.key) || new Set()
    seen.add(m.partition)
    byKey.set(m.key, seen)
  }
  for (const [key, parts] of byKey) if (parts.size !== 1) throw new Error(`key ${key} on partitions ${[...parts]}`)
  if (first.some(m => !m.headers['correlation-id'])) throw new Error('a header was lost')

  await producer.send({ topic, acks: -1, messages: [...Array(10).keys()].map(i => ({ value: `late-${i}` })) })
  await producer.disconnect()
  const second = await consumeGroup(10)
  const late = second.map(m => m.value).sort()
  const wanted = [...Array(10).keys()].map(i => `late-${i}`).sort()
  if (JSON.stringify(late) !== JSON.stringify(wanted)) throw new Error(`resumed with ${JSON.stringify(late)}`)

  const committed = await admin.fetchOffsets({ groupId, topics: [topic] })
  const total = committed[0].partitions.reduce((n, p) => n + Number(p.offset), 0)
  if (total !== 1010) throw new Error(`committed ${JSON.stringify(committed)}`)
  const ends = await admin.fetchTopicOffsets(topic)
  const end = ends.reduce((n, p) => n + Number(p.high), 0)
  if (end !== 1010) throw new Error(`end offsets ${JSON.stringify(ends)}`)
  await admin.deleteTopics({ topics: [topic] })
  await admin.disconnect()
  console.log(`kafkajs OK: ${first.length} records in a group, resumed with ${second.length}, committed ${total}`)
}

within(120000, 'the whole smoke test', main()).then(
  () => process.exit(0),
  e => { console.error('kafkajs smoke failed:', e); process.exit(1) })
