import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.AppInfoParser;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;

/**
 * Smoke test of the Apache Kafka Java client against a running Ferrolog broker:
 * admin, producers (idempotent with every codec, acks=1), consumer groups,
 * replay by offset and timestamp, a refused transactional producer, an
 * oversized record. Prints one PASS/FAIL line per step; exits non-zero on any FAIL.
 *
 * Not run in CI: the machines this is built on cannot reach Maven Central.
 * `tools/java/run` runs it (and Smoke2) against a fresh broker, given the
 * client's jars; docs/COMPATIBILITY.md records the last run.
 */
public class Smoke extends Probe {
    static final String ADMIN_TOPIC = "smoke-admin-" + RUN;
    static final String DATA_TOPIC = "smoke-data-" + RUN;
    static final String SMALL_TOPIC = "smoke-small-" + RUN;
    static final String G1 = "smoke-g1-" + RUN, G2 = "smoke-g2-" + RUN;
    static final int PARTS = 3;

    /** what was produced: partition -> offset -> record */
    static final Map<Integer, TreeMap<Long, Sent>> SENT = new TreeMap<>();
    static int totalSent = 0;

    record Sent(byte[] key, byte[] value, Header[] headers, long timestamp, String codec) {}

    static Set<TopicPartition> dataPartitions() {
        Set<TopicPartition> s = new HashSet<>();
        for (int i = 0; i < PARTS; i++) s.add(new TopicPartition(DATA_TOPIC, i));
        return s;
    }

    /** produce n records to DATA_TOPIC, remember them, check offsets of this run are dense per partition */
    static String produce(Properties props, String codec, int n) throws Exception {
        Random rnd = new Random(codec.hashCode());
        Map<Integer, List<Long>> offs = new TreeMap<>();
        List<Future<RecordMetadata>> futs = new ArrayList<>();
        List<Sent> recs = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(props)) {
            for (int i = 0; i < n; i++) {
                byte[] key = ("key-" + codec + "-" + (i % 97)).getBytes(StandardCharsets.UTF_8);
                byte[] value = new byte[rnd.nextInt(300)];
                // compressible but not trivial: mix of text and random bytes
                for (int j = 0; j < value.length; j++) value[j] = (j % 3 == 0) ? (byte) rnd.nextInt(256) : (byte) ('a' + (j % 26));
                Header[] hs = new Header[] {
                    new RecordHeader("codec", codec.getBytes(StandardCharsets.UTF_8)),
                    new RecordHeader("idx", Integer.toString(i).getBytes(StandardCharsets.UTF_8)),
                    new RecordHeader("bin", new byte[] {0, (byte) 0xff, (byte) i, 10, 13}),
                    new RecordHeader("nullval", null)
                };
                ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(DATA_TOPIC, null, null, key, value, Arrays.asList(hs));
                futs.add(p.send(r));
                recs.add(new Sent(key, value, hs, 0, codec));
            }
            p.flush();
            for (int i = 0; i < n; i++) {
                RecordMetadata md = futs.get(i).get(30, TimeUnit.SECONDS);
                offs.computeIfAbsent(md.partition(), k -> new ArrayList<>()).add(md.offset());
                Sent s = recs.get(i);
                Sent prev = SENT.computeIfAbsent(md.partition(), k -> new TreeMap<>())
                        .put(md.offset(), new Sent(s.key, s.value, s.headers, md.timestamp(), codec));
                check(prev == null, "offset " + md.partition() + "/" + md.offset() + " returned twice");
                totalSent++;
            }
        }
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<Integer, List<Long>> e : offs.entrySet()) {
            List<Long> l = new ArrayList<>(e.getValue());
            Collections.sort(l);
            for (int i = 1; i < l.size(); i++)
                check(l.get(i) == l.get(i - 1) + 1, "offsets not dense in partition " + e.getKey() + ": " + l.get(i - 1) + " then " + l.get(i));
            sb.append("p").append(e.getKey()).append("=[").append(l.get(0)).append("..").append(l.get(l.size() - 1)).append("] ");
        }
        return n + " records, " + sb;
    }

    static String verify(ConsumerRecord<byte[], byte[]> r) {
        TreeMap<Long, Sent> m = SENT.get(r.partition());
        Sent s = m == null ? null : m.get(r.offset());
        if (s == null) return "unexpected record " + r.partition() + "/" + r.offset();
        if (!Arrays.equals(s.key, r.key())) return "key mismatch at " + r.partition() + "/" + r.offset();
        if (!Arrays.equals(s.value, r.value())) return "value mismatch at " + r.partition() + "/" + r.offset();
        Header[] got = r.headers().toArray();
        if (got.length != s.headers.length) return "header count mismatch at " + r.partition() + "/" + r.offset() + ": " + got.length;
        for (int i = 0; i < got.length; i++) {
            if (!got[i].key().equals(s.headers[i].key()) || !Arrays.equals(got[i].value(), s.headers[i].value()))
                return "header " + i + " mismatch at " + r.partition() + "/" + r.offset();
        }
        if (r.timestamp() != s.timestamp) return "timestamp mismatch at " + r.partition() + "/" + r.offset() + ": " + r.timestamp() + " vs " + s.timestamp;
        if (r.timestampType() != org.apache.kafka.common.record.TimestampType.CREATE_TIME) return "timestamp type " + r.timestampType();
        return null;
    }

    /** poll until `want` records read or timeout; verifies each record; returns count */
    static int drain(KafkaConsumer<byte[], byte[]> c, int want, long timeoutMs, Set<String> seen) {
        long deadline = System.currentTimeMillis() + timeoutMs;
        int n = 0;
        while (n < want && System.currentTimeMillis() < deadline) {
            for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                String err = verify(r);
                check(err == null, err);
                check(seen.add(r.partition() + "/" + r.offset()), "duplicate " + r.partition() + "/" + r.offset());
                n++;
            }
        }
        return n;
    }

    public static void main(String[] args) throws Exception {
        BOOT = args.length > 0 ? args[0] : "127.0.0.1:9092";
        // This round's own column width and timeouts.
        nameWidth = 55;
        requestTimeoutMs = 10000;
        deliveryTimeoutMs = 20000;
        System.out.println("Kafka Java client " + AppInfoParser.getVersion() + " (" + AppInfoParser.getCommitId() + ") against " + BOOT + ", run " + RUN);
        Admin admin = Admin.create(adminProps());

        // ---------------------------------------------------------------- admin
        step("admin.createTopics (3 partitions x2, + small topic)", () -> {
            NewTopic small = new NewTopic(SMALL_TOPIC, 1, (short) 1).configs(Map.of("max.message.bytes", "10000"));
            CreateTopicsResult r = admin.createTopics(List.of(new NewTopic(ADMIN_TOPIC, PARTS, (short) 1),
                    new NewTopic(DATA_TOPIC, PARTS, (short) 1), small));
            r.all().get();
            return "ids=" + r.topicId(ADMIN_TOPIC).get() + " partitions=" + r.numPartitions(ADMIN_TOPIC).get() + " rf=" + r.replicationFactor(ADMIN_TOPIC).get();
        });
        step("admin.createTopics existing -> TopicExistsException", () -> {
            try {
                admin.createTopics(List.of(new NewTopic(ADMIN_TOPIC, PARTS, (short) 1))).all().get();
                throw new AssertionError("no error");
            } catch (ExecutionException e) {
                check(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException, "got " + e.getCause());
                return e.getCause().getClass().getSimpleName();
            }
        });
        step("admin.listTopics", () -> {
            Set<String> names = admin.listTopics().names().get();
            check(names.contains(ADMIN_TOPIC) && names.contains(DATA_TOPIC), "missing topics: " + names);
            return names.size() + " topics";
        });
        step("admin.describeTopics", () -> {
            TopicDescription d = admin.describeTopics(List.of(ADMIN_TOPIC)).allTopicNames().get().get(ADMIN_TOPIC);
            check(d.partitions().size() == PARTS, "partitions " + d.partitions().size());
            for (TopicPartitionInfo pi : d.partitions())
                check(pi.leader() != null && pi.replicas().size() == 1 && pi.isr().size() == 1, "bad partition info " + pi);
            // also by id
            TopicDescription byId = admin.describeTopics(TopicCollection.ofTopicIds(List.of(d.topicId()))).allTopicIds().get().get(d.topicId());
            check(byId.name().equals(ADMIN_TOPIC), "by id name " + byId.name());
            return "id=" + d.topicId() + " leader=" + d.partitions().get(0).leader() + " (by id ok)";
        });
        step("admin.describeCluster", () -> {
            DescribeClusterResult r = admin.describeCluster();
            Collection<Node> nodes = r.nodes().get();
            Node ctl = r.controller().get();
            String id = r.clusterId().get();
            check(nodes.size() == 1 && ctl != null && id != null, "nodes=" + nodes + " controller=" + ctl + " id=" + id);
            return "clusterId=" + id + " nodes=" + nodes + " controller=" + ctl.id();
        });
        ConfigResource adminRes = new ConfigResource(ConfigResource.Type.TOPIC, ADMIN_TOPIC);
        step("admin.describeConfigs(topic)", () -> {
            Config c = admin.describeConfigs(List.of(adminRes)).all().get().get(adminRes);
            ConfigEntry e = c.get("retention.ms");
            check(e != null, "no retention.ms in " + c.entries());
            return c.entries().size() + " entries, retention.ms=" + e.value() + " source=" + e.source();
        });
        step("admin.describeConfigs(broker)", () -> {
            ConfigResource br = new ConfigResource(ConfigResource.Type.BROKER, "1");
            Config c = admin.describeConfigs(List.of(br)).all().get().get(br);
            return c.entries().size() + " entries";
        });
        step("admin.incrementalAlterConfigs retention.ms", () -> {
            admin.incrementalAlterConfigs(Map.of(adminRes, List.of(new AlterConfigOp(new ConfigEntry("retention.ms", "3600000"), AlterConfigOp.OpType.SET)))).all().get();
            ConfigEntry e = admin.describeConfigs(List.of(adminRes)).all().get().get(adminRes).get("retention.ms");
            check("3600000".equals(e.value()), "value after alter " + e.value());
            check(e.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "source " + e.source());
            return "retention.ms=" + e.value() + " source=" + e.source();
        });
        step("admin.createPartitions 3 -> 5", () -> {
            admin.createPartitions(Map.of(ADMIN_TOPIC, NewPartitions.increaseTo(5))).all().get();
            int n = admin.describeTopics(List.of(ADMIN_TOPIC)).allTopicNames().get().get(ADMIN_TOPIC).partitions().size();
            check(n == 5, "partitions after " + n);
            return "now " + n;
        });
        // some records on ADMIN_TOPIC p0 with known timestamps for deleteRecords / listOffsets
        long baseTs = System.currentTimeMillis() - 100_000;
        step("produce 10 records with explicit timestamps to admin topic p0", () -> {
            Properties pp = producerProps();
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(pp)) {
                for (int i = 0; i < 10; i++) {
                    RecordMetadata md = p.send(new ProducerRecord<>(ADMIN_TOPIC, 0, baseTs + i * 1000L, null, ("v" + i).getBytes())).get(30, TimeUnit.SECONDS);
                    check(md.offset() == i, "offset " + md.offset() + " for record " + i);
                }
            }
            return "offsets 0..9";
        });
        TopicPartition ap0 = new TopicPartition(ADMIN_TOPIC, 0);
        step("admin.listOffsets earliest/latest/forTimestamp/maxTimestamp", () -> {
            long e = admin.listOffsets(Map.of(ap0, OffsetSpec.earliest())).partitionResult(ap0).get().offset();
            long l = admin.listOffsets(Map.of(ap0, OffsetSpec.latest())).partitionResult(ap0).get().offset();
            ListOffsetsResult.ListOffsetsResultInfo t = admin.listOffsets(Map.of(ap0, OffsetSpec.forTimestamp(baseTs + 4500))).partitionResult(ap0).get();
            ListOffsetsResult.ListOffsetsResultInfo none = admin.listOffsets(Map.of(ap0, OffsetSpec.forTimestamp(baseTs + 999_999))).partitionResult(ap0).get();
            ListOffsetsResult.ListOffsetsResultInfo mx = admin.listOffsets(Map.of(ap0, OffsetSpec.maxTimestamp())).partitionResult(ap0).get();
            String s = "earliest=" + e + " latest=" + l + " forTs(+4500)=" + t.offset() + "@" + (t.timestamp() - baseTs)
                    + " forTs(future)=" + none.offset() + " maxTs=" + mx.offset() + "@" + (mx.timestamp() - baseTs);
            check(e == 0 && l == 10 && t.offset() == 5 && t.timestamp() == baseTs + 5000 && none.offset() == -1 && mx.offset() == 9, s);
            return s;
        });
        TopicPartition ap1 = new TopicPartition(ADMIN_TOPIC, 1);
        step("admin.listOffsets forTimestamp/maxTimestamp inside one gzip batch", () -> {
            // one gzip batch on p1, offsets 0..3, timestamps base+{10,40,20,30}: the max is not the last record
            long[] ts = {10, 40, 20, 30};
            Properties pp = producerProps();
            pp.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "gzip");
            pp.put(ProducerConfig.LINGER_MS_CONFIG, 500);
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(pp)) {
                List<Future<RecordMetadata>> fs = new ArrayList<>();
                for (long t : ts) fs.add(p.send(new ProducerRecord<>(ADMIN_TOPIC, 1, baseTs + t, null, ("t" + t).getBytes())));
                p.flush();
                for (int i = 0; i < ts.length; i++) check(fs.get(i).get().offset() == i, "offset " + fs.get(i).get().offset());
            }
            ListOffsetsResult.ListOffsetsResultInfo f = admin.listOffsets(Map.of(ap1, OffsetSpec.forTimestamp(baseTs + 15))).partitionResult(ap1).get();
            ListOffsetsResult.ListOffsetsResultInfo mx = admin.listOffsets(Map.of(ap1, OffsetSpec.maxTimestamp())).partitionResult(ap1).get();
            String s = "records ts=+{10,40,20,30} at offsets 0..3 in one gzip batch; forTimestamp(+15) -> offset " + f.offset() + " ts +" + (f.timestamp() - baseTs)
                    + " (Kafka: offset 1 ts +40); maxTimestamp -> offset " + mx.offset() + " ts +" + (mx.timestamp() - baseTs) + " (Kafka: offset 1 ts +40)";
            check(f.offset() == 1 && f.timestamp() == baseTs + 40 && mx.offset() == 1 && mx.timestamp() == baseTs + 40, s);
            return s;
        });
        step("admin.deleteRecords p0 before 4", () -> {
            DeletedRecords d = admin.deleteRecords(Map.of(ap0, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(ap0).get();
            long e = admin.listOffsets(Map.of(ap0, OffsetSpec.earliest())).partitionResult(ap0).get().offset();
            check(d.lowWatermark() == 4 && e == 4, "lowWatermark=" + d.lowWatermark() + " earliest=" + e);
            return "lowWatermark=" + d.lowWatermark() + " earliest now " + e;
        });

        // ---------------------------------------------------------------- producer
        for (String codec : List.of("none", "gzip", "snappy", "lz4", "zstd")) {
            step("producer default (idempotent, acks=all) compression=" + codec, () -> {
                Properties p = producerProps();
                p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
                p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
                return produce(p, codec, 1000);
            });
        }
        step("producer acks=1 enable.idempotence=false", () -> {
            Properties p = producerProps();
            p.put(ProducerConfig.ACKS_CONFIG, "1");
            p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
            return produce(p, "acks1", 500);
        });
        step("produced offsets dense per partition over all producers", () -> {
            StringBuilder sb = new StringBuilder();
            for (Map.Entry<Integer, TreeMap<Long, Sent>> e : SENT.entrySet()) {
                TreeMap<Long, Sent> m = e.getValue();
                check(m.firstKey() == 0 && m.lastKey() == m.size() - 1, "partition " + e.getKey() + " offsets " + m.firstKey() + ".." + m.lastKey() + " count " + m.size());
                sb.append("p").append(e.getKey()).append(":").append(m.size()).append(" ");
            }
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends = admin.listOffsets(
                    dataPartitions().stream().collect(Collectors.toMap(tp -> tp, tp -> OffsetSpec.latest()))).all().get();
            for (Map.Entry<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> e : ends.entrySet()) {
                int sz = SENT.getOrDefault(e.getKey().partition(), new TreeMap<>()).size();
                check(e.getValue().offset() == sz, "end offset " + e.getKey() + " = " + e.getValue().offset() + " but produced " + sz);
            }
            return "total " + totalSent + ": " + sb + "(end offsets match)";
        });

        // ---------------------------------------------------------------- consumer
        step("consumer group " + "g1 subscribe+poll all, verify bytes, commitSync", () -> {
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(G1))) {
                c.subscribe(List.of(DATA_TOPIC));
                Set<String> seen = new HashSet<>();
                int n = drain(c, totalSent, 60_000, seen);
                check(n == totalSent, "read " + n + " of " + totalSent);
                c.commitSync();
                Map<TopicPartition, OffsetAndMetadata> com = c.committed(dataPartitions());
                for (TopicPartition tp : dataPartitions())
                    check(com.get(tp) != null && com.get(tp).offset() == SENT.get(tp.partition()).size(), "committed " + tp + " = " + com.get(tp));
                return "read " + n + " records byte-identical (key, value, 4 headers, timestamp); assignment=" + c.assignment().size() + " partitions; committed=" + com.values().stream().map(OffsetAndMetadata::offset).collect(Collectors.toList());
            }
        });
        step("consumer g1 second member resumes from commit (reads nothing)", () -> {
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(G1))) {
                c.subscribe(List.of(DATA_TOPIC));
                long deadline = System.currentTimeMillis() + 8000;
                int n = 0;
                while (System.currentTimeMillis() < deadline) n += c.poll(Duration.ofMillis(500)).count();
                check(c.assignment().size() == PARTS, "assignment " + c.assignment());
                check(n == 0, "read " + n + " records after commit");
                StringBuilder sb = new StringBuilder();
                for (TopicPartition tp : c.assignment()) {
                    long pos = c.position(tp);
                    check(pos == SENT.get(tp.partition()).size(), "position " + tp + " = " + pos);
                    sb.append(pos).append(" ");
                }
                return "0 records in 8 s, positions " + sb;
            }
        });
        step("two concurrent consumers in g2 split partitions", () -> {
            ExecutorService ex = Executors.newFixedThreadPool(2);
            AtomicBoolean stop = new AtomicBoolean();
            ConcurrentHashMap<String, Boolean> seen = new ConcurrentHashMap<>();
            List<Set<TopicPartition>> assigns = Collections.synchronizedList(new ArrayList<>(List.of(Set.of(), Set.of())));
            List<String> errs = Collections.synchronizedList(new ArrayList<>());
            int[] counts = new int[2];
            List<Future<?>> fs = new ArrayList<>();
            for (int w = 0; w < 2; w++) {
                final int id = w;
                fs.add(ex.submit(() -> {
                    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(G2))) {
                        c.subscribe(List.of(DATA_TOPIC));
                        while (!stop.get()) {
                            for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                                String err = verify(r);
                                if (err != null) errs.add(err);
                                seen.put(r.partition() + "/" + r.offset(), true);
                                counts[id]++;
                            }
                            assigns.set(id, new HashSet<>(c.assignment()));
                            c.commitAsync();
                        }
                        assigns.set(id, new HashSet<>(c.assignment()));
                        try { c.commitSync(); } catch (Exception e) { errs.add("commitSync " + e); }
                    } catch (Throwable t) {
                        errs.add(describe(t));
                    }
                }));
                if (w == 0) Thread.sleep(300);
            }
            long deadline = System.currentTimeMillis() + 60_000;
            while (System.currentTimeMillis() < deadline) {
                Set<TopicPartition> a = assigns.get(0), b = assigns.get(1);
                if (seen.size() >= totalSent && !a.isEmpty() && !b.isEmpty()) break;
                Thread.sleep(200);
            }
            Thread.sleep(1000);
            Set<TopicPartition> a = new HashSet<>(assigns.get(0)), b = new HashSet<>(assigns.get(1));
            stop.set(true);
            for (Future<?> f : fs) f.get(30, TimeUnit.SECONDS);
            ex.shutdown();
            check(errs.isEmpty(), "errors: " + errs);
            Set<TopicPartition> inter = new HashSet<>(a);
            inter.retainAll(b);
            Set<TopicPartition> union = new HashSet<>(a);
            union.addAll(b);
            String s = "A=" + a.stream().map(TopicPartition::partition).sorted().collect(Collectors.toList())
                    + " B=" + b.stream().map(TopicPartition::partition).sorted().collect(Collectors.toList())
                    + " reads A=" + counts[0] + " B=" + counts[1] + " distinct=" + seen.size();
            check(!a.isEmpty() && !b.isEmpty() && inter.isEmpty() && union.equals(dataPartitions()), "bad split " + s);
            check(seen.size() == totalSent, "distinct records " + seen.size() + " of " + totalSent + "; " + s);
            return s;
        });
        step("consumer assign + seekToBeginning / seek / offsetsForTimes replay", () -> {
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(null))) {
                TopicPartition tp = new TopicPartition(DATA_TOPIC, 0);
                c.assign(List.of(tp));
                c.seekToBeginning(List.of(tp));
                ConsumerRecord<byte[], byte[]> first = pollOne(c);
                check(first.offset() == 0, "seekToBeginning gave " + first.offset());
                check(verify(first) == null, verify(first));
                long mid = SENT.get(0).size() / 2;
                c.seek(tp, mid);
                ConsumerRecord<byte[], byte[]> m = pollOne(c);
                check(m.offset() == mid && verify(m) == null, "seek(" + mid + ") gave " + m.offset());
                // offsetsForTimes: target = timestamp of a record in the middle; expected = first offset with ts >= target
                StringBuilder sb = new StringBuilder("seekToBeginning->0, seek(" + mid + ")->" + m.offset());
                List<String> inexact = new ArrayList<>();
                for (long probe : new long[] {1, SENT.get(0).size() / 3, mid + 7, SENT.get(0).size() - 2}) {
                    long target = SENT.get(0).get(probe).timestamp;
                    long expected = -1;
                    for (Map.Entry<Long, Sent> e : SENT.get(0).entrySet()) if (e.getValue().timestamp >= target) { expected = e.getKey(); break; }
                    OffsetAndTimestamp ot = c.offsetsForTimes(Map.of(tp, target)).get(tp);
                    check(ot != null, "offsetsForTimes null for " + target);
                    c.seek(tp, ot.offset());
                    ConsumerRecord<byte[], byte[]> r = pollOne(c);
                    check(r.offset() == ot.offset(), "after seek to " + ot.offset() + " got " + r.offset());
                    String codec = SENT.get(0).get(expected).codec;
                    sb.append("; ts(off ").append(probe).append(",").append(codec).append(")->").append(ot.offset()).append(" expected ").append(expected);
                    if (ot.offset() != expected) inexact.add("probe offset " + probe + " (" + codec + "): got " + ot.offset() + " ts " + ot.timestamp() + ", Kafka would give " + expected + " ts " + SENT.get(0).get(expected).timestamp);
                    check(ot.offset() <= expected, "offsetsForTimes beyond first match: " + ot.offset() + " > " + expected);
                }
                Map<TopicPartition, OffsetAndTimestamp> fut = c.offsetsForTimes(Map.of(tp, System.currentTimeMillis() + 3_600_000L));
                check(fut.get(tp) == null, "future timestamp gave " + fut.get(tp));
                sb.append("; future ts -> null");
                check(inexact.isEmpty(), "offsetsForTimes not exact: " + inexact + " | " + sb);
                return sb.toString();
            }
        });
        step("consumer group.protocol default is classic", () -> {
            ConsumerConfig cc = new ConsumerConfig(consumerProps(G1));
            String proto = cc.getString(ConsumerConfig.GROUP_PROTOCOL_CONFIG);
            check("classic".equalsIgnoreCase(proto), "default group.protocol " + proto);
            return "group.protocol=" + proto + " (all consumer steps above used it)";
        });
        step("consumer group.protocol=consumer (KIP-848) fails cleanly", () -> {
            Properties p = consumerProps("smoke-g3-" + RUN);
            p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
                c.subscribe(List.of(DATA_TOPIC));
                long deadline = System.currentTimeMillis() + 10_000;
                int n = 0;
                try {
                    while (System.currentTimeMillis() < deadline) n += c.poll(Duration.ofMillis(500)).count();
                } catch (Exception e) {
                    return "poll threw " + describe(e) + " (expected: broker has no ConsumerGroupHeartbeat)";
                }
                return "no exception in 10 s, read " + n + " (informational)";
            }
        });

        // ---------------------------------------------------------------- admin group ops
        step("admin.listConsumerGroups", () -> {
            Collection<ConsumerGroupListing> l = admin.listConsumerGroups().all().get();
            Set<String> ids = l.stream().map(ConsumerGroupListing::groupId).collect(Collectors.toSet());
            check(ids.contains(G1) && ids.contains(G2), "groups " + ids);
            return l.stream().filter(g -> g.groupId().equals(G1) || g.groupId().equals(G2))
                    .map(g -> g.groupId() + ":" + g.state().orElse(null) + ":" + g.type().orElse(null)).collect(Collectors.toList()).toString();
        });
        step("admin.describeConsumerGroups", () -> {
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(G1)).all().get().get(G1);
            check(d.state() == ConsumerGroupState.EMPTY, "state " + d.state());
            return "state=" + d.state() + " members=" + d.members().size() + " coordinator=" + d.coordinator() + " type=" + d.type() + " assignor=" + d.partitionAssignor();
        });
        step("admin.listConsumerGroupOffsets", () -> {
            Map<TopicPartition, OffsetAndMetadata> m = admin.listConsumerGroupOffsets(G1).partitionsToOffsetAndMetadata().get();
            for (TopicPartition tp : dataPartitions())
                check(m.get(tp) != null && m.get(tp).offset() == SENT.get(tp.partition()).size(), tp + " -> " + m.get(tp));
            return new TreeMap<>(m.entrySet().stream().collect(Collectors.toMap(e -> e.getKey().partition(), e -> e.getValue().offset()))).toString();
        });

        // ---------------------------------------------------------------- transactions, too large
        step("transactional producer initTransactions fails fast", () -> {
            Properties p = producerProps();
            p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "smoke-tx-" + RUN);
            long t0 = System.nanoTime();
            try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(p)) {
                try {
                    pr.initTransactions();
                } catch (Exception e) {
                    long ms = (System.nanoTime() - t0) / 1_000_000;
                    check(ms < 10_000, "took " + ms + " ms: " + describe(e));
                    check(e instanceof org.apache.kafka.common.errors.TransactionalIdAuthorizationException, "type " + describe(e));
                    return "after " + ms + " ms: " + describe(e);
                }
                throw new AssertionError("initTransactions succeeded");
            }
        });
        step("record > topic max.message.bytes -> RecordTooLargeException", () -> {
            try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(producerProps())) {
                String refused = refusedWith(org.apache.kafka.common.errors.RecordTooLargeException.class, () ->
                    "accepted at offset " + pr.send(new ProducerRecord<>(SMALL_TOPIC, new byte[50_000])).get(40, TimeUnit.SECONDS).offset());
                // a small record still works afterwards
                RecordMetadata ok = pr.send(new ProducerRecord<>(SMALL_TOPIC, new byte[100])).get(30, TimeUnit.SECONDS);
                return refused + "; small record then at offset " + ok.offset();
            }
        });

        // ---------------------------------------------------------------- cleanup
        step("admin.deleteTopics", () -> {
            admin.deleteTopics(List.of(ADMIN_TOPIC, DATA_TOPIC, SMALL_TOPIC)).all().get();
            Set<String> names = admin.listTopics().names().get();
            check(!names.contains(ADMIN_TOPIC) && !names.contains(DATA_TOPIC) && !names.contains(SMALL_TOPIC), "still listed: " + names);
            return "gone from listTopics";
        });
        admin.close(Duration.ofSeconds(5));

        System.out.println("\n==== SUMMARY: " + pass + " PASS, " + fail + " FAIL ====");
        for (String s : summary) System.out.println(s.length() > 160 ? s.substring(0, 160) + "..." : s);
        System.exit(fail == 0 ? 0 : 1);
    }

    static ConsumerRecord<byte[], byte[]> pollOne(KafkaConsumer<byte[], byte[]> c) {
        long deadline = System.currentTimeMillis() + 15_000;
        while (System.currentTimeMillis() < deadline) {
            ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(500));
            if (!rs.isEmpty()) return rs.iterator().next();
        }
        throw new AssertionError("no record within 15 s");
    }
}
