package stats

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		in   []time.Duration
		want Stats
	}{
		{nil, Stats{}},
		{ms(5), Stats{5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond}},
		{ms(9, 1, 5), Stats{5 * time.Millisecond, 1 * time.Millisecond, 9 * time.Millisecond}},
		{ms(4, 1, 9, 2), Stats{3 * time.Millisecond, 1 * time.Millisecond, 9 * time.Millisecond}},
	} {
		if got := Summarize(tc.in); got != tc.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
