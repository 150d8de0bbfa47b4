// Sarama (a pure-Go Kafka client with its own protocol code) against a
// running ferrologd: admin create and describe (topic, group and topic
// configs, the last with DescribeConfigs v0), an
// idempotent producer at acks=all with keys, headers and gzip, a consumer
// group that commits, a second member of the group that resumes after the
// commit, a partition consumer that replays from an offset, and admin offset
// queries. Exits non-zero on failure; every wait is bounded. Its consumer
// group commits with OffsetCommit v1, as this Sarama does by default.
//
//	tools/sarama/run 127.0.0.1:9092      # SARAMA_LOG=1 for Sarama's own log
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

const partitions = 3

func config() *sarama.Config {
	c := sarama.NewConfig()
	// The newest protocol this Sarama knows: RecordBatch v2, headers, Produce v7, Fetch v10.
	c.Version = sarama.V2_1_0_0
	c.ClientID = "sarama-smoke"
	c.Metadata.Retry.Max = 3
	return c
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "sarama smoke failed: "+format+"\n", args...)
	os.Exit(1)
}

func check(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

type record struct {
	partition int32
	offset    int64
	key       string
	value     string
	header    string
}

// groupHandler collects records until want arrived, marking each consumed so
// the group commits it.
type groupHandler struct {
	mu   sync.Mutex
	got  []record
	want int
	done chan struct{}
	once sync.Once
}

func (h *groupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		r := record{partition: m.Partition, offset: m.Offset, key: string(m.Key), value: string(m.Value)}
		for _, h := range m.Headers {
			if string(h.Key) == "correlation-id" {
				r.header = string(h.Value)
			}
		}
		s.MarkMessage(m, "")
		h.mu.Lock()
		h.got = append(h.got, r)
		if len(h.got) >= h.want {
			h.once.Do(func() { close(h.done) })
		}
		h.mu.Unlock()
	}
	return nil
}

// consumeGroup runs one member of the group until want records arrived, then
// closes it, which commits what it marked.
func consumeGroup(bootstrap []string, topic, group string, want int) []record {
	c := config()
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	c.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	c.Consumer.Return.Errors = false
	g, err := sarama.NewConsumerGroup(bootstrap, group, c)
	check(err, "new consumer group")
	h := &groupHandler{want: want, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, h); err != nil {
				stopped <- err
				return
			}
		}
		stopped <- nil
	}()
	select {
	case <-h.done:
	case err := <-stopped:
		fail("group consume stopped: %v", err)
	case <-time.After(30 * time.Second):
		h.mu.Lock()
		fail("group read %d of %d in 30 s", len(h.got), want)
	}
	cancel()
	select {
	case err := <-stopped:
		check(err, "group consume")
	case <-time.After(15 * time.Second):
		fail("group did not stop")
	}
	check(g.Close(), "close group")
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]record(nil), h.got...)
}

func main() {
	if os.Getenv("SARAMA_LOG") != "" {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	}
	bootstrap := []string{"127.0.0.1:9092"}
	if len(os.Args) > 1 {
		bootstrap = []string{os.Args[1]}
	}
	topic := fmt.Sprintf("sarama-%d", time.Now().UnixNano())
	group := topic + "-g"

	admin, err := sarama.NewClusterAdmin(bootstrap, config())
	check(err, "admin")
	check(admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false), "create topic")
	described, err := admin.DescribeTopics([]string{topic})
	check(err, "describe topic")
	if len(described) != 1 || described[0].Err != sarama.ErrNoError || len(described[0].Partitions) != partitions {
		fail("describe: %+v", described)
	}

	pc := config()
	pc.Producer.Idempotent = true
	pc.Producer.RequiredAcks = sarama.WaitForAll
	pc.Producer.Return.Successes = true
	pc.Producer.Retry.Max = 3
	pc.Net.MaxOpenRequests = 1
	pc.Producer.Partitioner = sarama.NewHashPartitioner
	for _, codec := range []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP} {
		pc.Producer.Compression = codec
		producer, err := sarama.NewSyncProducer(bootstrap, pc)
		check(err, "new producer")
		messages := make([]*sarama.ProducerMessage, 0, 500)
		for i := 0; i < 500; i++ {
			messages = append(messages, &sarama.ProducerMessage{
				Topic:   topic,
				Key:     sarama.StringEncoder(fmt.Sprintf("k%d", i%11)),
				Value:   sarama.StringEncoder(fmt.Sprintf("%s-%d", codec, i)),
				Headers: []sarama.RecordHeader{{Key: []byte("correlation-id"), Value: []byte(fmt.Sprintf("c%d", i))}},
			})
		}
		check(producer.SendMessages(messages), "send "+codec.String())
		check(producer.Close(), "close producer")
	}

	first := consumeGroup(bootstrap, topic, group, 1000)
	if len(first) != 1000 {
		fail("group read %d of 1000", len(first))
	}
	byPartition := map[int32][]int64{}
	keyPartition := map[string]int32{}
	for _, r := range first {
		byPartition[r.partition] = append(byPartition[r.partition], r.offset)
		if p, seen := keyPartition[r.key]; seen && p != r.partition {
			fail("key %s on partitions %d and %d", r.key, p, r.partition)
		}
		keyPartition[r.key] = r.partition
		if r.header == "" {
			fail("a header was lost: %+v", r)
		}
	}
	for p, offsets := range byPartition {
		sort.Slice(offsets, func(i, j int) bool { return offsets[i] < offsets[j] })
		for i, o := range offsets {
			if o != int64(i) {
				fail("partition %d offsets not dense: %v", p, offsets[:10])
			}
		}
	}

	pc.Producer.Compression = sarama.CompressionNone
	producer, err := sarama.NewSyncProducer(bootstrap, pc)
	check(err, "new producer")
	for i := 0; i < 10; i++ {
		_, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("late-%d", i))})
		check(err, "send late")
	}
	check(producer.Close(), "close producer")
	second := consumeGroup(bootstrap, topic, group, 10)
	late := make([]string, 0, len(second))
	for _, r := range second {
		late = append(late, r.value)
	}
	sort.Strings(late)
	if len(late) != 10 || late[0] != "late-0" || late[9] != "late-9" {
		fail("resumed with %v", late)
	}

	client, err := sarama.NewClient(bootstrap, config())
	check(err, "client")
	committed, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
	check(err, "committed offsets")
	var total, end int64
	for p := int32(0); p < partitions; p++ {
		block := committed.GetBlock(topic, p)
		if block == nil || block.Err != sarama.ErrNoError {
			fail("committed offset of partition %d: %+v", p, block)
		}
		total += block.Offset
		high, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		check(err, "end offset")
		end += high
	}
	if total != 1010 || end != 1010 {
		fail("committed %d, end offsets %d, want 1010", total, end)
	}

	groups, err := admin.ListConsumerGroups()
	check(err, "list groups")
	if groups[group] != "consumer" {
		fail("list groups: %v", groups)
	}
	descriptions, err := admin.DescribeConsumerGroups([]string{group})
	check(err, "describe group")
	if len(descriptions) != 1 || descriptions[0].State != "Empty" {
		fail("describe group: %+v", descriptions)
	}
	// Topic configs: this Sarama's DescribeConfig sends DescribeConfigs v0,
	// which Kafka 4.0 dropped and Ferrolog serves for it.
	retention := "86400000"
	check(admin.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": &retention}, false), "alter config")
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	check(err, "describe config")
	found := map[string]sarama.ConfigEntry{}
	for _, e := range entries {
		found[e.Name] = e
	}
	if e := found["retention.ms"]; e.Value != retention || e.Default {
		fail("retention.ms described as %+v", e)
	}
	if e, ok := found["segment.bytes"]; !ok || !e.Default {
		fail("segment.bytes described as %+v", e)
	}
	only, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"retention.ms"}})
	check(err, "describe one config")
	if len(only) != 1 || only[0].Name != "retention.ms" {
		fail("asked for retention.ms, got %+v", only)
	}
	// This Sarama reports a resource's error from its message alone.
	if _, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic + "-missing"}); err == nil {
		fail("describe config of a missing topic: no error")
	}

	// Replay: a plain partition consumer from offset 5 of partition 0.
	consumer, err := sarama.NewConsumerFromClient(client)
	check(err, "consumer")
	pcons, err := consumer.ConsumePartition(topic, 0, 5)
	check(err, "consume partition")
	select {
	case m := <-pcons.Messages():
		if m.Offset != 5 {
			fail("replay from 5 began at %d", m.Offset)
		}
	case <-time.After(10 * time.Second):
		fail("replay from offset 5: nothing in 10 s")
	}
	check(pcons.Close(), "close partition consumer")
	check(consumer.Close(), "close consumer")
	check(client.Close(), "close client")

	check(admin.DeleteTopic(topic), "delete topic")
	check(admin.Close(), "close admin")
	fmt.Printf("sarama OK: %d records in a group, resumed with %d, committed %d\n", len(first), len(second), total)
}
