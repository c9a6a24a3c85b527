package exim

import (
	"bytes"
	"testing"
	"time"
)

func TestCoverage(t *testing.T) {
	text := bytes.Repeat([]byte("abcdefghij"), 20) // 200 bytes: four words of bits
	var c Coverage
	c.Reset(text)
	if c.Covers(0, 1) {
		t.Fatal("covered before anything was written")
	}
	c.wrote(text[60:130], 70)    // across two word boundaries
	c.wrote(text[140:150], 12)   // escaped: not as it is
	c.wrote([]byte("abcdef"), 6) // not a slice of the text
	c.wrote(text[195:], 5)
	for _, tc := range []struct {
		s, e int
		want bool
	}{
		{60, 130, true}, {63, 65, true}, {64, 128, true}, {59, 61, false}, {129, 131, false},
		{140, 150, false}, {195, 200, true}, {195, 201, false}, {5, 5, false}, {-1, 3, false},
	} {
		if got := c.Covers(tc.s, tc.e); got != tc.want {
			t.Errorf("Covers(%d, %d) = %t, want %t", tc.s, tc.e, got, tc.want)
		}
	}
	// reused for a shorter text: nothing of the first one stays
	c.Reset(text[:70])
	if c.Covers(60, 70) {
		t.Error("Reset kept bits")
	}
	c.num(42)
	c.float(0.25)
	if !c.WroteInt(42) || c.WroteInt(43) || !c.WroteFloat(0.25) || c.WroteFloat(0.5) {
		t.Error("numbers")
	}
	c.Reset(nil)
	if c.WroteInt(42) || c.Covers(0, 1) {
		t.Error("Reset(nil) kept numbers or bits")
	}
}

// TestCoverageOfEncoding: a record's values copied as they are are
// covered; an escaped value, a lower-cased one and the timestamp are not.
func TestCoverageOfEncoding(t *testing.T) {
	line := []byte(`2024-06-29 16:04:19 [77] H=(Helo.Example) [192.0.2.1]:4321 F=<a@b.example> rejected RCPT <c@d.example>: relay "not" permitted`)
	p := NewParser(Options{Location: time.UTC})
	var r Record
	p.Parse(line, &r)
	var c Coverage
	c.Reset(line)
	r.Cover = &c
	body := r.AppendJSON(nil)
	t.Logf("%s", body)
	for _, w := range []struct {
		word string
		want bool
	}{{"Helo.Example", true}, {"192.0.2.1", true}, {"a@b.example", true}, {"c@d.example", true}, {"relay", false}, {"2024-06-29", false}} {
		i := bytes.Index(line, []byte(w.word))
		if got := c.Covers(i, i+len(w.word)); got != w.want {
			t.Errorf("%s covered %t, want %t", w.word, got, w.want)
		}
	}
	if !c.WroteInt(4321) || !c.WroteInt(77) {
		t.Error("the port and the pid are not among the numbers written")
	}
}

func TestCoverageGaps(t *testing.T) {
	text := bytes.Repeat([]byte("x"), 150)
	var c Coverage
	c.Reset(text)
	c.wrote(text[10:70], 60)
	c.wrote(text[70:80], 10)
	c.wrote(text[128:140], 12)
	var got [][2]int
	for p := 0; p < len(text); {
		s, e := c.Gap(p)
		if s >= len(text) {
			break
		}
		got = append(got, [2]int{s, e})
		p = e
	}
	want := [][2]int{{0, 10}, {80, 128}, {140, 150}}
	if len(got) != len(want) {
		t.Fatalf("gaps %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("gaps %v, want %v", got, want)
		}
	}
	c.wrote(text[0:10], 10)
	c.wrote(text[80:128], 48)
	c.wrote(text[140:], 10)
	if s, _ := c.Gap(0); s != len(text) {
		t.Errorf("a covered text has a gap at %d", s)
	}
}
