import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * The harness the Java client probes (Smoke, Smoke2) share: one PASS/FAIL
 * line per step with its time, the counts and the summary, and the client
 * properties, with timeouts a probe may set before it starts.
 */
public class Probe {
    static String BOOT;
    static final String RUN = Long.toString(System.currentTimeMillis() % 1_000_000);
    static int pass = 0, fail = 0;
    static final List<String> summary = new ArrayList<>();

    /** Width of the step-name column. */
    static int nameWidth = 62;
    /** request.timeout.ms of every client. */
    static int requestTimeoutMs = 15000;
    /** delivery.timeout.ms of producers. */
    static int deliveryTimeoutMs = 30000;

    interface Body { String run() throws Exception; }

    static void step(String name, Body body) {
        long t0 = System.nanoTime();
        String line;
        try {
            String detail = body.run();
            long ms = (System.nanoTime() - t0) / 1_000_000;
            pass++;
            line = String.format("PASS %-" + nameWidth + "s %6d ms  %s", name, ms, detail == null ? "" : detail);
        } catch (Throwable e) {
            long ms = (System.nanoTime() - t0) / 1_000_000;
            fail++;
            StringBuilder sb = new StringBuilder();
            sb.append(String.format("FAIL %-" + nameWidth + "s %6d ms  %s", name, ms, describe(e)));
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) root = root.getCause();
            StackTraceElement[] st = root.getStackTrace();
            for (int i = 0; i < Math.min(6, st.length); i++) sb.append("\n       at ").append(st[i]);
            line = sb.toString();
        }
        System.out.println(line);
        System.out.flush();
        summary.add(line.split("\n")[0]);
    }

    static String describe(Throwable e) {
        if (e == null) return "null";
        StringBuilder sb = new StringBuilder();
        Throwable c = e;
        int depth = 0;
        while (c != null && depth++ < 5) {
            if (sb.length() > 0) sb.append(" <- caused by ");
            sb.append(c.getClass().getName()).append(": ").append(c.getMessage());
            if (c.getCause() == c) break;
            c = c.getCause();
        }
        return sb.toString();
    }

    static Throwable unwrap(Throwable e) {
        while ((e instanceof ExecutionException || e instanceof CompletionException) && e.getCause() != null) e = e.getCause();
        return e;
    }

    /**
     * Runs a call that Kafka refuses with {@code expected} (as the cause of an
     * ExecutionException) and says how long the refusal took. If the call gets
     * through, what it returns is the failure's message.
     */
    static String refusedWith(Class<? extends Throwable> expected, Body call) throws Exception {
        long t0 = System.nanoTime();
        try {
            throw new AssertionError("SUCCEEDED: " + call.run());
        } catch (ExecutionException e) {
            long ms = (System.nanoTime() - t0) / 1_000_000;
            Throwable c = unwrap(e);
            check(expected.isInstance(c), "after " + ms + " ms got " + describe(c) + " (Kafka: " + expected.getSimpleName() + ")");
            return "after " + ms + " ms: " + describe(c);
        }
    }

    static void check(boolean cond, String msg) {
        if (!cond) throw new AssertionError(msg);
    }

    static long now() { return System.currentTimeMillis(); }

    /** What every client here shares: the broker to bootstrap from and the request timeout. */
    static Properties clientProps() {
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, BOOT);
        p.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, requestTimeoutMs);
        return p;
    }

    static Properties adminProps() {
        Properties p = clientProps();
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 15000);
        return p;
    }

    static Properties producerProps() {
        Properties p = clientProps();
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 15000);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, deliveryTimeoutMs);
        return p;
    }

    static Properties consumerProps(String group) {
        Properties p = clientProps();
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 15000);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        if (group != null) p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        return p;
    }
}
