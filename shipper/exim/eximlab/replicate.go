package eximlab

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

func b62val(c byte) int { return bytes.IndexByte([]byte(base62), c) }

// Replicate writes copies of an Exim log to w until at least lines lines
// are written: copy k has every leading timestamp shifted by k times the
// log's span (plus one second) and every 6-6-2 message id remapped, so the
// result reads like a longer log of the same traffic. Continuation lines
// (reject-log header dumps) are copied as they are.
func Replicate(in []byte, w io.Writer, lines int) (int, error) {
	src := bytes.SplitAfter(in, []byte("\n"))
	if len(src) > 0 && len(src[len(src)-1]) == 0 {
		src = src[:len(src)-1]
	}
	if len(src) == 0 {
		return 0, fmt.Errorf("eximlab: replicate: empty log")
	}
	first, ok1 := lineTime(src[0])
	last, ok2 := lineTime(src[len(src)-1])
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("eximlab: replicate: the log must start and end with a timestamped line")
	}
	span := last.Sub(first) + time.Second
	bw := bufio.NewWriterSize(w, 1<<20)
	n := 0
	var buf []byte
	for k := 0; n < lines; k++ {
		shift := time.Duration(k) * span
		for _, l := range src {
			buf = append(buf[:0], l...)
			if t, ok := lineTime(buf); ok && k > 0 {
				copy(buf, t.Add(shift).Format("2006-01-02 15:04:05"))
			}
			if k > 0 {
				remapIDs(buf, k)
			}
			if _, err := bw.Write(buf); err != nil {
				return n, fmt.Errorf("eximlab: replicate: %w", err)
			}
			n++
		}
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("eximlab: replicate: %w", err)
	}
	return n, nil
}

func lineTime(l []byte) (time.Time, bool) {
	if len(l) < 19 {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02 15:04:05", string(l[:19]))
	return t, err == nil
}

// remapIDs rewrites the middle part of every 6-6-2 message id in l in place,
// a bijection per copy k.
func remapIDs(l []byte, k int) {
	for i := 0; i+16 <= len(l); i++ {
		if (i > 0 && isAlnum(l[i-1])) || l[i+6] != '-' || l[i+13] != '-' || (i+16 < len(l) && isAlnum(l[i+16])) {
			continue
		}
		ok := true
		for _, j := range [...]int{0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 14, 15} {
			if !isAlnum(l[i+j]) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		v := 0
		for j := 7; j < 13; j++ {
			v = v*62 + b62val(l[i+j])
		}
		const mod = 62 * 62 * 62 * 62 * 62 * 62
		v = (v + k*1000003) % mod
		for j := 12; j >= 7; j-- {
			l[i+j] = base62[v%62]
			v /= 62
		}
		i += 15
	}
}

// ReplicateFile is Replicate from the file in to the file out.
func ReplicateFile(in, out string, lines int) (int, error) {
	b, err := os.ReadFile(in)
	if err != nil {
		return 0, fmt.Errorf("eximlab: replicate: %w", err)
	}
	f, err := os.Create(out)
	if err != nil {
		return 0, fmt.Errorf("eximlab: replicate: %w", err)
	}
	n, err := Replicate(b, f, lines)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("eximlab: replicate: %w", cerr)
	}
	return n, err
}
