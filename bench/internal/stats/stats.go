// Package stats summarizes the samples of the benchmark programs.
package stats

import (
	"slices"
	"time"
)

// Of are the median, min and max of samples of T.
type Of[T ~int64 | ~float64] struct {
	Median, Min, Max T
}

// Stats are the median, min and max of durations.
type Stats = Of[time.Duration]

// Summarize computes the median, min and max of xs (the median of an even count is the
// mean of the two middle values); zero for none.
func Summarize[T ~int64 | ~float64](xs []T) Of[T] {
	if len(xs) == 0 {
		return Of[T]{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Of[T]{Median: med, Min: s[0], Max: s[n-1]}
}
