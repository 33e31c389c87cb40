// Package stats summarizes the samples of the benchmark programs.
package stats

import (
	"slices"
	"time"
)

// Stats are the median, min and max of samples.
type Stats struct {
	Median, Min, Max time.Duration
}

// Summarize computes the stats of ds (the median of an even count is the mean of the two
// middle values); zero for none.
func Summarize(ds []time.Duration) Stats {
	if len(ds) == 0 {
		return Stats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Stats{Median: med, Min: s[0], Max: s[n-1]}
}
