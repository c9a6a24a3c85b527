package jsonscan

import "testing"

func TestSkip(t *testing.T) {
	cases := []struct {
		in   string
		i    int
		want int
	}{
		{`"abc",`, 0, 5},
		{`"a\"b"x`, 0, 6},
		{`"a\\"x`, 0, 5},
		{`"a\\\"b"`, 0, 8},
		{`"open`, 0, -1},
		{`{"a":[1,{"b":"}"}],"c":2}x`, 0, 25},
		{`[1,2`, 0, -1},
		{`true,`, 0, 4},
		{`12.5}`, 0, 4},
		{`,`, 0, -1},
		{``, 0, -1},
		{`{"k": "v"}`, 6, 9},
		{`{"k": "v"}`, 5, -1}, // a value never starts with a space
	}
	for _, c := range cases {
		if got := SkipValue([]byte(c.in), c.i); got != c.want {
			t.Errorf("SkipValue(%q, %d) = %d, want %d", c.in, c.i, got, c.want)
		}
	}
	if got := SkipWS([]byte(" \t\r\n x"), 0); got != 5 {
		t.Errorf("SkipWS = %d, want 5", got)
	}
}
