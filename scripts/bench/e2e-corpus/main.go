// Command e2e-corpus writes an N-line Exim main log for scripts/bench/e2e by
// repeating a real one (eximlab's, cached by the shipper/e2e tests): each
// copy has every timestamp shifted past the previous copy and the time part
// of every message id shifted by the same amount, so it reads like the same
// traffic later on (the same method as shipper/e2e's 50k corpus).
//
//	go run ./scripts/bench/e2e-corpus -seed SEED -lines 1000000 > mainlog
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"regexp"
	"time"
)

const stampLayout = "2006-01-02 15:04:05"

var eximID = regexp.MustCompile(`\b[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}\b`)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func main() {
	log.SetFlags(0)
	seed := flag.String("seed", "", "real Exim main log to repeat (required)")
	n := flag.Int("lines", 1_000_000, "lines to write (at least)")
	remap := flag.Bool("remap-ips", false, "give every copy its own client addresses (127.a.b.c of copy k becomes a distinct address per k), for high-cardinality figures")
	flag.Parse()
	b, err := os.ReadFile(*seed)
	if err != nil || len(b) == 0 {
		log.Fatalf("e2e-corpus: read seed: %v", err)
	}
	lines := bytes.Split(bytes.TrimSuffix(b, []byte{'\n'}), []byte{'\n'})
	first, ok1 := lineTime(lines[0])
	last, ok2 := lineTime(lines[len(lines)-1])
	if !ok1 || !ok2 {
		log.Fatal("e2e-corpus: the seed's lines do not start with timestamps")
	}
	span := last.Sub(first).Truncate(time.Second) + time.Minute
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	for c, total := 0, 0; total < *n; c++ {
		shift := time.Duration(c) * span
		for _, l := range lines {
			l = shiftLine(l, shift)
			if *remap {
				l = remapIPs(l, c)
			}
			w.Write(l)
			w.WriteByte('\n')
			total++
		}
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
}

var loopback = regexp.MustCompile(`\b127\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\b`)

// remapIPs rewrites every 127.a.b.c of copy k to an address of its own:
// (10 + 3*(k/256) + a).(k%256).b.c, distinct for every (k, a, b, c) with a
// below 3 and k below 20,000.
func remapIPs(l []byte, k int) []byte {
	if !bytes.Contains(l, []byte("127.")) {
		return l
	}
	return loopback.ReplaceAllFunc(l, func(ip []byte) []byte {
		m := loopback.FindSubmatch(ip)
		a := 0
		for _, c := range m[1] {
			a = a*10 + int(c-'0')
		}
		if a > 2 {
			return ip
		}
		return fmt.Appendf(nil, "%d.%d.%s.%s", 10+3*(k/256)+a, k%256, m[2], m[3])
	})
}

func lineTime(l []byte) (time.Time, bool) {
	if len(l) < len(stampLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(stampLayout, string(l[:len(stampLayout)]))
	return t, err == nil
}

func shiftLine(l []byte, shift time.Duration) []byte {
	if shift == 0 {
		return l
	}
	t, ok := lineTime(l)
	if !ok {
		return l
	}
	out := append([]byte(t.Add(shift).Format(stampLayout)), l[len(stampLayout):]...)
	secs := int64(shift / time.Second)
	return eximID.ReplaceAllFunc(out, func(id []byte) []byte {
		var v int64
		for _, c := range id[:6] {
			i := bytes.IndexByte([]byte(base62), c)
			if i < 0 {
				return id
			}
			v = v*62 + int64(i)
		}
		v += secs
		enc := make([]byte, 6)
		for i := 5; i >= 0; i-- {
			enc[i] = base62[v%62]
			v /= 62
		}
		return append(enc, id[6:]...)
	})
}
