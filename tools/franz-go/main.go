// Probe: franz-go (kgo + kadm) against a running Ferrolog broker. Each step
// prints PASS/FAIL/INFO with its duration and details; the exit status is
// non-zero on any FAIL. docs/COMPATIBILITY.md records the last run.
//
// Not run in CI: the machines this is built on cannot reach the Go module
// proxy (it was built here from franz-go v1.16.1's sources, with `replace`
// directives to local copies). Where the proxy is reachable:
//
//	cd tools/franz-go && go mod tidy && go run . -brokers 127.0.0.1:9092
//
// Flags: -brokers HOST:PORT, -kgolog FILE (franz-go's own log), -kgolevel,
// -only SUBSTRING (run only the matching steps).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	brokers  = flag.String("brokers", "127.0.0.1:9092", "seed broker")
	kgoLog   = flag.String("kgolog", "", "file for franz-go's own log (debug level)")
	kgoLevel = flag.String("kgolevel", "info", "franz-go log level: debug|info|warn")
	only     = flag.String("only", "", "run only steps whose name contains this")
	suffix   = fmt.Sprintf("%d", time.Now().UnixNano()%1000000)

	logger kgo.Logger

	passed, failed int
	results        []string
)

type stepErr struct{ msg string }

func (e stepErr) Error() string { return e.msg }

func failf(format string, a ...interface{}) error { return stepErr{fmt.Sprintf(format, a...)} }

// step runs fn with a timeout; fn returns a detail string and an error.
func step(name string, timeout time.Duration, fn func(ctx context.Context) (string, error)) bool {
	if *only != "" {
		match := false
		for _, o := range strings.Split(*only, "|") {
			if o != "" && strings.Contains(name, o) {
				match = true
			}
		}
		if !match {
			return true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	type res struct {
		d   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- res{"", fmt.Errorf("panic: %v", r)}
			}
		}()
		d, err := fn(ctx)
		ch <- res{d, err}
	}()
	var r res
	select {
	case r = <-ch:
	case <-time.After(timeout + 5*time.Second):
		r = res{"", fmt.Errorf("step hung past its %v timeout", timeout)}
	}
	el := time.Since(start)
	status := "PASS"
	detail := r.d
	if r.err != nil {
		status = "FAIL"
		failed++
		if detail != "" {
			detail += "; "
		}
		detail += "error: " + r.err.Error()
	} else {
		passed++
	}
	line := fmt.Sprintf("%s  %-58s %8.3fs  %s", status, name, el.Seconds(), detail)
	fmt.Println(line)
	results = append(results, line)
	return r.err == nil
}

func info(format string, a ...interface{}) { fmt.Printf("INFO  "+format+"\n", a...) }

func newClient(opts ...kgo.Opt) *kgo.Client {
	base := []kgo.Opt{kgo.SeedBrokers(*brokers), kgo.ClientID("franz-probe")}
	if logger != nil {
		base = append(base, kgo.WithLogger(logger))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		panic(err)
	}
	return cl
}

// ---- expected-record bookkeeping ----

type rec struct {
	Key     []byte
	Value   []byte
	Headers []kgo.RecordHeader
	TsMs    int64
	Part    int32
	Off     int64
	Codec   string
}

type store struct {
	mu   sync.Mutex
	recs map[int32]map[int64]rec
}

func newStore() *store { return &store{recs: map[int32]map[int64]rec{}} }

func (s *store) add(r *kgo.Record, codec string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.recs[r.Partition]
	if m == nil {
		m = map[int64]rec{}
		s.recs[r.Partition] = m
	}
	if _, dup := m[r.Offset]; dup {
		return failf("offset %d in partition %d assigned twice", r.Offset, r.Partition)
	}
	m[r.Offset] = rec{r.Key, r.Value, r.Headers, r.Timestamp.UnixMilli(), r.Partition, r.Offset, codec}
	return nil
}

func (s *store) total() int {
	n := 0
	for _, m := range s.recs {
		n += len(m)
	}
	return n
}

// dense checks offsets 0..n-1 per partition.
func (s *store) dense() (string, error) {
	var parts []string
	for p := int32(0); p < 3; p++ {
		m := s.recs[p]
		for o := int64(0); o < int64(len(m)); o++ {
			if _, ok := m[o]; !ok {
				return "", failf("partition %d: %d records but offset %d missing", p, len(m), o)
			}
		}
		parts = append(parts, fmt.Sprintf("p%d=%d", p, len(m)))
	}
	return strings.Join(parts, " "), nil
}

func mkRecord(topic, codec string, i int) *kgo.Record {
	var key []byte
	if i%50 != 7 { // a few records with a null key
		key = []byte(fmt.Sprintf("key-%s-%d", codec, i%17))
	}
	vlen := 20 + (i*37)%900
	unit := []byte(fmt.Sprintf("%s|%05d|", codec, i))
	v := bytes.Repeat(unit, vlen/len(unit)+1)[:vlen]
	if i%10 == 3 {
		v = []byte{} // empty value
	}
	if i%100 == 11 {
		v = nil // null value (tombstone)
	}
	hs := []kgo.RecordHeader{
		{Key: "codec", Value: []byte(codec)},
		{Key: "idx", Value: []byte(fmt.Sprintf("%d", i))},
	}
	if i%3 == 0 {
		hs = append(hs, kgo.RecordHeader{Key: "empty", Value: []byte{}})
	}
	if i%5 == 0 {
		hs = append(hs, kgo.RecordHeader{Key: "bin\u00e9", Value: []byte{0, 1, 2, 255}})
	}
	return &kgo.Record{Topic: topic, Key: key, Value: v, Headers: hs}
}

func sameRecord(exp rec, got *kgo.Record) error {
	if (exp.Key == nil) != (got.Key == nil) || !bytes.Equal(exp.Key, got.Key) {
		return failf("p%d@%d key: want %q (nil=%v) got %q (nil=%v)", got.Partition, got.Offset, exp.Key, exp.Key == nil, got.Key, got.Key == nil)
	}
	if (exp.Value == nil) != (got.Value == nil) || !bytes.Equal(exp.Value, got.Value) {
		return failf("p%d@%d value differs: want %d bytes (nil=%v) got %d bytes (nil=%v)", got.Partition, got.Offset, len(exp.Value), exp.Value == nil, len(got.Value), got.Value == nil)
	}
	if len(exp.Headers) != len(got.Headers) {
		return failf("p%d@%d headers: want %d got %d", got.Partition, got.Offset, len(exp.Headers), len(got.Headers))
	}
	for i := range exp.Headers {
		if exp.Headers[i].Key != got.Headers[i].Key || !bytes.Equal(exp.Headers[i].Value, got.Headers[i].Value) {
			return failf("p%d@%d header %d: want %q=%q got %q=%q", got.Partition, got.Offset, i, exp.Headers[i].Key, exp.Headers[i].Value, got.Headers[i].Key, got.Headers[i].Value)
		}
	}
	if exp.TsMs != got.Timestamp.UnixMilli() {
		return failf("p%d@%d timestamp: want %d got %d", got.Partition, got.Offset, exp.TsMs, got.Timestamp.UnixMilli())
	}
	return nil
}

// ---- helpers ----

// describeAfterAlter fails with the alter call's error or the first per-topic
// one, and otherwise returns the topic's configs as they now are.
func describeAfterAlter(ctx context.Context, adm *kadm.Client, topic string, rs kadm.AlterConfigsResponses, err error) (map[string]kadm.Config, error) {
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.Err != nil {
			return nil, r.Err
		}
	}
	return describeConfig(ctx, adm, topic)
}

func describeConfig(ctx context.Context, adm *kadm.Client, topic string) (map[string]kadm.Config, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return nil, err
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return nil, err
	}
	if rc.Err != nil {
		return nil, rc.Err
	}
	m := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		m[c.Key] = c
	}
	return m, nil
}

func cval(c kadm.Config) string {
	if c.Value == nil {
		return "<nil>"
	}
	return *c.Value
}

// consumeN polls cl until n records were collected or ctx ends.
func consumeN(ctx context.Context, cl *kgo.Client, n int, fn func(*kgo.Record) error) (int, error) {
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return got, fmt.Errorf("timed out after %d/%d records: %v", got, n, ctx.Err())
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("fetch error %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return got, ferr
		}
		var err error
		fs.EachRecord(func(r *kgo.Record) {
			if err != nil {
				return
			}
			got++
			err = fn(r)
		})
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

type fetchCounter struct {
	fetchReqs int64
	fetchErrs int64
	maxRead   int64
}

func (f *fetchCounter) OnBrokerRead(meta kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 1 {
		for {
			m := atomic.LoadInt64(&f.maxRead)
			if int64(n) <= m || atomic.CompareAndSwapInt64(&f.maxRead, m, int64(n)) {
				break
			}
		}
	}
}

func (f *fetchCounter) OnBrokerWrite(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 1 {
		atomic.AddInt64(&f.fetchReqs, 1)
		if err != nil {
			atomic.AddInt64(&f.fetchErrs, 1)
		}
	}
}

// sessionSpy records the session id/epoch in fetch requests and responses
// by wrapping the request/response hooks.
type sessionSpy struct {
	mu          sync.Mutex
	reqEpochs   map[int32]int
	reqIDs      map[int32]int
	respIDs     map[int32]int
	respVersion map[int16]int
}

func newSessionSpy() *sessionSpy {
	return &sessionSpy{reqEpochs: map[int32]int{}, reqIDs: map[int32]int{}, respIDs: map[int32]int{}, respVersion: map[int16]int{}}
}

func (s *sessionSpy) OnBrokerE2E(meta kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {}

func rawFetch(ctx context.Context, cl *kgo.Client, maxWait int32, maxBytes int32, topic string, parts map[int32]int64, partMax int32) (*kmsg.FetchResponse, time.Duration, error) {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = -1
	req.MaxWaitMillis = maxWait
	req.MinBytes = 1
	req.MaxBytes = maxBytes
	req.SessionID = 0
	req.SessionEpoch = -1
	t := kmsg.NewFetchRequestTopic()
	t.Topic = topic
	var ps []int32
	for p := range parts {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	for _, pi := range ps {
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition = pi
		p.FetchOffset = parts[pi]
		p.PartitionMaxBytes = partMax
		p.CurrentLeaderEpoch = -1
		p.LogStartOffset = -1
		t.Partitions = append(t.Partitions, p)
	}
	req.Topics = append(req.Topics, t)
	t0 := time.Now()
	resp, err := req.RequestWith(ctx, cl)
	return resp, time.Since(t0), err
}

// batchSizes splits a record set into v2 batch sizes (a trailing partial batch is reported as negative).
func batchSizes(b []byte) []int {
	var out []int
	for len(b) >= 12 {
		l := int(int32(uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11])))
		n := 12 + l
		if n > len(b) {
			out = append(out, -len(b))
			return out
		}
		out = append(out, n)
		b = b[n:]
	}
	if len(b) > 0 {
		out = append(out, -len(b))
	}
	return out
}

// ---- main ----

func main() {
	flag.Parse()
	if *kgoLog != "" {
		f, err := os.Create(*kgoLog)
		if err != nil {
			panic(err)
		}
		lvl := kgo.LogLevelInfo
		switch *kgoLevel {
		case "debug":
			lvl = kgo.LogLevelDebug
		case "warn":
			lvl = kgo.LogLevelWarn
		}
		logger = kgo.BasicLogger(f, lvl, func() string { return time.Now().Format("15:04:05.000 ") })
	}

	adminTopic := "fz-admin-" + suffix
	dataTopic := "fz-data-" + suffix
	bigTopic := "fz-big-" + suffix
	group1 := "fz-g1-" + suffix
	group2 := "fz-g2-" + suffix
	group3 := "fz-g3-" + suffix

	acl := newClient()
	defer acl.Close()
	adm := kadm.NewClient(acl)

	// ---------------- kadm ----------------
	step("kadm ApiVersions", 10*time.Second, func(ctx context.Context) (string, error) {
		vs, err := adm.ApiVersions(ctx)
		if err != nil {
			return "", err
		}
		var out []string
		for _, v := range vs.Sorted() {
			if v.Err != nil {
				return "", v.Err
			}
			v.EachKeySorted(func(k, min, max int16) {
				out = append(out, fmt.Sprintf("%s:%d-%d", kmsg.NameForKey(k), min, max))
			})
		}
		return fmt.Sprintf("%d APIs: %s", len(out), strings.Join(out, " ")), nil
	})

	step("kadm CreateTopics (3 partitions, retention.ms config)", 15*time.Second, func(ctx context.Context) (string, error) {
		rs, err := adm.CreateTopics(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, adminTopic, dataTopic)
		if err != nil {
			return "", err
		}
		if err := rs.Error(); err != nil {
			return "", err
		}
		r := rs[adminTopic]
		if r.NumPartitions != 3 || r.ReplicationFactor != 1 {
			return "", failf("response says %d partitions RF %d", r.NumPartitions, r.ReplicationFactor)
		}
		c, ok := r.Configs["retention.ms"]
		if !ok || c.Value == nil || *c.Value != "3600000" {
			return "", failf("create response configs lack retention.ms=3600000: %v", r.Configs["retention.ms"])
		}
		return fmt.Sprintf("id=%s partitions=%d rf=%d %d configs returned", r.ID, r.NumPartitions, r.ReplicationFactor, len(r.Configs)), nil
	})

	step("kadm CreateTopics again -> TOPIC_ALREADY_EXISTS", 10*time.Second, func(ctx context.Context) (string, error) {
		rs, err := adm.CreateTopics(ctx, 3, 1, nil, adminTopic)
		if err != nil {
			return "", err
		}
		if !errors.Is(rs[adminTopic].Err, kerr.TopicAlreadyExists) {
			return "", failf("got %v", rs[adminTopic].Err)
		}
		return "got " + rs[adminTopic].Err.Error(), nil
	})

	step("kadm ListTopics", 10*time.Second, func(ctx context.Context) (string, error) {
		td, err := adm.ListTopics(ctx)
		if err != nil {
			return "", err
		}
		if !td.Has(adminTopic) || !td.Has(dataTopic) {
			return "", failf("topics missing: %v", td.Names())
		}
		if strings.HasPrefix(strings.Join(td.Names(), ","), "__") {
			return "", failf("internal topic listed: %v", td.Names())
		}
		return fmt.Sprintf("%d topics listed", len(td)), nil
	})

	step("kadm Metadata", 10*time.Second, func(ctx context.Context) (string, error) {
		md, err := adm.Metadata(ctx, adminTopic)
		if err != nil {
			return "", err
		}
		t, ok := md.Topics[adminTopic]
		if !ok || t.Err != nil {
			return "", failf("topic missing or err %v", t.Err)
		}
		if len(t.Partitions) != 3 {
			return "", failf("%d partitions", len(t.Partitions))
		}
		for _, p := range t.Partitions {
			if p.Err != nil || p.Leader != md.Brokers[0].NodeID || len(p.Replicas) != 1 || len(p.ISR) != 1 {
				return "", failf("partition %+v", p)
			}
		}
		if t.ID == (kadm.TopicID{}) {
			return "", failf("zero topic id")
		}
		return fmt.Sprintf("cluster=%q controller=%d brokers=%v topic id=%s", md.Cluster, md.Controller, md.Brokers.NodeIDs(), t.ID), nil
	})

	step("kadm DescribeTopicConfigs", 10*time.Second, func(ctx context.Context) (string, error) {
		m, err := describeConfig(ctx, adm, adminTopic)
		if err != nil {
			return "", err
		}
		c, ok := m["retention.ms"]
		if !ok || cval(c) != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			return "", failf("retention.ms = %s source %v", cval(c), c.Source)
		}
		var keys []string
		for k, c := range m {
			keys = append(keys, fmt.Sprintf("%s=%s(%v)", k, cval(c), c.Source))
		}
		sort.Strings(keys)
		return strings.Join(keys, " "), nil
	})

	step("kadm AlterTopicConfigs (incremental: set + delete)", 10*time.Second, func(ctx context.Context) (string, error) {
		rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("7200000")},
			{Op: kadm.DeleteConfig, Name: "retention.ms"},
		}, adminTopic)
		m, err := describeAfterAlter(ctx, adm, adminTopic, rs, err)
		if err != nil {
			return "", err
		}
		if cval(m["segment.ms"]) != "7200000" || m["segment.ms"].Source != kmsg.ConfigSourceDynamicTopicConfig {
			return "", failf("segment.ms=%s (%v)", cval(m["segment.ms"]), m["segment.ms"].Source)
		}
		if m["retention.ms"].Source == kmsg.ConfigSourceDynamicTopicConfig {
			return "", failf("retention.ms still set on topic: %s", cval(m["retention.ms"]))
		}
		return fmt.Sprintf("segment.ms=%s, retention.ms back to %s (%v)", cval(m["segment.ms"]), cval(m["retention.ms"]), m["retention.ms"].Source), nil
	})

	step("kadm AlterTopicConfigs incremental APPEND -> refused", 10*time.Second, func(ctx context.Context) (string, error) {
		rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("delete")},
		}, adminTopic)
		if err != nil {
			return "", err
		}
		if len(rs) != 1 || rs[0].Err == nil {
			return "", failf("APPEND accepted: %+v", rs)
		}
		return "refused with " + rs[0].Err.Error(), nil
	})

	step("kadm AlterTopicConfigsState (whole-set AlterConfigs)", 10*time.Second, func(ctx context.Context) (string, error) {
		rs, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{
			{Name: "retention.bytes", Value: kadm.StringPtr("123456789")},
		}, adminTopic)
		m, err := describeAfterAlter(ctx, adm, adminTopic, rs, err)
		if err != nil {
			return "", err
		}
		if cval(m["retention.bytes"]) != "123456789" {
			return "", failf("retention.bytes=%s", cval(m["retention.bytes"]))
		}
		if m["segment.ms"].Source == kmsg.ConfigSourceDynamicTopicConfig {
			return "", failf("segment.ms survived a whole-set alter: %s", cval(m["segment.ms"]))
		}
		return fmt.Sprintf("retention.bytes=%s, segment.ms reset to %s (%v)", cval(m["retention.bytes"]), cval(m["segment.ms"]), m["segment.ms"].Source), nil
	})

	step("kadm CreatePartitions (+2 -> 5)", 10*time.Second, func(ctx context.Context) (string, error) {
		rs, err := adm.CreatePartitions(ctx, 2, adminTopic)
		if err != nil {
			return "", err
		}
		if err := rs.Error(); err != nil {
			return "", err
		}
		md, err := adm.Metadata(ctx, adminTopic)
		if err != nil {
			return "", err
		}
		if n := len(md.Topics[adminTopic].Partitions); n != 5 {
			return "", failf("metadata shows %d partitions", n)
		}
		rs2, err := adm.UpdatePartitions(ctx, 4, adminTopic)
		if err != nil {
			return "", err
		}
		shrink := rs2[adminTopic].Err
		if shrink == nil {
			return "", failf("shrink to 4 accepted")
		}
		return "5 partitions; shrink refused with " + shrink.Error(), nil
	})

	// Produce 20 records into adminTopic partition 0 with controlled timestamps.
	var adminBase int64
	step("admin topic: produce 20 records to p0 with timestamps base+i*10ms", 15*time.Second, func(ctx context.Context) (string, error) {
		pcl := newClient(kgo.RecordPartitioner(kgo.ManualPartitioner()))
		defer pcl.Close()
		adminBase = time.Now().Add(-time.Hour).UnixMilli()
		var rs []*kgo.Record
		for i := 0; i < 20; i++ {
			rs = append(rs, &kgo.Record{Topic: adminTopic, Partition: 0, Value: []byte(fmt.Sprintf("v%d", i)), Timestamp: time.UnixMilli(adminBase + int64(i)*10)})
		}
		if err := pcl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			return "", err
		}
		return fmt.Sprintf("offsets %d..%d", rs[0].Offset, rs[19].Offset), nil
	})

	step("kadm ListStartOffsets/ListEndOffsets/ListOffsetsAfterMilli", 10*time.Second, func(ctx context.Context) (string, error) {
		so, err := adm.ListStartOffsets(ctx, adminTopic)
		if err != nil {
			return "", err
		}
		eo, err := adm.ListEndOffsets(ctx, adminTopic)
		if err != nil {
			return "", err
		}
		if err := so.Error(); err != nil {
			return "", err
		}
		if err := eo.Error(); err != nil {
			return "", err
		}
		s0, _ := so.Lookup(adminTopic, 0)
		e0, _ := eo.Lookup(adminTopic, 0)
		e1, _ := eo.Lookup(adminTopic, 1)
		if s0.Offset != 0 || e0.Offset != 20 || e1.Offset != 0 {
			return "", failf("start p0=%d end p0=%d end p1=%d", s0.Offset, e0.Offset, e1.Offset)
		}
		if len(eo[adminTopic]) != 5 {
			return "", failf("end offsets for %d partitions", len(eo[adminTopic]))
		}
		am, err := adm.ListOffsetsAfterMilli(ctx, adminBase+55, adminTopic)
		if err != nil {
			return "", err
		}
		a0, _ := am.Lookup(adminTopic, 0)
		a1, _ := am.Lookup(adminTopic, 1)
		if a0.Err != nil || a0.Offset != 6 || a0.Timestamp != adminBase+60 {
			return "", failf("after base+55ms p0: offset %d ts %d err %v (want 6, base+60)", a0.Offset, a0.Timestamp, a0.Err)
		}
		future, err := adm.ListOffsetsAfterMilli(ctx, time.Now().Add(time.Hour).UnixMilli(), adminTopic)
		if err != nil {
			return "", err
		}
		f0, _ := future.Lookup(adminTopic, 0)
		return fmt.Sprintf("start p0=0 end p0=20 p1=0; after(base+55) p0=%d ts=base+%d, p1=%d (empty); after(future) p0=%d", a0.Offset, a0.Timestamp-adminBase, a1.Offset, f0.Offset), nil
	})

	step("kadm DeleteRecords (p0 before 5) + ListStartOffsets", 10*time.Second, func(ctx context.Context) (string, error) {
		var os kadm.Offsets
		os.AddOffset(adminTopic, 0, 5, -1)
		rs, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			return "", err
		}
		if err := rs.Error(); err != nil {
			return "", err
		}
		r, _ := rs.Lookup(adminTopic, 0)
		if r.LowWatermark != 5 {
			return "", failf("low watermark %d", r.LowWatermark)
		}
		so, err := adm.ListStartOffsets(ctx, adminTopic)
		if err != nil {
			return "", err
		}
		s0, _ := so.Lookup(adminTopic, 0)
		if s0.Offset != 5 {
			return "", failf("start offset now %d", s0.Offset)
		}
		var bad kadm.Offsets
		bad.AddOffset(adminTopic, 0, 100, -1)
		rs2, err := adm.DeleteRecords(ctx, bad)
		if err != nil {
			return "", err
		}
		r2, _ := rs2.Lookup(adminTopic, 0)
		return fmt.Sprintf("low watermark 5; past the end -> %v", r2.Err), nil
	})

	step("Fetch with a partition error answers at once (not after max_wait)", 40*time.Second, func(ctx context.Context) (string, error) {
		type tc struct {
			name  string
			parts map[int32]int64
		}
		cases := []tc{
			{"offset 2 < log start 5 (p0)", map[int32]int64{0: 2}},
			{"offset 1000 > high watermark 20 (p0)", map[int32]int64{0: 1000}},
			{"unknown partition 99", map[int32]int64{99: 0}},
			{"p1 at its end (waits) + p0 offset 2 (error)", map[int32]int64{0: 2, 1: 0}},
		}
		var out []string
		var slow []string
		for _, c := range cases {
			resp, d, err := rawFetch(ctx, acl, 3000, 1<<20, adminTopic, c.parts, 1<<20)
			if err != nil {
				return "", err
			}
			var errs []string
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					errs = append(errs, fmt.Sprintf("p%d:%v", p.Partition, kerr.ErrorForCode(p.ErrorCode)))
				}
			}
			out = append(out, fmt.Sprintf("%s -> %v in %v", c.name, errs, d.Round(time.Millisecond)))
			if d > 1500*time.Millisecond {
				slow = append(slow, c.name)
			}
		}
		if len(slow) > 0 {
			return strings.Join(out, "; "), failf("answered only at max_wait_ms=3000 for: %s", strings.Join(slow, ", "))
		}
		return strings.Join(out, "; "), nil
	})

	step("kgo consume below log start (after DeleteRecords) -> reset to start; At(10) exact", 30*time.Second, func(ctx context.Context) (string, error) {
		c := newClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{adminTopic: {0: kgo.NewOffset().At(2)}}),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer c.Close()
		var first int64 = -1
		n, err := consumeN(ctx, c, 15, func(r *kgo.Record) error {
			if first < 0 {
				first = r.Offset
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		if first != 5 {
			return "", failf("first offset %d, log start is 5", first)
		}
		c2 := newClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{adminTopic: {0: kgo.NewOffset().At(10)}}))
		defer c2.Close()
		var first2 int64 = -1
		var ts2 int64
		if _, err := consumeN(ctx, c2, 10, func(r *kgo.Record) error {
			if first2 < 0 {
				first2, ts2 = r.Offset, r.Timestamp.UnixMilli()
			}
			return nil
		}); err != nil {
			return "", err
		}
		if first2 != 10 || ts2 != adminBase+100 {
			return "", failf("At(10) gave offset %d ts base+%d", first2, ts2-adminBase)
		}
		return fmt.Sprintf("At(2) below start 5 -> reset, first offset %d, %d read; At(10) -> offset 10 ts base+100", first, n), nil
	})

	// ---------------- producers ----------------
	exp := newStore()
	codecs := []struct {
		name string
		c    kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	}
	phaseStart := map[string]int64{}
	for _, cd := range codecs {
		cd := cd
		step("kgo produce idempotent acks=all codec="+cd.name+" (200 sync + 200 async)", 30*time.Second, func(ctx context.Context) (string, error) {
			time.Sleep(20 * time.Millisecond)
			phaseStart[cd.name] = time.Now().UnixMilli()
			time.Sleep(5 * time.Millisecond)
			pcl := newClient(kgo.ProducerBatchCompression(cd.c), kgo.ProducerLinger(5*time.Millisecond))
			defer pcl.Close()
			var syncRecs []*kgo.Record
			for i := 0; i < 200; i++ {
				syncRecs = append(syncRecs, mkRecord(dataTopic, cd.name, i))
			}
			// send in 4 ProduceSync calls
			for j := 0; j < 4; j++ {
				res := pcl.ProduceSync(ctx, syncRecs[j*50:(j+1)*50]...)
				if err := res.FirstErr(); err != nil {
					return "", fmt.Errorf("ProduceSync: %w", err)
				}
			}
			var mu sync.Mutex
			var perr error
			var async []*kgo.Record
			for i := 200; i < 400; i++ {
				r := mkRecord(dataTopic, cd.name, i)
				async = append(async, r)
				pcl.Produce(ctx, r, func(r *kgo.Record, err error) {
					if err != nil {
						mu.Lock()
						if perr == nil {
							perr = err
						}
						mu.Unlock()
					}
				})
			}
			if err := pcl.Flush(ctx); err != nil {
				return "", fmt.Errorf("Flush: %w", err)
			}
			if perr != nil {
				return "", fmt.Errorf("async produce: %w", perr)
			}
			keyPart := map[string]int32{}
			for _, r := range append(syncRecs, async...) {
				if err := exp.add(r, cd.name); err != nil {
					return "", err
				}
				if r.Key != nil {
					if p, ok := keyPart[string(r.Key)]; ok && p != r.Partition {
						return "", failf("key %s in partitions %d and %d", r.Key, p, r.Partition)
					}
					keyPart[string(r.Key)] = r.Partition
				}
			}
			d, err := exp.dense()
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("total %d, dense: %s", exp.total(), d), nil
		})
	}

	step("kgo produce non-idempotent acks=1 (200 records, gzip)", 30*time.Second, func(ctx context.Context) (string, error) {
		time.Sleep(20 * time.Millisecond)
		phaseStart["acks1"] = time.Now().UnixMilli()
		time.Sleep(5 * time.Millisecond)
		pcl := newClient(kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck()), kgo.ProducerBatchCompression(kgo.GzipCompression()))
		defer pcl.Close()
		var rs []*kgo.Record
		for i := 0; i < 200; i++ {
			rs = append(rs, mkRecord(dataTopic, "acks1", i))
		}
		if err := pcl.ProduceSync(ctx, rs[:100]...).FirstErr(); err != nil {
			return "", err
		}
		for _, r := range rs[100:] {
			pcl.Produce(ctx, r, nil)
		}
		if err := pcl.Flush(ctx); err != nil {
			return "", err
		}
		for _, r := range rs {
			if r.Offset < 0 {
				return "", failf("record not acked")
			}
			if err := exp.add(r, "acks1"); err != nil {
				return "", err
			}
		}
		d, err := exp.dense()
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("total %d, dense: %s", exp.total(), d), nil
	})

	step("kadm ListEndOffsets == produced counts", 10*time.Second, func(ctx context.Context) (string, error) {
		eo, err := adm.ListEndOffsets(ctx, dataTopic)
		if err != nil {
			return "", err
		}
		var out []string
		for p := int32(0); p < 3; p++ {
			o, _ := eo.Lookup(dataTopic, p)
			if o.Offset != int64(len(exp.recs[p])) {
				return "", failf("p%d end %d, produced %d", p, o.Offset, len(exp.recs[p]))
			}
			out = append(out, fmt.Sprintf("p%d=%d", p, o.Offset))
		}
		return strings.Join(out, " "), nil
	})

	total := exp.total()

	// ---------------- consumers ----------------
	step("kgo ConsumePartitions from start, verify every record byte for byte", 60*time.Second, func(ctx context.Context) (string, error) {
		fc := &fetchCounter{}
		parts := map[string]map[int32]kgo.Offset{dataTopic: {}}
		for p := int32(0); p < 3; p++ {
			parts[dataTopic][p] = kgo.NewOffset().AtStart()
		}
		ccl := newClient(kgo.ConsumePartitions(parts), kgo.WithHooks(fc), kgo.FetchMaxBytes(64*1024), kgo.FetchMaxPartitionBytes(32*1024))
		defer ccl.Close()
		seen := map[int32]map[int64]bool{0: {}, 1: {}, 2: {}}
		next := map[int32]int64{}
		n, err := consumeN(ctx, ccl, total, func(r *kgo.Record) error {
			if r.Offset != next[r.Partition] {
				return failf("p%d: got offset %d, expected %d", r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
			e, ok := exp.recs[r.Partition][r.Offset]
			if !ok {
				return failf("unexpected record p%d@%d", r.Partition, r.Offset)
			}
			seen[r.Partition][r.Offset] = true
			return sameRecord(e, r)
		})
		if err != nil {
			return fmt.Sprintf("%d records read", n), err
		}
		// Second phase: after the initial read, new records must still arrive (session id 0 handling).
		pcl := newClient()
		defer pcl.Close()
		var more []*kgo.Record
		for i := 0; i < 30; i++ {
			more = append(more, mkRecord(dataTopic, "late", 1000+i))
		}
		before := atomic.LoadInt64(&fc.fetchReqs)
		prodDone := make(chan error, 1)
		go func() {
			time.Sleep(700 * time.Millisecond)
			prodDone <- pcl.ProduceSync(ctx, more...).FirstErr()
		}()
		m, err := consumeN(ctx, ccl, len(more), func(r *kgo.Record) error {
			if r.Offset != next[r.Partition] {
				return failf("late p%d: got offset %d, expected %d", r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
			if !bytes.HasPrefix(r.Value, []byte("late|")) && r.Value != nil && len(r.Value) > 0 {
				return failf("unexpected late value %q", r.Value[:10])
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("late records: %w", err)
		}
		if err := <-prodDone; err != nil {
			return "", fmt.Errorf("late produce: %w", err)
		}
		for _, r := range more {
			if err := exp.add(r, "late"); err != nil {
				return "", err
			}
		}
		if _, err := exp.dense(); err != nil {
			return "", err
		}
		return fmt.Sprintf("%d records verified (dense, in order), then %d late records after a long poll; %d fetch requests (%d after the first read), %d fetch write errors, largest fetch response %d bytes (FetchMaxBytes 65536)", n, m, atomic.LoadInt64(&fc.fetchReqs), atomic.LoadInt64(&fc.fetchReqs)-before, fc.fetchErrs, atomic.LoadInt64(&fc.maxRead)), nil
	})
	total = exp.total()

	step("Fetch size limits (raw Fetch v12 walk: max_bytes 65536, partition_max_bytes 32768)", 20*time.Second, func(ctx context.Context) (string, error) {
		next := map[int32]int64{0: 0, 1: 0, 2: 0}
		ends := map[int32]int64{}
		for p := int32(0); p < 3; p++ {
			ends[p] = int64(len(exp.recs[p]))
		}
		var viol []string
		maxTotal, fetches := 0, 0
		for fetches < 200 {
			want := map[int32]int64{}
			for p, o := range next {
				if o < ends[p] {
					want[p] = o
				}
			}
			if len(want) == 0 {
				break
			}
			resp, _, err := rawFetch(ctx, acl, 100, 65536, dataTopic, want, 32768)
			if err != nil {
				return "", err
			}
			fetches++
			total := 0
			firstNonEmpty := true
			var desc []string
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if p.ErrorCode != 0 {
						return "", kerr.ErrorForCode(p.ErrorCode)
					}
					bs := batchSizes(p.RecordBatches)
					n := len(p.RecordBatches)
					allowed := 32768
					if 65536-total < allowed {
						allowed = 65536 - total
					}
					desc = append(desc, fmt.Sprintf("p%d@%d %d bytes %v (allowed %d)", p.Partition, want[p.Partition], n, bs, allowed))
					if n > allowed && !(firstNonEmpty && len(bs) == 1) {
						viol = append(viol, fmt.Sprintf("fetch %d: %s", fetches, strings.Join(desc, ", ")))
					}
					if n > 0 {
						firstNonEmpty = false
					}
					total += n
					// advance past the last whole batch
					b := p.RecordBatches
					for _, sz := range bs {
						if sz < 0 {
							break
						}
						base := int64(uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7]))
						lod := int64(int32(uint32(b[23])<<24 | uint32(b[24])<<16 | uint32(b[25])<<8 | uint32(b[26])))
						next[p.Partition] = base + lod + 1
						b = b[sz:]
					}
				}
			}
			if total > maxTotal {
				maxTotal = total
			}
		}
		d := fmt.Sprintf("%d fetches walked the topic, largest record set total %d bytes", fetches, maxTotal)
		if len(viol) > 0 {
			return d, failf("%d fetches over the requested limits where Kafka would stay within them, e.g. %s", len(viol), viol[0])
		}
		return d, nil
	})

	step("fetch sessions: raw Fetch v12 with session epoch 0 -> session id", 10*time.Second, func(ctx context.Context) (string, error) {
		// What franz-go sends first: SessionID 0, SessionEpoch 0 (create a session).
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.ReplicaID = -1
		req.MaxWaitMillis = 100
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		req.SessionID = 0
		req.SessionEpoch = 0
		t := kmsg.NewFetchRequestTopic()
		t.Topic = dataTopic
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition = 0
		p.FetchOffset = 0
		p.PartitionMaxBytes = 1024
		p.CurrentLeaderEpoch = -1
		p.LogStartOffset = -1
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
		resp, err := req.RequestWith(ctx, acl)
		if err != nil {
			return "", err
		}
		d := fmt.Sprintf("epoch0 -> error=%v session_id=%d", kerr.ErrorForCode(resp.ErrorCode), resp.SessionID)
		// What franz-go sends after a session id 0 answer: epoch -1 (full fetch, no session)
		req.SessionEpoch = -1
		resp2, err := req.RequestWith(ctx, acl)
		if err != nil {
			return d, err
		}
		d += fmt.Sprintf("; epoch-1 -> error=%v session_id=%d records=%d bytes", kerr.ErrorForCode(resp2.ErrorCode), resp2.SessionID, len(resp2.Topics[0].Partitions[0].RecordBatches))
		if resp.ErrorCode != 0 || resp2.ErrorCode != 0 {
			return d, failf("fetch error code")
		}
		return d, nil
	})

	var committedG1 map[int32]int64
	step("group g1: autocommit off, read ~half, CommitUncommittedOffsets", 60*time.Second, func(ctx context.Context) (string, error) {
		var assigned atomic.Value
		c1 := newClient(kgo.ConsumerGroup(group1), kgo.ConsumeTopics(dataTopic), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(8*1024), kgo.FetchMaxBytes(16*1024),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { assigned.Store(fmt.Sprint(m)) }))
		next := map[int32]int64{}
		n := 0
		for n < total/2 {
			fs := c1.PollFetches(ctx)
			if ctx.Err() != nil {
				c1.Close()
				return "", fmt.Errorf("timeout after %d records", n)
			}
			if err := fs.Err(); err != nil {
				c1.Close()
				return "", err
			}
			var verr error
			fs.EachRecord(func(r *kgo.Record) {
				n++
				if verr == nil && r.Offset != next[r.Partition] {
					verr = failf("p%d offset %d want %d", r.Partition, r.Offset, next[r.Partition])
				}
				next[r.Partition] = r.Offset + 1
				if e, ok := exp.recs[r.Partition][r.Offset]; ok && verr == nil {
					verr = sameRecord(e, r)
				}
			})
			if verr != nil {
				c1.Close()
				return "", verr
			}
		}
		if err := c1.CommitUncommittedOffsets(ctx); err != nil {
			c1.Close()
			return "", fmt.Errorf("CommitUncommittedOffsets: %w", err)
		}
		comm := c1.CommittedOffsets()
		committedG1 = map[int32]int64{}
		for p, eo := range comm[dataTopic] {
			committedG1[p] = eo.Offset
		}
		for p, o := range next {
			if committedG1[p] != o {
				c1.Close()
				return "", failf("client says committed p%d=%d, consumed to %d", p, committedG1[p], o)
			}
		}
		c1.Close() // leaves the group
		fo, err := adm.FetchOffsets(ctx, group1)
		if err != nil {
			return "", err
		}
		for p, o := range committedG1 {
			r, ok := fo.Lookup(dataTopic, p)
			if !ok || r.Err != nil || r.At != o {
				return "", failf("broker has p%d=%d (err %v), client committed %d", p, r.At, r.Err, o)
			}
		}
		return fmt.Sprintf("assigned %v, read %d, committed %v (confirmed by OffsetFetch)", assigned.Load(), n, committedG1), nil
	})

	step("group g1: second client resumes exactly at the commits", 60*time.Second, func(ctx context.Context) (string, error) {
		if committedG1 == nil {
			return "", failf("no commits from previous step")
		}
		c2 := newClient(kgo.ConsumerGroup(group1), kgo.ConsumeTopics(dataTopic), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer c2.Close()
		first := map[int32]int64{}
		next := map[int32]int64{}
		want := 0
		for p := int32(0); p < 3; p++ {
			want += len(exp.recs[p]) - int(committedG1[p])
		}
		n, err := consumeN(ctx, c2, want, func(r *kgo.Record) error {
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
				if r.Offset != committedG1[r.Partition] {
					return failf("p%d resumed at %d, committed %d", r.Partition, r.Offset, committedG1[r.Partition])
				}
				next[r.Partition] = r.Offset
			}
			if r.Offset != next[r.Partition] {
				return failf("p%d offset %d want %d", r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
			return sameRecord(exp.recs[r.Partition][r.Offset], r)
		})
		if err != nil {
			return fmt.Sprintf("%d read", n), err
		}
		// nothing more should come
		sctx, c := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer c()
		fs := c2.PollFetches(sctx)
		if fs.NumRecords() > 0 {
			return "", failf("%d extra records after the end", fs.NumRecords())
		}
		if err := c2.CommitUncommittedOffsets(ctx); err != nil {
			return "", err
		}
		return fmt.Sprintf("first offsets %v == commits; read %d remaining records, none extra", first, n), nil
	})

	// Two members splitting partitions.
	var g2desc string
	step("group g2: two clients split 3 partitions (cooperative-sticky), no loss/dup", 90*time.Second, func(ctx context.Context) (string, error) {
		type member struct {
			cl       *kgo.Client
			mu       sync.Mutex
			assigned map[int32]bool
			events   []string
		}
		mk := func(name string) *member {
			m := &member{assigned: map[int32]bool{}}
			m.cl = newClient(kgo.ConsumerGroup(group2), kgo.ConsumeTopics(dataTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.FetchMaxPartitionBytes(8*1024), kgo.FetchMaxBytes(16*1024),
				kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
					m.mu.Lock()
					for _, p := range a[dataTopic] {
						m.assigned[p] = true
					}
					m.events = append(m.events, fmt.Sprintf("+%v", a[dataTopic]))
					m.mu.Unlock()
				}),
				kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
					m.mu.Lock()
					for _, p := range a[dataTopic] {
						delete(m.assigned, p)
					}
					m.events = append(m.events, fmt.Sprintf("-%v", a[dataTopic]))
					m.mu.Unlock()
				}),
				kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
					m.mu.Lock()
					for _, p := range a[dataTopic] {
						delete(m.assigned, p)
					}
					m.events = append(m.events, fmt.Sprintf("lost%v", a[dataTopic]))
					m.mu.Unlock()
				}),
			)
			return m
		}
		a := mk("a")
		b := mk("b")
		defer a.cl.Close()
		defer b.cl.Close()
		snapshot := func(m *member) []int32 {
			m.mu.Lock()
			defer m.mu.Unlock()
			var ps []int32
			for p := range m.assigned {
				ps = append(ps, p)
			}
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
			return ps
		}
		// Poll both concurrently until every record was seen.
		var mu sync.Mutex
		seen := map[int32]map[int64]int{0: {}, 1: {}, 2: {}}
		count := 0
		dups := 0
		var perr error
		var wg sync.WaitGroup
		pctx, pcancel := context.WithCancel(ctx)
		defer pcancel()
		for _, m := range []*member{a, b} {
			m := m
			wg.Add(1)
			go func() {
				defer wg.Done()
				for pctx.Err() == nil {
					sctx, scancel := context.WithTimeout(pctx, 500*time.Millisecond)
					fs := m.cl.PollFetches(sctx)
					scancel()
					fs.EachError(func(t string, p int32, err error) {
						if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
							mu.Lock()
							if perr == nil {
								perr = fmt.Errorf("%s/%d: %w", t, p, err)
							}
							mu.Unlock()
						}
					})
					fs.EachRecord(func(r *kgo.Record) {
						mu.Lock()
						seen[r.Partition][r.Offset]++
						if seen[r.Partition][r.Offset] > 1 {
							dups++
						} else {
							count++
						}
						if perr == nil {
							if e, ok := exp.recs[r.Partition][r.Offset]; ok {
								perr = sameRecord(e, r)
							}
						}
						mu.Unlock()
					})
					mu.Lock()
					done := count >= total || perr != nil
					mu.Unlock()
					if done {
						// keep waiting until both have a stable disjoint assignment
						sa, sb := snapshot(a), snapshot(b)
						if len(sa)+len(sb) == 3 && len(sa) > 0 && len(sb) > 0 || perr != nil {
							pcancel()
						}
					}
				}
			}()
		}
		wg.Wait()
		sa, sb := snapshot(a), snapshot(b)
		detail := fmt.Sprintf("a=%v events %v; b=%v events %v; %d/%d unique, %d dup", sa, a.events, sb, b.events, count, total, dups)
		if perr != nil {
			return detail, perr
		}
		if ctx.Err() != nil {
			return detail, failf("timed out")
		}
		union := map[int32]int{}
		for _, p := range sa {
			union[p]++
		}
		for _, p := range sb {
			union[p]++
		}
		if len(union) != 3 {
			return detail, failf("assignment incomplete")
		}
		for p, c := range union {
			if c != 1 {
				return detail, failf("partition %d assigned %d times", p, c)
			}
		}
		if count != total {
			return detail, failf("lost records")
		}
		if dups != 0 {
			return detail, failf("duplicates")
		}
		// Describe the group while both are live.
		dg, err := adm.DescribeGroups(ctx, group2)
		if err != nil {
			return detail, err
		}
		g := dg[group2]
		g2desc = fmt.Sprintf("state=%s protocol_type=%s protocol=%s members=%d", g.State, g.ProtocolType, g.Protocol, len(g.Members))
		for _, m := range g.Members {
			ca, _ := m.Assigned.AsConsumer()
			var ps []int32
			for _, t := range ca.Topics {
				ps = append(ps, t.Partitions...)
			}
			g2desc += fmt.Sprintf(" [%s %s %v]", m.ClientID, m.ClientHost, ps)
		}
		// CommitOffsets from admin while the group has live members must be refused.
		var os kadm.Offsets
		os.AddOffset(dataTopic, 0, 0, -1)
		cr, err := adm.CommitOffsets(ctx, group2, os)
		liveCommit := ""
		if err != nil {
			liveCommit = err.Error()
		} else if e := cr.Error(); e != nil {
			liveCommit = e.Error()
		} else {
			return detail, failf("admin commit into a live group accepted")
		}
		return detail + "; described: " + g2desc + "; admin commit while live refused: " + liveCommit, nil
	})

	step("kadm DescribeGroups (g2 live) Stable, 2 members, cooperative-sticky", 10*time.Second, func(ctx context.Context) (string, error) {
		if !strings.Contains(g2desc, "state=Stable") || !strings.Contains(g2desc, "members=2") || !strings.Contains(g2desc, "protocol=cooperative-sticky") {
			return g2desc, failf("unexpected description")
		}
		return g2desc, nil
	})

	step("kadm ListGroups / DescribeGroups (after members left)", 15*time.Second, func(ctx context.Context) (string, error) {
		lg, err := adm.ListGroups(ctx)
		if err != nil {
			return "", err
		}
		for _, g := range []string{group1, group2} {
			if _, ok := lg[g]; !ok {
				return "", failf("group %s not listed (%d listed)", g, len(lg))
			}
		}
		dg, err := adm.DescribeGroups(ctx, group1, group2)
		if err != nil {
			return "", err
		}
		if err := dg.Error(); err != nil {
			return "", err
		}
		var out []string
		for _, g := range []string{group1, group2} {
			out = append(out, fmt.Sprintf("%s: listed state=%s type=%s, described state=%s members=%d", g, lg[g].State, lg[g].ProtocolType, dg[g].State, len(dg[g].Members)))
			if dg[g].State != "Empty" {
				return strings.Join(out, "; "), failf("%s not Empty after its members closed", g)
			}
		}
		lge, err := adm.ListGroups(ctx, "Empty")
		if err != nil {
			return "", err
		}
		return strings.Join(out, "; ") + fmt.Sprintf("; ListGroups(Empty) -> %d", len(lge)), nil
	})

	step("kadm FetchOffsets + CommitOffsets (reset g1 to 0/10/20 while empty), consumer follows", 60*time.Second, func(ctx context.Context) (string, error) {
		fo, err := adm.FetchOffsets(ctx, group1)
		if err != nil {
			return "", err
		}
		if err := fo.Error(); err != nil {
			return "", err
		}
		for p := int32(0); p < 3; p++ {
			r, _ := fo.Lookup(dataTopic, p)
			if r.At != int64(len(exp.recs[p])) {
				return "", failf("g1 p%d committed %d, end %d", p, r.At, len(exp.recs[p]))
			}
		}
		var os kadm.Offsets
		reset := map[int32]int64{0: 0, 1: 10, 2: 20}
		for p, o := range reset {
			os.Add(kadm.Offset{Topic: dataTopic, Partition: p, At: o, LeaderEpoch: -1, Metadata: "reset-by-probe"})
		}
		cr, err := adm.CommitOffsets(ctx, group1, os)
		if err != nil {
			return "", err
		}
		if err := cr.Error(); err != nil {
			return "", err
		}
		fo2, err := adm.FetchOffsets(ctx, group1)
		if err != nil {
			return "", err
		}
		for p, o := range reset {
			r, _ := fo2.Lookup(dataTopic, p)
			if r.At != o || r.Metadata != "reset-by-probe" {
				return "", failf("after reset p%d=%d meta %q", p, r.At, r.Metadata)
			}
		}
		c := newClient(kgo.ConsumerGroup(group1), kgo.ConsumeTopics(dataTopic), kgo.DisableAutoCommit())
		defer c.Close()
		want := 0
		for p, o := range reset {
			want += len(exp.recs[p]) - int(o)
		}
		first := map[int32]int64{}
		n, err := consumeN(ctx, c, want, func(r *kgo.Record) error {
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
				if r.Offset != reset[r.Partition] {
					return failf("p%d started at %d, reset to %d", r.Partition, r.Offset, reset[r.Partition])
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		if err := c.CommitUncommittedOffsets(ctx); err != nil {
			return "", fmt.Errorf("commit after reading: %w", err)
		}
		return fmt.Sprintf("fetched commits = ends; reset to %v; consumer started at %v and read %d (then committed)", reset, first, n), nil
	})

	step("kadm Lag (g1) + DeleteGroups (g2)", 15*time.Second, func(ctx context.Context) (string, error) {
		lags, err := adm.Lag(ctx, group1)
		if err != nil {
			return "", err
		}
		if err := lags.Error(); err != nil {
			return "", err
		}
		l := lags[group1]
		var out []string
		for _, ml := range l.Lag.Sorted() {
			if ml.Err != nil {
				return "", ml.Err
			}
			if ml.Lag != 0 {
				out = append(out, fmt.Sprintf("p%d lag %d (commit %d end %d)", ml.Partition, ml.Lag, ml.Commit.At, ml.End.Offset))
			}
		}
		if len(out) > 0 {
			return strings.Join(out, " "), failf("nonzero lag after the consumer read everything")
		}
		dr, err := adm.DeleteGroups(ctx, group2)
		if err != nil {
			return "", err
		}
		if err := dr.Error(); err != nil {
			return "", err
		}
		lg, err := adm.ListGroups(ctx)
		if err != nil {
			return "", err
		}
		if _, ok := lg[group2]; ok {
			return "", failf("g2 still listed")
		}
		return fmt.Sprintf("g1 state %s, total lag %d over %d partitions; g2 deleted", l.State, l.Lag.Total(), len(l.Lag.Sorted())), nil
	})

	step("ConsumeResetOffset(AfterMilli(ts)) replay by timestamp", 60*time.Second, func(ctx context.Context) (string, error) {
		ts := phaseStart["lz4"]
		if ts == 0 {
			return "", failf("no lz4 phase timestamp")
		}
		// expected: per partition, the first offset with timestamp >= ts
		want := map[int32]int64{}
		wantN := 0
		for p := int32(0); p < 3; p++ {
			best := int64(-1)
			for o, r := range exp.recs[p] {
				if r.TsMs >= ts && (best < 0 || o < best) {
					best = o
				}
			}
			want[p] = best
			wantN += len(exp.recs[p]) - int(best)
		}
		lo, err := adm.ListOffsetsAfterMilli(ctx, ts, dataTopic)
		if err != nil {
			return "", err
		}
		for p := int32(0); p < 3; p++ {
			l, _ := lo.Lookup(dataTopic, p)
			if l.Offset != want[p] {
				return "", failf("ListOffsetsAfterMilli p%d = %d, want %d", p, l.Offset, want[p])
			}
		}
		c := newClient(kgo.ConsumeTopics(dataTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(ts)))
		defer c.Close()
		first := map[int32]int64{}
		n, err := consumeN(ctx, c, wantN, func(r *kgo.Record) error {
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
				if r.Offset != want[r.Partition] {
					return failf("p%d started at %d, want %d", r.Partition, r.Offset, want[r.Partition])
				}
			}
			return sameRecord(exp.recs[r.Partition][r.Offset], r)
		})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("ts=lz4 phase start; started at %v (== ListOffsetsAfterMilli), read %d", first, n), nil
	})

	// ---------------- transactions ----------------
	step("transactional producer: fails promptly with TRANSACTIONAL_ID_AUTHORIZATION_FAILED", 40*time.Second, func(ctx context.Context) (string, error) {
		t0 := time.Now()
		tcl := newClient(kgo.TransactionalID("fz-txn-"+suffix), kgo.TransactionTimeout(10*time.Second))
		defer tcl.Close()
		berr := tcl.BeginTransaction()
		bdur := time.Since(t0)
		pctx, c := context.WithTimeout(ctx, 30*time.Second)
		defer c()
		t1 := time.Now()
		perr := tcl.ProduceSync(pctx, &kgo.Record{Topic: dataTopic, Value: []byte("txn")}).FirstErr()
		pdur := time.Since(t1)
		t2 := time.Now()
		eerr := tcl.EndTransaction(pctx, kgo.TryAbort)
		edur := time.Since(t2)
		d := fmt.Sprintf("NewClient+BeginTransaction -> %v after %v; ProduceSync -> %v after %v; EndTransaction(abort) -> %v after %v",
			berr, bdur.Round(time.Millisecond), perr, pdur.Round(time.Millisecond), eerr, edur.Round(time.Millisecond))
		first := berr
		if first == nil {
			first = perr
		}
		if first == nil {
			return d, failf("transaction was not refused")
		}
		if !errors.Is(first, kerr.TransactionalIDAuthorizationFailed) {
			return d, failf("wrong error")
		}
		if bdur+pdur+edur > 5*time.Second {
			return d, failf("not prompt")
		}
		return d, nil
	})

	// ---------------- message too large ----------------
	step("record over max.message.bytes -> MESSAGE_TOO_LARGE promptly; producer recovers", 30*time.Second, func(ctx context.Context) (string, error) {
		rs, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("10000")}, bigTopic)
		if err != nil {
			return "", err
		}
		if err := rs.Error(); err != nil {
			return "", err
		}
		pcl := newClient()
		defer pcl.Close()
		ok1 := pcl.ProduceSync(ctx, &kgo.Record{Topic: bigTopic, Value: []byte("small-before")}).FirstErr()
		t0 := time.Now()
		// incompressible: franz-go compresses with snappy by default, and the
		// limit applies to the batch as sent (compressed), as in Kafka.
		bigv := make([]byte, 50000)
		rand.Read(bigv)
		big := &kgo.Record{Topic: bigTopic, Value: bigv}
		perr := pcl.ProduceSync(ctx, big).FirstErr()
		dur := time.Since(t0)
		t1 := time.Now()
		ok2 := pcl.ProduceSync(ctx, &kgo.Record{Topic: bigTopic, Value: []byte("small-after")}).FirstErr()
		d := fmt.Sprintf("before: %v; big: %v after %v; next small record: %v after %v", ok1, perr, dur.Round(time.Millisecond), ok2, time.Since(t1).Round(time.Millisecond))
		if !errors.Is(perr, kerr.MessageTooLarge) {
			return d, failf("wanted MESSAGE_TOO_LARGE")
		}
		if dur > 5*time.Second {
			return d, failf("not prompt")
		}
		if ok1 != nil || ok2 != nil {
			return d, failf("small records failed")
		}
		return d, nil
	})

	// ---------------- delete ----------------
	step("kadm DeleteTopics", 15*time.Second, func(ctx context.Context) (string, error) {
		rs, err := adm.DeleteTopics(ctx, adminTopic, dataTopic, bigTopic)
		if err != nil {
			return "", err
		}
		if err := rs.Error(); err != nil {
			return "", err
		}
		td, err := adm.ListTopics(ctx)
		if err != nil {
			return "", err
		}
		for _, t := range []string{adminTopic, dataTopic, bigTopic} {
			if td.Has(t) {
				return "", failf("%s still listed", t)
			}
		}
		rs2, err := adm.DeleteTopics(ctx, adminTopic)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("3 deleted; deleting again -> %v", rs2[adminTopic].Err), nil
	})
	_ = group3

	fmt.Printf("\nSUMMARY: %d PASS, %d FAIL\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
