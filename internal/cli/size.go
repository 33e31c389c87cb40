package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// parseSize reads a size in MB: a plain number is MB; a suffix M, G or T (optionally
// followed by B, any case) scales it; fractions are allowed when the result is whole MB
// ("1.5G" is 1536).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "B")
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	mult := 1.0
	switch t[len(t)-1] {
	case 'M':
		t = t[:len(t)-1]
	case 'G':
		mult, t = 1024, t[:len(t)-1]
	case 'T':
		mult, t = 1024*1024, t[:len(t)-1]
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("size %q: want a positive number of MB, or a number with M, G or T", s)
	}
	mb := f * mult
	if mb != math.Trunc(mb) || mb > math.MaxInt32 {
		return 0, fmt.Errorf("size %q is not a whole number of MB", s)
	}
	return int64(mb), nil
}

// parseNewSize reads an absolute size ("5G") or one relative to cur ("+1G"), like gandi.cli.
func parseNewSize(s string, cur int64) (int64, error) {
	if rest, ok := strings.CutPrefix(strings.TrimSpace(s), "+"); ok {
		d, err := parseSize(rest)
		if err != nil {
			return 0, err
		}
		return cur + d, nil
	}
	return parseSize(s)
}
