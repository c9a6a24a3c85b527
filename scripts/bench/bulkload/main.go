// Command bulkload measures Elasticsearch's own indexing ceiling: it sends
// pre-encoded documents (NDJSON, one JSON document per line, e.g. the
// output of `eximship parse`) to the bulk API with N concurrent requests,
// with op_type create and an _id per document like eximship, and reports
// docs/s. It does no parsing or encoding of its own beyond adding the
// action lines, so `eximship run` can be compared with it (issue 4: goal
// >= 90% of this ceiling).
//
//	go run ./scripts/bench/bulkload -in docs.ndjson -repeat 10 -workers 2
//
// Item-level 429s are sent again (counted); other failed items are
// counted and reported. The summary is one JSON object on stdout.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/elastic"
)

type summary struct {
	Docs        int64   `json:"docs"`
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	DocsPerSec  float64 `json:"docs_per_sec"`
	MBPerSec    float64 `json:"mb_per_sec"`
	Requests    int64   `json:"requests"`
	Retried429  int64   `json:"retried_429"`
	Failed      int64   `json:"failed"`
	Workers     int     `json:"workers"`
	FlushBytes  int     `json:"flush_bytes"`
	Index       string  `json:"index"`
	FirstError  string  `json:"first_error,omitempty"`
	CPUSeconds  float64 `json:"loader_cpu_seconds"`
	InputDocs   int     `json:"input_docs"`
	Repeat      int     `json:"repeat"`
	Compression bool    `json:"compression"`
}

func main() {
	log.SetFlags(0)
	url := flag.String("es", envOr("EXIMSHIP_ES_URL", "http://127.0.0.1:9200"), "Elasticsearch `URL`")
	in := flag.String("in", "-", "NDJSON documents `file` (.gz ok; - for stdin)")
	index := flag.String("index", "", "target data stream; default: logs-<data_stream.dataset>-<namespace> of each document, else logs-exim.main-bench")
	workers := flag.Int("workers", 2, "concurrent bulk requests")
	flushBytes := flag.Int("flush-bytes", elastic.DefaultFlushBytes, "bulk request body size")
	repeat := flag.Int("repeat", 1, "send the input this many times (new ids each time)")
	limit := flag.Int("limit", 0, "stop after this many documents (0: all)")
	prefix := flag.String("id-prefix", "bulkload-"+strconv.FormatInt(time.Now().UnixNano(), 36), "topic of the document ids (eximship's ids: shipper.DocID of topic, offset n)")
	noIDs := flag.Bool("no-ids", false, "let Elasticsearch choose ids (faster, unlike eximship)")
	install := flag.Bool("install-templates", true, "install eximship's index templates first (same mappings as eximship)")
	compress := flag.Bool("compress", false, "gzip request bodies")
	viaSink := flag.Bool("via-sink", false, "send through eximship's elastic.Sink (WriteBatch per FlushBytes of documents) instead of the bare loop, to measure the sink's overhead")
	flag.Parse()

	docs, err := readDocs(*in)
	if err != nil {
		log.Fatalf("bulkload: %v", err)
	}
	if len(docs) == 0 {
		log.Fatal("bulkload: no documents")
	}
	client, err := elastic.NewClient(elastic.Config{Addresses: []string{*url}, CompressRequestBody: *compress})
	if err != nil {
		log.Fatalf("bulkload: %v", err)
	}
	ctx := context.Background()
	if *install {
		if _, err := mapping.Install(ctx, client, mapping.Options{}); err != nil {
			log.Fatalf("bulkload: installing templates: %v", err)
		}
	}
	streams := make([]string, len(docs))
	for i, d := range docs {
		streams[i] = *index
		if streams[i] == "" {
			streams[i] = streamOf(d)
		}
	}

	if *viaSink {
		runSink(ctx, *url, docs, streams, *prefix, *workers, *flushBytes, *repeat, *limit, *compress)
		return
	}
	bodies := make(chan []byte, *workers)
	var s summary
	s.Workers, s.FlushBytes, s.Index, s.InputDocs, s.Repeat, s.Compression = *workers, *flushBytes, *index, len(docs), *repeat, *compress
	var firstErr atomic.Value
	var wg sync.WaitGroup
	post := func(body []byte) (int, []byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "/_bulk?filter_path=errors,items.*.error.type,items.*.status", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		res, err := client.Perform(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, b, err
	}
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range bodies {
				for attempt := 0; len(body) > 0; attempt++ {
					atomic.AddInt64(&s.Requests, 1)
					status, resp, err := post(body)
					if err == nil && status != 200 {
						err = fmt.Errorf("status %d: %.300s", status, resp)
					}
					if err != nil {
						firstErr.CompareAndSwap(nil, err.Error())
						if attempt > 20 {
							atomic.AddInt64(&s.Failed, int64(bytes.Count(body, []byte("\n"))/2))
							break
						}
						time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
						continue
					}
					retry, failed, err := failures(body, resp)
					if err != nil {
						log.Fatalf("bulkload: %v", err)
					}
					atomic.AddInt64(&s.Failed, failed)
					if len(retry) > 0 {
						atomic.AddInt64(&s.Retried429, int64(bytes.Count(retry, []byte("\n"))/2))
						time.Sleep(100 * time.Millisecond)
					}
					body = retry
				}
			}
		}()
	}

	cpu0 := cpuSeconds()
	start := time.Now()
	var n int64
	var buf []byte
	total := len(docs) * *repeat
	if *limit > 0 && *limit < total {
		total = *limit
	}
	for i := 0; i < total; i++ {
		d := docs[i%len(docs)]
		buf = append(buf, `{"create":{"_index":"`...)
		buf = append(buf, streams[i%len(docs)]...)
		if !*noIDs {
			buf = append(buf, `","_id":"`...)
			buf = shipper.AppendDocID(buf, shipper.Position{Topic: *prefix, Offset: int64(i)}, 0)
		}
		buf = append(buf, "\"}}\n"...)
		buf = append(buf, d...)
		buf = append(buf, '\n')
		n++
		s.Bytes += int64(len(d))
		if len(buf) >= *flushBytes {
			bodies <- buf
			buf = make([]byte, 0, *flushBytes+64<<10)
		}
	}
	if len(buf) > 0 {
		bodies <- buf
	}
	close(bodies)
	wg.Wait()
	el := time.Since(start)
	s.Docs = n - s.Failed
	s.Seconds = el.Seconds()
	s.DocsPerSec = float64(s.Docs) / el.Seconds()
	s.MBPerSec = float64(s.Bytes) / 1e6 / el.Seconds()
	s.CPUSeconds = cpuSeconds() - cpu0
	if e, ok := firstErr.Load().(string); ok {
		s.FirstError = e
	}
	fmt.Fprintf(os.Stderr, "bulkload: %d docs in %.1fs = %.0f docs/s (%.1f MB/s), %d workers, %d retried (429), %d failed\n",
		s.Docs, s.Seconds, s.DocsPerSec, s.MBPerSec, s.Workers, s.Retried429, s.Failed)
	json.NewEncoder(os.Stdout).Encode(s)
	if s.Failed > 0 {
		os.Exit(1)
	}
}

// failures returns the items of body answered 429 (as a new bulk body)
// and the number of items that failed otherwise (409 counts as indexed).
func failures(body, resp []byte) ([]byte, int64, error) {
	var r struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		return nil, 0, fmt.Errorf("bulk response: %w", err)
	}
	if !r.Errors {
		return nil, 0, nil
	}
	lines := bytes.SplitAfter(body, []byte("\n"))
	if len(r.Items)*2 != len(lines)-1 && len(r.Items)*2 != len(lines) {
		return nil, 0, fmt.Errorf("bulk response: %d items for %d lines", len(r.Items), len(lines))
	}
	var retry []byte
	var failed int64
	for i, it := range r.Items {
		for _, v := range it {
			switch {
			case v.Status < 300 || v.Status == 409:
			case v.Status == 429:
				retry = append(retry, lines[2*i]...)
				retry = append(retry, lines[2*i+1]...)
			default:
				failed++
			}
		}
	}
	return retry, failed, nil
}

func readDocs(path string) ([][]byte, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
		if strings.HasSuffix(path, ".gz") {
			zr, err := gzip.NewReader(f)
			if err != nil {
				return nil, err
			}
			r = zr
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var docs [][]byte
	for sc.Scan() {
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 {
			continue
		}
		if l[0] != '{' {
			return nil, errors.New("input line is not a JSON object: " + string(l[:min(len(l), 80)]))
		}
		docs = append(docs, bytes.Clone(l))
	}
	return docs, sc.Err()
}

// streamOf returns logs-<dataset>-<namespace> from the document's
// data_stream fields, else logs-exim.main-bench.
func streamOf(doc []byte) string {
	var d struct {
		DataStream struct {
			Type, Dataset, Namespace string
		} `json:"data_stream"`
	}
	if json.Unmarshal(doc, &d) == nil && d.DataStream.Dataset != "" && d.DataStream.Namespace != "" {
		t := d.DataStream.Type
		if t == "" {
			t = "logs"
		}
		return t + "-" + d.DataStream.Dataset + "-" + d.DataStream.Namespace
	}
	return "logs-exim.main-bench"
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// runSink sends the documents through elastic.Sink, one WriteBatch per
// FlushBytes of documents, workers batches at a time; failed items are sent
// again until written (non-retryable ones are counted as failed).
func runSink(ctx context.Context, url string, docs [][]byte, streams []string, prefix string, workers, flushBytes, repeat, limit int, compress bool) {
	sink, err := elastic.New(elastic.Config{Addresses: []string{url}, FlushBytes: flushBytes, CompressRequestBody: compress})
	if err != nil {
		log.Fatalf("bulkload: %v", err)
	}
	defer sink.Close(ctx)
	total := len(docs) * repeat
	if limit > 0 && limit < total {
		total = limit
	}
	batches := make(chan []shipper.Doc, workers)
	var s summary
	s.Workers, s.FlushBytes, s.InputDocs, s.Repeat, s.Compression = workers, flushBytes, len(docs), repeat, compress
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				for attempt := 0; len(b) > 0; attempt++ {
					atomic.AddInt64(&s.Requests, 1)
					err := sink.WriteBatch(ctx, b)
					if err == nil {
						break
					}
					var be *shipper.BatchError
					if !errors.As(err, &be) {
						time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
						continue
					}
					var next []shipper.Doc
					for _, it := range be.Items {
						if it.Retry {
							next = append(next, b[it.Index])
						} else {
							atomic.AddInt64(&s.Failed, 1)
						}
					}
					atomic.AddInt64(&s.Retried429, int64(len(next)))
					b = next
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	cpu0 := cpuSeconds()
	start := time.Now()
	var batch []shipper.Doc
	size := 0
	for i := 0; i < total; i++ {
		d := docs[i%len(docs)]
		batch = append(batch, shipper.Doc{ID: shipper.DocID(shipper.Position{Topic: prefix, Offset: int64(i)}, 0), Stream: streams[i%len(docs)], Body: d})
		size += len(d) + 80
		s.Bytes += int64(len(d))
		if size >= flushBytes {
			batches <- batch
			batch, size = nil, 0
		}
	}
	if len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	wg.Wait()
	el := time.Since(start)
	s.Docs = int64(total) - s.Failed
	s.Seconds = el.Seconds()
	s.DocsPerSec = float64(s.Docs) / el.Seconds()
	s.MBPerSec = float64(s.Bytes) / 1e6 / el.Seconds()
	s.CPUSeconds = cpuSeconds() - cpu0
	s.Index = "via-sink"
	fmt.Fprintf(os.Stderr, "bulkload (via elastic.Sink): %d docs in %.1fs = %.0f docs/s (%.1f MB/s), %d workers, %d retried, %d failed\n",
		s.Docs, s.Seconds, s.DocsPerSec, s.MBPerSec, s.Workers, s.Retried429, s.Failed)
	json.NewEncoder(os.Stdout).Encode(s)
	if s.Failed > 0 {
		os.Exit(1)
	}
}
