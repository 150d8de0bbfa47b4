import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.AppInfoParser;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
import java.util.stream.Collectors;

/**
 * Second round of probes of the Apache Kafka Java client against a Ferrolog broker.
 * Usage: java Smoke2 main host:port
 *        java Smoke2 restart host:port KILL|TERM markerFile eventsFile
 *   (restart mode: produce continuously, write markerFile after the first ack so the harness
 *    can kill/restart the broker; eventsFile holds the harness's "kill <ms>" / "up <ms>" lines)
 */
public class Smoke2 extends Probe {
    static Admin admin;

    static void createTopic(String name, int parts, Map<String, String> configs) throws Exception {
        NewTopic nt = new NewTopic(name, parts, (short) 1);
        if (configs != null) nt.configs(configs);
        admin.createTopics(List.of(nt)).all().get();
        // wait until metadata shows it
        long deadline = now() + 10_000;
        while (now() < deadline) {
            try {
                TopicDescription d = admin.describeTopics(List.of(name)).allTopicNames().get().get(name);
                if (d.partitions().size() == parts) return;
            } catch (ExecutionException ignored) { }
            Thread.sleep(100);
        }
        throw new AssertionError("topic " + name + " not visible");
    }

    static List<TopicPartition> tps(String topic, int n) {
        List<TopicPartition> l = new ArrayList<>();
        for (int i = 0; i < n; i++) l.add(new TopicPartition(topic, i));
        return l;
    }

    static Map<Integer, Long> byPart(Map<TopicPartition, ?> m) {
        TreeMap<Integer, Long> r = new TreeMap<>();
        for (Map.Entry<TopicPartition, ?> e : m.entrySet()) {
            Object v = e.getValue();
            long o = v instanceof OffsetAndMetadata ? ((OffsetAndMetadata) v).offset()
                    : v instanceof ListOffsetsResult.ListOffsetsResultInfo ? ((ListOffsetsResult.ListOffsetsResultInfo) v).offset()
                    : v == null ? -999 : ((Number) v).longValue();
            r.put(e.getKey().partition(), o);
        }
        return r;
    }

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        BOOT = args[1];
        System.out.println("Kafka Java client " + AppInfoParser.getVersion() + " (" + AppInfoParser.getCommitId() + ") against " + BOOT + ", run " + RUN + ", mode " + mode);
        admin = Admin.create(adminProps());
        if (mode.equals("main")) {
            headersProbe();
            largeRecordProbe();
            unsupportedAdminProbe();
            groupAdminProbe();
            groupAdminExtras();
            consumerProbe();
        } else if (mode.equals("restart")) {
            restartProbe(args[2], Path.of(args[3]), Path.of(args[4]));
        } else throw new IllegalArgumentException(mode);
        admin.close(Duration.ofSeconds(5));
        System.out.println("\n==== SUMMARY (" + mode + (args.length > 2 ? " " + args[2] : "") + "): " + pass + " PASS, " + fail + " FAIL ====");
        for (String s : summary) System.out.println(s.length() > 200 ? s.substring(0, 200) + "..." : s);
        System.out.flush();
        Runtime.getRuntime().halt(fail == 0 ? 0 : 1);
    }

    // =====================================================================================
    // 6. headers
    static void headersProbe() {
        String topic = "s2-headers-" + RUN;
        step("6 headers: 100 headers + empty/null values + unicode keys round-trip", () -> {
            createTopic(topic, 1, null);
            List<Header> hs = new ArrayList<>();
            Random rnd = new Random(6);
            for (int i = 0; i < 100; i++) {
                byte[] v = new byte[rnd.nextInt(40)];
                rnd.nextBytes(v);
                hs.add(new RecordHeader(String.format("h%03d", i), v));
            }
            hs.add(new RecordHeader("empty", new byte[0]));
            hs.add(new RecordHeader("null", (byte[]) null));
            hs.add(new RecordHeader("ключ", "значение".getBytes(StandardCharsets.UTF_8)));
            hs.add(new RecordHeader("键", "值".getBytes(StandardCharsets.UTF_8)));
            hs.add(new RecordHeader("🔑key", "🗝".getBytes(StandardCharsets.UTF_8)));
            hs.add(new RecordHeader("é-nfc", new byte[]{1}));
            hs.add(new RecordHeader("e\u0301-nfd", new byte[]{2}));
            hs.add(new RecordHeader("", "empty-key".getBytes(StandardCharsets.UTF_8)));
            hs.add(new RecordHeader("dup", new byte[]{1}));
            hs.add(new RecordHeader("dup", new byte[]{2}));
            hs.add(new RecordHeader("null2", (byte[]) null));
            hs.add(new RecordHeader("empty2", new byte[0]));
            byte[] value = "headers-record".getBytes(StandardCharsets.UTF_8);
            long off;
            try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(producerProps())) {
                off = pr.send(new ProducerRecord<>(topic, 0, null, "k".getBytes(), value, hs)).get(30, TimeUnit.SECONDS).offset();
                // a second record with headers and null key/value
                pr.send(new ProducerRecord<>(topic, 0, null, null, null, List.of(new RecordHeader("only", (byte[]) null)))).get(30, TimeUnit.SECONDS);
            }
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(null))) {
                TopicPartition tp = new TopicPartition(topic, 0);
                c.assign(List.of(tp));
                c.seek(tp, off);
                List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
                long deadline = now() + 15_000;
                while (got.size() < 2 && now() < deadline) c.poll(Duration.ofMillis(300)).forEach(got::add);
                check(got.size() >= 2, "read " + got.size() + " records");
                Header[] back = got.get(0).headers().toArray();
                check(back.length == hs.size(), "header count " + back.length + " != " + hs.size());
                int nulls = 0, empties = 0;
                for (int i = 0; i < hs.size(); i++) {
                    Header a = hs.get(i), b = back[i];
                    check(a.key().equals(b.key()), "header " + i + " key '" + b.key() + "' != '" + a.key() + "'");
                    if (a.value() == null) {
                        check(b.value() == null, "header " + a.key() + ": null value came back as " + (b.value() == null ? "null" : b.value().length + " bytes"));
                        nulls++;
                    } else {
                        check(b.value() != null, "header " + a.key() + ": value came back null, sent " + a.value().length + " bytes");
                        check(Arrays.equals(a.value(), b.value()), "header " + a.key() + " value differs");
                        if (a.value().length == 0) empties++;
                    }
                }
                check(Arrays.equals(got.get(0).value(), value), "value differs");
                ConsumerRecord<byte[], byte[]> r2 = got.get(1);
                check(r2.key() == null && r2.value() == null, "2nd record key/value not null");
                Header[] h2 = r2.headers().toArray();
                check(h2.length == 1 && h2[0].key().equals("only") && h2[0].value() == null, "2nd record headers " + Arrays.toString(h2));
                return hs.size() + " headers identical in order (" + nulls + " null values, " + empties + " empty, unicode/NFD/empty/duplicate keys); null key+value record with a null header ok";
            }
        });
    }

    // =====================================================================================
    // 5. large record
    static void largeRecordProbe() {
        String topic = "s2-big-" + RUN;
        step("5 4 MiB record, topic max.message.bytes=5 MiB, round-trips", () -> {
            createTopic(topic, 1, Map.of("max.message.bytes", Integer.toString(5 * 1024 * 1024)));
            Properties pp = producerProps();
            pp.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 16 * 1024 * 1024);
            byte[] big = new byte[4 * 1024 * 1024];
            new Random(5).nextBytes(big);
            byte[] big2 = new byte[4 * 1024 * 1024];   // compressible variant (zstd producer)
            for (int i = 0; i < big2.length; i++) big2[i] = (byte) ("claim-check ".charAt(i % 12) + (i / 4096 % 7));
            long off1, off2, t1, t2;
            long t0 = System.nanoTime();
            try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(pp)) {
                off1 = pr.send(new ProducerRecord<>(topic, 0, "big".getBytes(), big)).get(40, TimeUnit.SECONDS).offset();
                t1 = (System.nanoTime() - t0) / 1_000_000;
            }
            pp.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "zstd");
            t0 = System.nanoTime();
            try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(pp)) {
                off2 = pr.send(new ProducerRecord<>(topic, 0, "big-zstd".getBytes(), big2)).get(40, TimeUnit.SECONDS).offset();
                t2 = (System.nanoTime() - t0) / 1_000_000;
            }
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(null))) {   // default max.partition.fetch.bytes = 1 MiB
                TopicPartition tp = new TopicPartition(topic, 0);
                c.assign(List.of(tp));
                c.seek(tp, off1);
                List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
                long deadline = now() + 20_000;
                while (got.size() < 2 && now() < deadline) c.poll(Duration.ofMillis(500)).forEach(got::add);
                check(got.size() == 2, "read " + got.size() + " records");
                check(got.get(0).offset() == off1 && Arrays.equals(got.get(0).value(), big), "uncompressed 4 MiB value differs (len " + got.get(0).value().length + ")");
                check(got.get(1).offset() == off2 && Arrays.equals(got.get(1).value(), big2), "zstd 4 MiB value differs");
                MessageDigest md = MessageDigest.getInstance("SHA-256");
                String h = HexFormat.of().formatHex(md.digest(got.get(0).value())).substring(0, 16);
                return "offsets " + off1 + "," + off2 + " byte-identical (sha256 " + h + "...); produce none " + t1 + " ms, zstd " + t2 + " ms; fetched with default max.partition.fetch.bytes=1 MiB";
            }
        });
        step("5b 6 MiB record to that topic -> RecordTooLargeException", () -> {
            Properties pp = producerProps();
            pp.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 16 * 1024 * 1024);
            try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(pp)) {
                return refusedWith(org.apache.kafka.common.errors.RecordTooLargeException.class, () ->
                    "accepted at offset " + pr.send(new ProducerRecord<>(topic, 0, null, new byte[6 * 1024 * 1024])).get(40, TimeUnit.SECONDS).offset());
            }
        });
    }

    // =====================================================================================
    // 2. admin APIs Ferrolog may not serve
    static void unsupportedAdminProbe() throws Exception {
        String topic = "s2-admin-" + RUN;
        createTopic(topic, 1, null);
        TopicPartition tp = new TopicPartition(topic, 0);
        adminCall("describeFeatures", () -> admin.describeFeatures().featureMetadata().get().toString());
        adminCall("describeLogDirs", () -> admin.describeLogDirs(List.of(1)).allDescriptions().get().toString());
        adminCall("describeProducers", () -> admin.describeProducers(List.of(tp)).all().get().toString());
        adminCall("listTransactions", () -> admin.listTransactions().all().get().toString());
        adminCall("describeTransactions", () -> admin.describeTransactions(List.of("s2-tx")).all().get().toString());
        adminCall("describeAcls", () -> admin.describeAcls(AclBindingFilter.ANY).values().get().toString());
        adminCall("electLeaders", () -> admin.electLeaders(ElectionType.PREFERRED, Set.of(tp)).partitions().get().toString());
        adminCall("alterPartitionReassignments", () -> { admin.alterPartitionReassignments(Map.of(tp, Optional.of(new NewPartitionReassignment(List.of(1))))).all().get(); return "ok"; });
        adminCall("listPartitionReassignments", () -> admin.listPartitionReassignments().reassignments().get().toString());
        adminCall("describeUserScramCredentials", () -> admin.describeUserScramCredentials().all().get().toString());
        adminCall("describeClientQuotas", () -> admin.describeClientQuotas(ClientQuotaFilter.all()).entities().get().toString());
        adminCall("describeMetadataQuorum", () -> admin.describeMetadataQuorum().quorumInfo().get().toString());
        step("2 admin still usable after the unsupported calls", () -> admin.describeCluster().clusterId().get(10, TimeUnit.SECONDS));
    }

    static void adminCall(String name, Body body) {
        step("2 admin." + name + " answers promptly", () -> {
            long t0 = System.nanoTime();
            try {
                String r = body.run();
                long ms = (System.nanoTime() - t0) / 1_000_000;
                check(ms < 5000, "succeeded but took " + ms + " ms");
                return "SUCCEEDED in " + ms + " ms: " + (r.length() > 150 ? r.substring(0, 150) + "..." : r);
            } catch (ExecutionException | CompletionException e) {
                long ms = (System.nanoTime() - t0) / 1_000_000;
                Throwable c = unwrap(e);
                check(!(c instanceof org.apache.kafka.common.errors.TimeoutException), "hung until timeout: " + ms + " ms " + describe(c));
                check(ms < 5000, "failed but only after " + ms + " ms: " + describe(c));
                return "failed in " + ms + " ms with " + describe(c);
            }
        });
    }

    // =====================================================================================
    // 1. consumer-group administration
    static KafkaConsumer<byte[], byte[]> activeMember;

    record Read(Map<Integer, Long> first, Map<Integer, Long> positions, int count) {}

    /** a new member of group reads topic (3 partitions) to the end offsets; returns first offset per partition */
    static Read memberRead(String group, String topic, int parts, Map<Integer, Long> expectedCommitted) {
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(group))) {
            c.subscribe(List.of(topic));
            Map<TopicPartition, Long> ends = admin.listOffsets(tps(topic, parts).stream().collect(Collectors.toMap(t -> t, t -> OffsetSpec.latest())))
                    .all().get().entrySet().stream().collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().offset()));
            TreeMap<Integer, Long> first = new TreeMap<>();
            int count = 0;
            long deadline = now() + 30_000;
            Map<Integer, Long> startPos = null;
            while (now() < deadline) {
                ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(200));
                for (ConsumerRecord<byte[], byte[]> r : rs) {
                    first.putIfAbsent(r.partition(), r.offset());
                    count++;
                }
                if (c.assignment().size() == parts) {
                    boolean done = true;
                    for (TopicPartition t : c.assignment()) if (c.position(t) < ends.get(t)) done = false;
                    if (done) {
                        // one more short poll to catch anything extra
                        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(300))) { first.putIfAbsent(r.partition(), r.offset()); count++; }
                        TreeMap<Integer, Long> pos = new TreeMap<>();
                        for (TopicPartition t : c.assignment()) pos.put(t.partition(), c.position(t));
                        return new Read(first, pos, count);
                    }
                }
            }
            throw new AssertionError("member did not reach the end in 30 s; assignment " + c.assignment() + " read " + count);
        } catch (ExecutionException | InterruptedException e) {
            throw new RuntimeException(e);
        }
    }

    static void groupAdminProbe() throws Exception {
        String topic = "s2-groups-" + RUN, g = "s2-ga-" + RUN;
        List<TopicPartition> parts = tps(topic, 3);
        long base = now() - 3_600_000L;   // record timestamps: base + 10*offset
        step("1.1 produce 300 to 3 partitions; group consumes all and commits", () -> {
            createTopic(topic, 3, null);
            try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(producerProps())) {
                List<Future<RecordMetadata>> fs = new ArrayList<>();
                for (int o = 0; o < 100; o++)
                    for (int p = 0; p < 3; p++)
                        fs.add(pr.send(new ProducerRecord<>(topic, p, base + 10L * o, ("k" + o).getBytes(), ("v" + p + "-" + o).getBytes())));
                for (Future<RecordMetadata> f : fs) f.get(30, TimeUnit.SECONDS);
            }
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(g))) {
                c.subscribe(List.of(topic));
                int n = 0;
                long deadline = now() + 30_000;
                while (n < 300 && now() < deadline) n += c.poll(Duration.ofMillis(200)).count();
                check(n == 300, "read " + n);
                c.commitSync();
            }
            Map<Integer, Long> com = byPart(admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get());
            check(com.equals(Map.of(0, 100L, 1, 100L, 2, 100L)), "committed " + com);
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(g)).all().get().get(g);
            check(d.state() == ConsumerGroupState.EMPTY, "state after close " + d.state());
            return "committed " + com + ", group " + d.state();
        });
        step("1.2 alterConsumerGroupOffsets {p0:10,p1:50,p2:99}; new member starts there", () -> {
            Map<TopicPartition, OffsetAndMetadata> m = Map.of(parts.get(0), new OffsetAndMetadata(10), parts.get(1), new OffsetAndMetadata(50, "reset-by-test"), parts.get(2), new OffsetAndMetadata(99));
            admin.alterConsumerGroupOffsets(g, m).all().get();
            Map<TopicPartition, OffsetAndMetadata> back = admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get();
            check(byPart(back).equals(Map.of(0, 10L, 1, 50L, 2, 99L)), "listed " + byPart(back));
            check("reset-by-test".equals(back.get(parts.get(1)).metadata()), "metadata " + back.get(parts.get(1)).metadata());
            Read r = memberRead(g, topic, 3, null);
            check(r.first.equals(Map.of(0, 10L, 1, 50L, 2, 99L)), "first offsets read " + r.first);
            check(r.count == 90 + 50 + 1, "read " + r.count + " expected 141");
            return "listed " + byPart(back) + " (metadata kept); member first offsets " + r.first + " count " + r.count;
        });
        step("1.3 deleteRecords p1<20, reset to earliest via listOffsets", () -> {
            admin.deleteRecords(Map.of(parts.get(1), RecordsToDelete.beforeOffset(20))).all().get();
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> e = admin.listOffsets(parts.stream().collect(Collectors.toMap(t -> t, t -> OffsetSpec.earliest()))).all().get();
            check(byPart(e).equals(Map.of(0, 0L, 1, 20L, 2, 0L)), "earliest " + byPart(e));
            admin.alterConsumerGroupOffsets(g, e.entrySet().stream().collect(Collectors.toMap(Map.Entry::getKey, x -> new OffsetAndMetadata(x.getValue().offset())))).all().get();
            Map<Integer, Long> listed = byPart(admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get());
            check(listed.equals(Map.of(0, 0L, 1, 20L, 2, 0L)), "listed " + listed);
            Read r = memberRead(g, topic, 3, null);
            check(r.first.equals(Map.of(0, 0L, 1, 20L, 2, 0L)), "first offsets read " + r.first);
            check(r.count == 280, "read " + r.count);
            return "earliest " + byPart(e) + "; member first " + r.first + " count " + r.count;
        });
        step("1.4 reset to latest via listOffsets; new member reads nothing", () -> {
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> e = admin.listOffsets(parts.stream().collect(Collectors.toMap(t -> t, t -> OffsetSpec.latest()))).all().get();
            admin.alterConsumerGroupOffsets(g, e.entrySet().stream().collect(Collectors.toMap(Map.Entry::getKey, x -> new OffsetAndMetadata(x.getValue().offset())))).all().get();
            Read r = memberRead(g, topic, 3, null);
            check(r.count == 0, "read " + r.count);
            check(r.positions.equals(Map.of(0, 100L, 1, 100L, 2, 100L)), "positions " + r.positions);
            return "latest " + byPart(e) + "; member positions " + r.positions + " read 0";
        });
        step("1.5 reset to datetime (forTimestamp base+505 -> offset 51)", () -> {
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> e = admin.listOffsets(parts.stream().collect(Collectors.toMap(t -> t, t -> OffsetSpec.forTimestamp(base + 505)))).all().get();
            check(byPart(e).equals(Map.of(0, 51L, 1, 51L, 2, 51L)), "forTimestamp " + byPart(e));
            admin.alterConsumerGroupOffsets(g, e.entrySet().stream().collect(Collectors.toMap(Map.Entry::getKey, x -> new OffsetAndMetadata(x.getValue().offset())))).all().get();
            Read r = memberRead(g, topic, 3, null);
            check(r.first.equals(Map.of(0, 51L, 1, 51L, 2, 51L)) && r.count == 147, "first " + r.first + " count " + r.count);
            return "offsets " + byPart(e) + "; member first " + r.first + " count " + r.count;
        });
        // ---- with an active member
        step("1.6 start an active member (subscribed, assigned 3 partitions)", () -> {
            activeMember = new KafkaConsumer<>(consumerProps(g));
            activeMember.subscribe(List.of(topic));
            long deadline = now() + 20_000;
            while (activeMember.assignment().size() < 3 && now() < deadline) activeMember.poll(Duration.ofMillis(200));
            check(activeMember.assignment().size() == 3, "assignment " + activeMember.assignment());
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(g)).all().get().get(g);
            return "state " + d.state() + " members " + d.members().size();
        });
        step("1.7 alterConsumerGroupOffsets while member active -> UnknownMemberIdException", () ->
            refusedWith(org.apache.kafka.common.errors.UnknownMemberIdException.class, () -> {
                admin.alterConsumerGroupOffsets(g, Map.of(parts.get(0), new OffsetAndMetadata(0))).all().get();
                Map<Integer, Long> listed = byPart(admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get());
                return "alter with an active member; committed now " + listed;
            }));
        step("1.8 deleteConsumerGroupOffsets while subscribed -> GroupSubscribedToTopicException", () ->
            refusedWith(org.apache.kafka.common.errors.GroupSubscribedToTopicException.class, () -> {
                admin.deleteConsumerGroupOffsets(g, Set.of(parts.get(1))).all().get();
                return "offset delete while a member is subscribed";
            }));
        step("1.9 deleteConsumerGroups while member active -> GroupNotEmptyException", () ->
            refusedWith(org.apache.kafka.common.errors.GroupNotEmptyException.class, () -> {
                admin.deleteConsumerGroups(List.of(g)).all().get();
                return "group delete with an active member";
            }));
        step("1.10 active member unaffected (still assigned, committed unchanged)", () -> {
            activeMember.poll(Duration.ofMillis(500));
            check(activeMember.assignment().size() == 3, "assignment " + activeMember.assignment());
            Map<Integer, Long> listed = byPart(admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get());
            activeMember.close(Duration.ofSeconds(10));
            activeMember = null;
            check(listed.equals(Map.of(0, 51L, 1, 51L, 2, 51L)), "committed " + listed);
            return "committed " + listed + "; member closed";
        });
        step("1.11 deleteConsumerGroupOffsets p1 (group empty)", () -> {
            DeleteConsumerGroupOffsetsResult r = admin.deleteConsumerGroupOffsets(g, Set.of(parts.get(1)));
            r.all().get();
            Map<Integer, Long> listed = byPart(admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get());
            check(!listed.containsKey(1) || listed.get(1) == -999, "p1 still listed: " + listed);
            check(listed.get(0) == 51L && listed.get(2) == 51L, "others " + listed);
            Read rd = memberRead(g, topic, 3, null);
            check(rd.first.equals(Map.of(0, 51L, 1, 20L, 2, 51L)), "member first " + rd.first + " (p1 should reset to earliest=20)");
            return "listed " + listed + "; member first " + rd.first + " (p1 from auto.offset.reset=earliest)";
        });
        step("1.12 deleteConsumerGroups (empty group)", () -> {
            admin.deleteConsumerGroups(List.of(g)).all().get();
            Set<String> ids = admin.listConsumerGroups().all().get().stream().map(ConsumerGroupListing::groupId).collect(Collectors.toSet());
            check(!ids.contains(g), "still listed");
            Map<TopicPartition, OffsetAndMetadata> left = admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get();
            check(left.isEmpty(), "offsets left " + left);
            String desc;
            try {
                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(g)).all().get().get(g);
                desc = "describe -> state " + d.state();
            } catch (ExecutionException e) { desc = "describe -> " + describe(unwrap(e)); }
            String again;
            try {
                admin.deleteConsumerGroups(List.of(g)).all().get();
                again = "second delete succeeded (Kafka: GroupIdNotFoundException)";
            } catch (ExecutionException e) { again = "second delete -> " + unwrap(e).getClass().getSimpleName(); }
            return "gone from list, no offsets; " + desc + "; " + again;
        });
    }

    static void groupAdminExtras() throws Exception {
        String topic = "s2-groups-" + RUN, g = "s2-gnew-" + RUN;
        List<TopicPartition> parts = tps(topic, 3);
        step("1.13 alterConsumerGroupOffsets on a group that does not exist creates it", () -> {
            admin.alterConsumerGroupOffsets(g, Map.of(parts.get(0), new OffsetAndMetadata(7), parts.get(1), new OffsetAndMetadata(30), parts.get(2), new OffsetAndMetadata(0))).all().get();
            Map<Integer, Long> listed = byPart(admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get());
            check(listed.equals(Map.of(0, 7L, 1, 30L, 2, 0L)), "listed " + listed);
            Optional<ConsumerGroupListing> l = admin.listConsumerGroups().all().get().stream().filter(x -> x.groupId().equals(g)).findFirst();
            Read r = memberRead(g, topic, 3, null);
            check(r.first.equals(Map.of(0, 7L, 1, 30L, 2, 0L)), "member first " + r.first);
            return "listed " + listed + "; listGroups " + l.map(x -> x.groupId() + ":" + x.state().orElse(null)).orElse("absent") + "; member first " + r.first;
        });
        step("1.14 alterConsumerGroupOffsets unknown topic / partition -> UnknownTopicOrPartitionException", () -> {
            StringBuilder sb = new StringBuilder();
            for (TopicPartition tp : List.of(new TopicPartition("s2-no-such-topic-" + RUN, 0), new TopicPartition(topic, 7))) {
                String refused = refusedWith(org.apache.kafka.common.errors.UnknownTopicOrPartitionException.class, () -> {
                    admin.alterConsumerGroupOffsets(g, Map.of(tp, new OffsetAndMetadata(1))).all().get();
                    return tp + " accepted; group offsets now " + admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get();
                });
                sb.append(tp).append(" -> ").append(refused).append("; ");
            }
            return sb.toString();
        });
        step("1.15 listConsumerGroups filtered by state", () -> {
            Set<String> empty = admin.listConsumerGroups(new ListConsumerGroupsOptions().inStates(Set.of(ConsumerGroupState.EMPTY))).all().get()
                    .stream().map(ConsumerGroupListing::groupId).collect(Collectors.toSet());
            Set<String> stable = admin.listConsumerGroups(new ListConsumerGroupsOptions().inStates(Set.of(ConsumerGroupState.STABLE))).all().get()
                    .stream().map(ConsumerGroupListing::groupId).collect(Collectors.toSet());
            check(empty.contains(g) && !stable.contains(g), "empty " + empty + " stable " + stable);
            return "EMPTY " + empty.size() + " groups incl. " + g + ", STABLE " + stable;
        });
        step("1.16 deleteConsumerGroupOffsets on a group that does not exist -> GroupIdNotFoundException", () ->
            refusedWith(org.apache.kafka.common.errors.GroupIdNotFoundException.class, () -> {
                admin.deleteConsumerGroupOffsets("s2-ghost-" + RUN, Set.of(parts.get(0))).all().get();
                return "offset delete of a group that does not exist";
            }));
    }

    // =====================================================================================
    // 3. consumer behaviours
    static final ConcurrentHashMap<String, AtomicInteger> SEEN = new ConcurrentHashMap<>();
    static final ConcurrentHashMap<String, String> SEEN_BY = new ConcurrentHashMap<>();

    static class Member {
        final String name;
        final Properties props;
        final String topic;
        final Set<TopicPartition> owned = ConcurrentHashMap.newKeySet();
        final AtomicInteger revokes = new AtomicInteger(), assigns = new AtomicInteger(), losts = new AtomicInteger(), records = new AtomicInteger();
        final List<String> events = Collections.synchronizedList(new ArrayList<>());
        volatile boolean stop;
        volatile Throwable error;
        volatile String memberId = "";
        volatile int generation = -1;
        Thread thread;

        Member(String name, String topic, Properties props) {
            this.name = name; this.topic = topic; this.props = props;
            props.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
        }

        void start() {
            thread = new Thread(this::run, name);
            thread.setDaemon(true);
            thread.start();
        }

        void run() {
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props)) {
                c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    public void onPartitionsRevoked(Collection<TopicPartition> ps) {
                        revokes.incrementAndGet();
                        events.add("revoked " + ps.stream().map(TopicPartition::partition).sorted().collect(Collectors.toList()));
                        Map<TopicPartition, OffsetAndMetadata> m = new HashMap<>();
                        for (TopicPartition tp : ps) m.put(tp, new OffsetAndMetadata(c.position(tp)));
                        if (!m.isEmpty()) c.commitSync(m);
                        owned.removeAll(ps);
                    }
                    public void onPartitionsAssigned(Collection<TopicPartition> ps) {
                        assigns.incrementAndGet();
                        events.add("assigned " + ps.stream().map(TopicPartition::partition).sorted().collect(Collectors.toList()));
                        owned.addAll(ps);
                    }
                    public void onPartitionsLost(Collection<TopicPartition> ps) {
                        losts.incrementAndGet();
                        events.add("LOST " + ps.stream().map(TopicPartition::partition).sorted().collect(Collectors.toList()));
                        owned.removeAll(ps);
                    }
                });
                while (!stop) {
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) {
                        String k = r.partition() + "/" + r.offset();
                        SEEN.computeIfAbsent(k, x -> new AtomicInteger()).incrementAndGet();
                        SEEN_BY.merge(k, name, (a, b) -> a + "," + b);
                        records.incrementAndGet();
                    }
                    memberId = c.groupMetadata().memberId();
                    generation = c.groupMetadata().generationId();
                }
                if (!c.assignment().isEmpty()) c.commitSync();
            } catch (Throwable t) {
                error = t;
                events.add("ERROR " + describe(t));
            }
        }

        void close() throws InterruptedException {
            stop = true;
            thread.join(30_000);
            check(!thread.isAlive(), name + " did not close in 30 s");
        }

        List<Integer> ownedSorted() { return owned.stream().map(TopicPartition::partition).sorted().collect(Collectors.toList()); }
    }

    /** wait until the live members own all partitions disjointly and the broker reports the group Stable with matching assignments */
    static String waitStable(String group, List<Member> live, int parts, long timeoutMs) throws Exception {
        long t0 = now(), deadline = t0 + timeoutMs;
        String prev = null, last = "";
        while (now() < deadline) {
            for (Member m : live) if (m.error != null) throw new AssertionError(m.name + " failed: " + describe(m.error));
            StringBuilder sb = new StringBuilder();
            boolean ok = true;
            Set<Integer> union = new HashSet<>();
            int total = 0;
            for (Member m : live) {
                List<Integer> o = m.ownedSorted();
                if (o.isEmpty()) ok = false;
                union.addAll(o);
                total += o.size();
                sb.append(m.name).append("=").append(o).append(" ");
            }
            if (union.size() != parts || total != parts) ok = false;
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
            Map<String, List<Integer>> brokerView = new TreeMap<>();
            Set<Integer> bu = new HashSet<>();
            int bt = 0;
            for (MemberDescription md : d.members()) {
                List<Integer> a = md.assignment().topicPartitions().stream().map(TopicPartition::partition).sorted().collect(Collectors.toList());
                brokerView.put(md.clientId(), a);
                bu.addAll(a);
                bt += a.size();
            }
            if (d.state() != ConsumerGroupState.STABLE || d.members().size() != live.size() || bu.size() != parts || bt != parts) ok = false;
            for (Member m : live) if (!m.ownedSorted().equals(brokerView.get(m.name))) ok = false;
            last = sb + "| broker " + d.state() + " " + brokerView;
            if (ok) {
                if (last.equals(prev)) return sb.toString().trim() + " (stable after " + (now() - t0) + " ms, broker view matches)";
                prev = last;
            } else prev = null;
            Thread.sleep(300);
        }
        throw new AssertionError("not stable in " + timeoutMs + " ms: " + last);
    }

    static void consumerProbe() throws Exception {
        String topic = "s2-coop-" + RUN, g = "s2-coop-" + RUN;
        int parts = 6;
        createTopic(topic, parts, null);
        // ---- cooperative sticky
        AtomicBoolean prodStop = new AtomicBoolean();
        AtomicLong produced = new AtomicLong();
        AtomicReference<Throwable> prodErr = new AtomicReference<>();
        Thread prodThread = new Thread(() -> {
            try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(producerProps())) {
                long i = 0;
                while (!prodStop.get()) {
                    for (int j = 0; j < 30; j++, i++) {
                        pr.send(new ProducerRecord<>(topic, ("k" + (i % 97)).getBytes(), ("v" + i).getBytes()), (md, e) -> {
                            if (e != null) prodErr.compareAndSet(null, e); else produced.incrementAndGet();
                        });
                    }
                    Thread.sleep(100);
                }
                pr.flush();
            } catch (Throwable t) { prodErr.compareAndSet(null, t); }
        });
        prodThread.start();
        List<Member> live = new ArrayList<>();
        Map<String, Member> all = new LinkedHashMap<>();
        java.util.function.Function<String, Member> mk = n -> {
            Properties p = consumerProps(g);
            p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
            Member m = new Member(n, topic, p);
            all.put(n, m);
            return m;
        };
        final Map<String, List<Integer>> before = new HashMap<>();
        for (String n : List.of("A", "B", "C")) {
            step("3.1 coop-sticky: member " + n + " joins -> complete, disjoint", () -> {
                for (Member m : live) before.put(m.name, m.ownedSorted());
                Member m = mk.apply(n);
                m.start();
                live.add(m);
                String s = waitStable(g, live, parts, 45_000);
                StringBuilder sticky = new StringBuilder();
                for (Member o : live) if (before.containsKey(o.name)) {
                    List<Integer> kept = new ArrayList<>(before.get(o.name));
                    kept.retainAll(o.ownedSorted());
                    if (!before.get(o.name).containsAll(o.ownedSorted())) sticky.append(" ").append(o.name).append(" gained partitions?");
                    if (kept.size() != o.ownedSorted().size()) sticky.append(" ").append(o.name).append(" not sticky");
                }
                return s + (sticky.length() == 0 ? "; existing members kept a subset (sticky)" : ";" + sticky);
            });
        }
        step("3.1 coop-sticky: member B leaves -> complete, disjoint", () -> {
            Member b = all.get("B");
            b.close();
            live.remove(b);
            return waitStable(g, live, parts, 45_000) + "; B events " + b.events;
        });
        step("3.1 coop-sticky: no record lost or duplicated across changes", () -> {
            prodStop.set(true);
            prodThread.join(30_000);
            check(prodErr.get() == null, "producer error " + describe(prodErr.get()));
            Map<TopicPartition, Long> ends = new HashMap<>();
            admin.listOffsets(tps(topic, parts).stream().collect(Collectors.toMap(t -> t, t -> OffsetSpec.latest()))).all().get()
                    .forEach((k, v) -> ends.put(k, v.offset()));
            long total = ends.values().stream().mapToLong(Long::longValue).sum();
            check(total == produced.get(), "end offsets sum " + total + " != acked " + produced.get());
            long deadline = now() + 30_000;
            while (now() < deadline && SEEN.size() < total) Thread.sleep(200);
            for (Member m : live) m.close();
            List<String> missing = new ArrayList<>(), dup = new ArrayList<>();
            for (Map.Entry<TopicPartition, Long> e : ends.entrySet())
                for (long o = 0; o < e.getValue(); o++) {
                    String k = e.getKey().partition() + "/" + o;
                    AtomicInteger n = SEEN.get(k);
                    if (n == null) missing.add(k);
                    else if (n.get() > 1) dup.add(k + " by " + SEEN_BY.get(k));
                }
            Map<Integer, Long> com = byPart(admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get());
            StringBuilder ev = new StringBuilder();
            for (Member m : all.values()) ev.append(m.name).append(":").append(m.events).append(" lost=").append(m.losts.get()).append(" ");
            check(missing.isEmpty() && dup.isEmpty(), "missing " + missing.size() + " " + missing.stream().limit(10).collect(Collectors.toList())
                    + " dup " + dup.size() + " " + dup.stream().limit(10).collect(Collectors.toList()) + " events " + ev);
            check(com.equals(byPart(ends)), "committed " + com + " != ends " + byPart(ends));
            for (Member m : all.values()) check(m.losts.get() == 0, m.name + " lost partitions: " + m.events);
            return total + " records each read exactly once (A=" + all.get("A").records + " B=" + all.get("B").records + " C=" + all.get("C").records
                    + "); committed == end offsets; events " + ev;
        });

        // ---- static membership
        String gs = "s2-static-" + RUN;
        Map<String, Member> st = new LinkedHashMap<>();
        java.util.function.BiFunction<String, String, Member> mks = (n, inst) -> {
            Properties p = consumerProps(gs);
            p.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, inst);
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 20000);
            p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, RangeAssignor.class.getName());
            Member m = new Member(n, topic, p);
            st.put(n, m);
            return m;
        };
        step("3.2 static members sa, sb (range assignor) stable", () -> {
            Member a = mks.apply("SA", "inst-a"), b = mks.apply("SB", "inst-b");
            a.start(); b.start();
            return waitStable(gs, List.of(a, b), parts, 45_000);
        });
        step("3.2 static: SA closed, SA2 (same group.instance.id) takes over; SB not revoked", () -> {
            Member a = st.get("SA"), b = st.get("SB");
            List<Integer> aOwned = a.ownedSorted();
            String aMember = a.memberId;
            int bRev = b.revokes.get(), bAss = b.assigns.get(), bGen = b.generation;
            List<Integer> bOwned = b.ownedSorted();
            a.close();
            Member a2 = mks.apply("SA2", "inst-a");
            a2.start();
            long deadline = now() + 20_000;
            while (a2.owned.isEmpty() && now() < deadline && a2.error == null) Thread.sleep(100);
            check(a2.error == null, "SA2 error " + describe(a2.error));
            check(!a2.owned.isEmpty(), "SA2 got nothing in 20 s; SA2 events " + a2.events + " SB events " + b.events);
            Thread.sleep(5000);   // let any late rebalance show up
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(gs)).all().get().get(gs);
            String members = d.members().stream().map(m -> m.clientId() + "/" + m.groupInstanceId().orElse("-") + "/" + m.consumerId().substring(0, Math.min(12, m.consumerId().length()))).collect(Collectors.toList()).toString();
            check(a2.ownedSorted().equals(aOwned), "SA2 owns " + a2.ownedSorted() + " SA owned " + aOwned);
            check(b.revokes.get() == bRev && b.assigns.get() == bAss && b.ownedSorted().equals(bOwned),
                    "SB was rebalanced: revokes " + bRev + "->" + b.revokes.get() + " assigns " + bAss + "->" + b.assigns.get() + " events " + b.events);
            check(d.members().size() == 2 && d.state() == ConsumerGroupState.STABLE, "group " + d.state() + " " + members);
            check(!a2.memberId.equals(aMember), "same member id reused");
            String r = "SA2 owns " + a2.ownedSorted() + " (= SA's), SB untouched " + bOwned + " gen " + bGen + "->" + b.generation + " SA2 gen " + a2.generation + "; members " + members;
            a2.close(); b.close();
            return r;
        });

        String gf = "s2-fence-" + RUN;
        step("3.2c static: a 2nd live consumer with the same group.instance.id fences the 1st", () -> {
            Properties p1 = consumerProps(gf);
            p1.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "inst-f");
            p1.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 20000);
            Properties p2 = (Properties) p1.clone();
            Member f1 = new Member("SF1", topic, p1);
            f1.start();
            waitStable(gf, List.of(f1), parts, 30_000);
            Member f2 = new Member("SF2", topic, p2);
            long t0 = now();
            f2.start();
            long deadline = now() + 25_000;
            while ((f1.error == null || f2.owned.size() != parts) && now() < deadline) Thread.sleep(100);
            long ms = now() - t0;
            String r = "SF1 error after ~" + ms + " ms: " + describe(f1.error) + "; SF2 owns " + f2.ownedSorted() + " events SF1 " + f1.events;
            int f2owned = f2.owned.size();
            f2.close();
            f1.stop = true;
            check(f1.error instanceof org.apache.kafka.common.errors.FencedInstanceIdException, r);
            check(f2owned == parts, r);
            return r;
        });

        // ---- pause / resume, commitAsync, read_committed, positions
        String pt = "s2-pause-" + RUN;
        step("3.3 pause/resume", () -> {
            createTopic(pt, 3, null);
            try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(producerProps())) {
                for (int o = 0; o < 30; o++) for (int p = 0; p < 3; p++) pr.send(new ProducerRecord<>(pt, p, null, ("v" + o).getBytes()));
                pr.flush();
            }
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(null))) {
                List<TopicPartition> ps = tps(pt, 3);
                c.assign(ps);
                c.seekToBeginning(ps);
                c.pause(List.of(ps.get(0)));
                int[] n = new int[3];
                long deadline = now() + 10_000;
                while ((n[1] < 30 || n[2] < 30) && now() < deadline) for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) n[r.partition()]++;
                for (int i = 0; i < 5; i++) for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) n[r.partition()]++;
                check(n[0] == 0 && n[1] == 30 && n[2] == 30, "while p0 paused read " + Arrays.toString(n));
                check(c.paused().equals(Set.of(ps.get(0))), "paused() " + c.paused());
                c.resume(List.of(ps.get(0)));
                deadline = now() + 10_000;
                while (n[0] < 30 && now() < deadline) for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) n[r.partition()]++;
                check(n[0] == 30 && c.paused().isEmpty(), "after resume " + Arrays.toString(n));
                return "paused p0: read p1=30 p2=30 p0=0; resumed: p0=30";
            }
        });
        String gc = "s2-async-" + RUN;
        step("3.4 commitAsync with callback", () -> {
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(gc))) {
                c.subscribe(List.of(pt));
                int n = 0;
                long deadline = now() + 20_000;
                while (n < 90 && now() < deadline) n += c.poll(Duration.ofMillis(200)).count();
                check(n == 90, "read " + n);
                AtomicReference<Map<TopicPartition, OffsetAndMetadata>> cbOffsets = new AtomicReference<>();
                AtomicReference<Exception> cbErr = new AtomicReference<>();
                CountDownLatch l1 = new CountDownLatch(1);
                long t0 = System.nanoTime();
                c.commitAsync((offsets, e) -> { cbOffsets.set(offsets); cbErr.set(e); l1.countDown(); });
                deadline = now() + 10_000;
                while (l1.getCount() > 0 && now() < deadline) c.poll(Duration.ofMillis(100));
                check(l1.getCount() == 0, "callback not called in 10 s");
                long cbMs = (System.nanoTime() - t0) / 1_000_000;
                check(cbErr.get() == null, "callback error " + describe(cbErr.get()));
                check(byPart(cbOffsets.get()).equals(Map.of(0, 30L, 1, 30L, 2, 30L)), "callback offsets " + byPart(cbOffsets.get()));
                // explicit offsets
                CountDownLatch l2 = new CountDownLatch(1);
                AtomicReference<Exception> cbErr2 = new AtomicReference<>();
                c.commitAsync(Map.of(new TopicPartition(pt, 0), new OffsetAndMetadata(5, "async-meta")), (o, e) -> { cbErr2.set(e); l2.countDown(); });
                deadline = now() + 10_000;
                while (l2.getCount() > 0 && now() < deadline) c.poll(Duration.ofMillis(100));
                check(l2.getCount() == 0 && cbErr2.get() == null, "2nd callback " + l2.getCount() + " " + describe(cbErr2.get()));
                Map<TopicPartition, OffsetAndMetadata> com = c.committed(new HashSet<>(tps(pt, 3)));
                check(byPart(com).equals(Map.of(0, 5L, 1, 30L, 2, 30L)) && "async-meta".equals(com.get(new TopicPartition(pt, 0)).metadata()), "committed " + com);
                return "callback in " + cbMs + " ms with " + byPart(cbOffsets.get()) + "; explicit {p0:5} -> committed " + byPart(com);
            }
        });
        step("3.5 isolation.level=read_committed reads everything", () -> {
            Properties p = consumerProps(null);
            p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
                List<TopicPartition> ps = tps(pt, 3);
                c.assign(ps);
                c.seekToBeginning(ps);
                Map<Integer, Long> ends = byPart(c.endOffsets(ps));
                int n = 0;
                long deadline = now() + 10_000;
                while (n < 90 && now() < deadline) n += c.poll(Duration.ofMillis(200)).count();
                check(n == 90, "read " + n);
                check(ends.equals(Map.of(0, 30L, 1, 30L, 2, 30L)), "endOffsets (LSO) " + ends);
                return "read 90; endOffsets under read_committed " + ends;
            }
        });
        step("3.6 position/committed/beginningOffsets/endOffsets", () -> {
            admin.deleteRecords(Map.of(new TopicPartition(pt, 2), RecordsToDelete.beforeOffset(10))).all().get();
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(gc))) {
                List<TopicPartition> ps = tps(pt, 3);
                c.assign(ps);
                Map<Integer, Long> beg = byPart(c.beginningOffsets(ps)), end = byPart(c.endOffsets(ps));
                Map<Integer, Long> com = byPart(c.committed(new HashSet<>(ps)));
                Map<Integer, Long> pos = new TreeMap<>();
                for (TopicPartition t : ps) pos.put(t.partition(), c.position(t));
                check(beg.equals(Map.of(0, 0L, 1, 0L, 2, 10L)), "beginning " + beg);
                check(end.equals(Map.of(0, 30L, 1, 30L, 2, 30L)), "end " + end);
                check(com.equals(Map.of(0, 5L, 1, 30L, 2, 30L)), "committed " + com);
                check(pos.equals(com), "position " + pos);
                ConsumerRecord<byte[], byte[]> r = null;
                long deadline = now() + 10_000;
                while (r == null && now() < deadline) for (ConsumerRecord<byte[], byte[]> x : c.poll(Duration.ofMillis(200))) if (r == null) r = x;
                check(r != null && r.partition() == 0 && r.offset() == 5, "first record " + (r == null ? null : r.partition() + "/" + r.offset()));
                Map<Integer, Long> t1 = byPart(c.beginningOffsets(ps, Duration.ofSeconds(5)));
                return "beginning " + beg + " end " + end + " committed " + com + " position " + pos + "; first record p0/5";
            }
        });
        step("3.7 auto.offset.reset=none, group without commits -> NoOffsetForPartitionException", () -> {
            Properties p = consumerProps("s2-none-" + RUN);
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
                c.subscribe(List.of(pt));
                long t0 = System.nanoTime(), deadline = now() + 20_000;
                int n = 0;
                try {
                    while (now() < deadline) n += c.poll(Duration.ofMillis(200)).count();
                } catch (NoOffsetForPartitionException e) {
                    return "after " + (System.nanoTime() - t0) / 1_000_000 + " ms (incl. join): " + e.getMessage();
                }
                throw new AssertionError("no exception in 20 s; read " + n + " assignment " + c.assignment());
            }
        });
        step("3.8 seek beyond end / below log start with auto.offset.reset=earliest resets", () -> {
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(null))) {
                TopicPartition p0 = new TopicPartition(pt, 0), p2 = new TopicPartition(pt, 2);
                c.assign(List.of(p0, p2));
                c.seek(p0, 1000);
                c.seek(p2, 3);   // below log start 10
                Map<Integer, Long> first = new TreeMap<>();
                long deadline = now() + 15_000;
                while (first.size() < 2 && now() < deadline)
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) first.putIfAbsent(r.partition(), r.offset());
                check(first.equals(Map.of(0, 0L, 2, 10L)), "first offsets after reset " + first);
                return "seek p0->1000 reset to " + first.get(0) + ", seek p2->3 (log start 10) reset to " + first.get(2);
            }
        });
        step("3.8b seek beyond end with auto.offset.reset=latest resets to end", () -> {
            Properties p = consumerProps(null);
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "latest");
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
                TopicPartition p1 = new TopicPartition(pt, 1);
                c.assign(List.of(p1));
                c.seek(p1, 5000);
                long deadline = now() + 10_000;
                while (now() < deadline) {
                    c.poll(Duration.ofMillis(200));
                    if (c.position(p1) == 30) return "position reset to 30 (end)";
                }
                throw new AssertionError("position " + c.position(p1));
            }
        });
    }

    // =====================================================================================
    // 4. producer across a broker restart
    static void restartProbe(String how, Path marker, Path eventsFile) throws Exception {
        String topic = "s2-restart-" + how.toLowerCase() + "-" + RUN;
        int parts = 3, N = 20_000;
        step("4." + how + " create topic", () -> { createTopic(topic, parts, null); return topic; });
        int[] ackPart = new int[N];
        long[] ackOff = new long[N];
        long[] ackAt = new long[N];
        Arrays.fill(ackOff, -1);
        Throwable[] err = new Throwable[N];
        long[] errAt = new long[N];
        List<String> sendErrors = Collections.synchronizedList(new ArrayList<>());
        AtomicLong acked = new AtomicLong();
        long[] tStart = new long[1];
        step("4." + how + " idempotent producer, 20000 keyed records across broker " + how, () -> {
            Properties p = producerProps();
            p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 60000);   // acks=all, idempotence on: defaults
            tStart[0] = now();
            CountDownLatch done = new CountDownLatch(N);
            try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(p)) {
                for (int i = 0; i < N; i++) {
                    final int id = i;
                    try {
                        pr.send(new ProducerRecord<>(topic, ("key-" + (i % 64)).getBytes(), ("seq-" + i).getBytes()), (md, e) -> {
                            if (e != null) { err[id] = e; errAt[id] = now(); }
                            else {
                                ackPart[id] = md.partition(); ackOff[id] = md.offset(); ackAt[id] = now();
                                if (acked.incrementAndGet() == 1) {
                                    try { Files.writeString(marker, "acked " + now() + "\n"); } catch (Exception x) { }
                                }
                            }
                            done.countDown();
                        });
                    } catch (Exception e) {
                        sendErrors.add(i + "@" + (now() - tStart[0]) + "ms " + describe(e));
                        err[id] = e; errAt[id] = now();
                        done.countDown();
                    }
                    if (i % 4 == 3) Thread.sleep(1);   // ~5 s of steady sending, so produce requests are in flight when the broker dies
                }
                check(done.await(120, TimeUnit.SECONDS), "callbacks missing after 120 s: " + done.getCount());
            }
            long nErr = Arrays.stream(err).filter(Objects::nonNull).count();
            Map<String, Long> errTypes = Arrays.stream(err).filter(Objects::nonNull).collect(Collectors.groupingBy(e -> e.getClass().getSimpleName(), TreeMap::new, Collectors.counting()));
            String firstErr = "";
            for (int i = 0; i < N; i++) if (err[i] != null) { firstErr = " first failed record " + i + " at +" + (errAt[i] - tStart[0]) + " ms: " + describe(err[i]); break; }
            String ev = Files.exists(eventsFile) ? Files.readString(eventsFile).trim().replace('\n', ' ') : "(no harness events)";
            // stall: longest gap between successive ack times
            long[] times = Arrays.stream(ackAt).filter(t -> t > 0).sorted().toArray();
            long gap = 0, gapAt = 0;
            for (int i = 1; i < times.length; i++) if (times[i] - times[i - 1] > gap) { gap = times[i] - times[i - 1]; gapAt = times[i - 1]; }
            String summary = acked.get() + " acked, " + nErr + " failed " + errTypes + firstErr + "; send() threw " + sendErrors.size()
                    + (sendErrors.isEmpty() ? "" : " " + sendErrors.subList(0, Math.min(3, sendErrors.size())))
                    + "; longest ack gap " + gap + " ms from +" + (gapAt - tStart[0]) + " ms; harness " + relEvents(ev, tStart[0]);
            check(nErr == 0 && sendErrors.isEmpty(), summary);
            return summary;
        });
        step("4." + how + " every acked record present exactly once, per-partition order kept", () -> {
            Map<Integer, List<long[]>> byPartRead = new TreeMap<>();   // partition -> [offset, seq]
            List<TopicPartition> ps = tps(topic, parts);
            Map<TopicPartition, Long> ends;
            int total = 0;
            List<String> bad = new ArrayList<>();
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(null))) {
                c.assign(ps);
                c.seekToBeginning(ps);
                ends = c.endOffsets(ps);
                long deadline = now() + 60_000;
                while (now() < deadline) {
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(300))) {
                        String v = new String(r.value(), StandardCharsets.UTF_8);
                        long seq = v.startsWith("seq-") ? Long.parseLong(v.substring(4)) : -1;
                        byPartRead.computeIfAbsent(r.partition(), x -> new ArrayList<>()).add(new long[]{r.offset(), seq});
                        total++;
                    }
                    boolean done = true;
                    for (TopicPartition t : ps) if (c.position(t) < ends.get(t)) done = false;
                    if (done) break;
                }
            }
            Map<Long, Integer> count = new HashMap<>();
            Map<Long, String> where = new HashMap<>();
            List<String> orderViolations = new ArrayList<>(), gaps = new ArrayList<>();
            for (Map.Entry<Integer, List<long[]>> e : byPartRead.entrySet()) {
                long prevSeq = -1, prevOff = -1;
                for (long[] r : e.getValue()) {
                    count.merge(r[1], 1, Integer::sum);
                    where.merge(r[1], e.getKey() + "/" + r[0], (a, b) -> a + "," + b);
                    if (r[1] <= prevSeq) orderViolations.add("p" + e.getKey() + " off " + r[0] + " seq " + r[1] + " after seq " + prevSeq);
                    if (prevOff >= 0 && r[0] != prevOff + 1) gaps.add("p" + e.getKey() + " " + prevOff + "->" + r[0]);
                    prevSeq = Math.max(prevSeq, r[1]);
                    prevOff = r[0];
                }
            }
            int missingAcked = 0, wrongOffset = 0, dups = 0, unackedPresent = 0;
            List<String> ex = new ArrayList<>();
            for (int i = 0; i < N; i++) {
                int n = count.getOrDefault((long) i, 0);
                if (n > 1) { dups++; if (ex.size() < 8) ex.add("seq " + i + " x" + n + " at " + where.get((long) i)); }
                if (ackOff[i] >= 0) {
                    if (n == 0) { missingAcked++; if (ex.size() < 8) ex.add("acked seq " + i + " (" + ackPart[i] + "/" + ackOff[i] + ") missing"); }
                    else if (!where.get((long) i).startsWith(ackPart[i] + "/" + ackOff[i])) { wrongOffset++; if (ex.size() < 8) ex.add("seq " + i + " acked at " + ackPart[i] + "/" + ackOff[i] + " found at " + where.get((long) i)); }
                } else if (n > 0) unackedPresent++;
            }
            String s = "read " + total + " (end offsets " + byPart(ends) + "); acked missing " + missingAcked + ", duplicated " + dups + ", acked at a different offset " + wrongOffset
                    + ", un-acked but present " + unackedPresent + ", order violations " + orderViolations.size() + ", offset gaps " + gaps.size()
                    + (ex.isEmpty() ? "" : " e.g. " + ex) + (orderViolations.isEmpty() ? "" : " order e.g. " + orderViolations.subList(0, Math.min(5, orderViolations.size())));
            check(missingAcked == 0 && dups == 0 && wrongOffset == 0 && orderViolations.isEmpty(), s);
            return s;
        });
    }

    static String relEvents(String ev, long t0) {
        StringBuilder sb = new StringBuilder();
        String[] toks = ev.split("\\s+");
        for (int i = 0; i + 1 < toks.length; i += 2) {
            try { sb.append(toks[i]).append("@+").append(Long.parseLong(toks[i + 1]) - t0).append("ms "); }
            catch (NumberFormatException e) { sb.append(toks[i]).append(" ").append(toks[i + 1]).append(" "); }
        }
        return sb.toString().trim();
    }
}
