package web

import (
	re "regexp"
	"strconv"
)

// matches returns a function giving the first submatches of pattern in s,
// as numbers: every match's when the pattern has one group, else the
// groups of the first match.
func matches(pattern string) func(s string) []int64 {
	rx := re.MustCompile(pattern)
	return func(s string) []int64 {
		var out []int64
		all := rx.FindAllStringSubmatch(s, -1)
		if rx.NumSubexp() > 1 && len(all) > 0 {
			all = all[:1]
		}
		for _, m := range all {
			for _, g := range m[1:] {
				n, _ := strconv.ParseInt(g, 10, 64)
				out = append(out, n)
			}
		}
		return out
	}
}
