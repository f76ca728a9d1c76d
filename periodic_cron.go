package qg

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Cron is a [Schedule] given by a standard 5-field cron expression, read in a
// time zone. Make one with [ParseCron], [ParseCronIn] or [MustParseCron].
//
// The fields are minute (0-59), hour (0-23), day of month (1-31), month (1-12
// or JAN-DEC) and day of week (0-7 or SUN-SAT, 0 and 7 both Sunday). Each
// field is * or a comma-separated list of values, ranges (1-5, MON-FRI) and
// steps (*/15, 0-30/10, and 5/15, which means 5-59/15). Names are
// case-insensitive. The macros @yearly (or @annually), @monthly, @weekly,
// @daily (or @midnight) and @hourly stand for 0 0 1 1 *, 0 0 1 * *,
// 0 0 * * 0, 0 0 * * * and 0 * * * *.
//
// As in Vixie cron, when both the day-of-month and the day-of-week field are
// restricted (neither starts with *), a day matches when either matches:
// "0 0 13 * FRI" runs on every 13th and on every Friday. When either starts
// with * (so */2 counts as unrestricted for this rule), a day must match
// both.
//
// Ticks are times on the zone's clock, and daylight saving changes are
// handled as follows, so that a daily job runs once a day:
//   - A schedule whose hour field starts with * (hourly or finer, such as
//     */15 * * * *) follows the clock as it runs: a time skipped when clocks
//     go forward does not happen, and a time repeated when they go back
//     happens twice.
//   - Any other schedule (a fixed hour, such as 30 2 * * *) ticks once per
//     date and time it names: a time skipped when clocks go forward ticks at
//     the end of the gap (the first instant after it), and a time repeated
//     when they go back ticks at its first occurrence only.
type Cron struct {
	expr string
	loc  *time.Location

	minute, hour, dom, month, dow uint64 // bit v set: value v matches
	domStar, dowStar, hourStar    bool   // the field starts with *
}

// cronField describes one field of a cron expression.
type cronField struct {
	name     string
	min, max int
	names    []string // names[i] is the value min+i (or i for day of week)
	offset   int      // the value of names[0]
}

var cronFields = [5]cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day-of-month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, offset: 1,
		names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{name: "day-of-week", min: 0, max: 7, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}

var cronMacros = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// ParseCron parses a cron expression read in UTC, or in the zone its
// CRON_TZ= or TZ= prefix names ("CRON_TZ=Europe/Paris 30 2 * * *"). UTC is
// the default rather than the process's local zone so that every process
// computes the same ticks. See [Cron] for the syntax.
func ParseCron(expr string) (*Cron, error) {
	return ParseCronIn(expr, time.UTC)
}

// ParseCronIn parses a cron expression read in loc (nil means UTC). A CRON_TZ=
// or TZ= prefix in expr takes precedence over loc. The error says which field
// is wrong and why; an expression that can never match (such as 0 0 30 2 *)
// is an error too.
func ParseCronIn(expr string, loc *time.Location) (*Cron, error) {
	c, err := parseCron(expr, loc)
	if err != nil {
		return nil, fmt.Errorf("qg: cron %q: %w", expr, err)
	}
	return c, nil
}

// MustParseCron is [ParseCron] for expressions known to be valid, such as
// constants in a program: it panics on an error.
func MustParseCron(expr string) *Cron {
	c, err := ParseCron(expr)
	if err != nil {
		panic(err)
	}
	return c
}

// String returns the expression the Cron was parsed from.
func (c *Cron) String() string { return c.expr }

// Location returns the time zone the Cron is read in.
func (c *Cron) Location() *time.Location { return c.loc }

func parseCron(expr string, loc *time.Location) (*Cron, error) {
	if loc == nil {
		loc = time.UTC
	}
	spec := strings.TrimSpace(expr)
	spec, loc, err := cronZone(spec, loc)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(spec, "@") {
		macro, ok := cronMacros[strings.ToLower(spec)]
		if !ok {
			return nil, fmt.Errorf("unknown macro %q (want @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)", spec)
		}
		spec = macro
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return nil, fmt.Errorf("want 5 fields (minute hour day-of-month month day-of-week), got %d", len(fields))
	}
	c := &Cron{expr: strings.TrimSpace(expr), loc: loc}
	bits := [5]*uint64{&c.minute, &c.hour, &c.dom, &c.month, &c.dow}
	for i, f := range cronFields {
		if *bits[i], err = f.parse(fields[i]); err != nil {
			return nil, fmt.Errorf("%s field %q: %w", f.name, fields[i], err)
		}
	}
	c.hourStar = strings.HasPrefix(fields[1], "*")
	c.domStar = strings.HasPrefix(fields[2], "*")
	c.dowStar = strings.HasPrefix(fields[4], "*")
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow = c.dow&^(1<<7) | 1
	}
	if !c.possible() {
		return nil, fmt.Errorf("never matches: no month of the month field has a day of the day-of-month field")
	}
	return c, nil
}

// cronZone strips a CRON_TZ= or TZ= prefix from spec and loads its zone.
func cronZone(spec string, loc *time.Location) (string, *time.Location, error) {
	var name string
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if strings.HasPrefix(spec, prefix) {
			fields := strings.Fields(spec)
			name, spec = strings.TrimPrefix(fields[0], prefix), strings.Join(fields[1:], " ")
			if name == "" {
				return "", nil, fmt.Errorf("%s names no time zone", prefix)
			}
			break
		}
	}
	if name == "" {
		return spec, loc, nil
	}
	zone, err := time.LoadLocation(name)
	if err != nil {
		return "", nil, fmt.Errorf("time zone %q: %w", name, err)
	}
	return spec, zone, nil
}

// parse reads one field into a bit set of the values it matches.
func (f cronField) parse(field string) (uint64, error) {
	var bits uint64
	for _, part := range strings.Split(field, ",") {
		b, err := f.parsePart(part)
		if err != nil {
			return 0, err
		}
		bits |= b
	}
	return bits, nil
}

// parsePart reads one item of a list: *, a value, a range, each with an
// optional step.
func (f cronField) parsePart(part string) (uint64, error) {
	span, stepText, hasStep := strings.Cut(part, "/")
	step := 1
	if hasStep {
		n, err := parseCronNumber(stepText)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("step %q is not a positive number", stepText)
		}
		step = n
	}
	lo, hi, err := f.parseSpan(span, hasStep)
	if err != nil {
		return 0, err
	}
	var bits uint64
	for v := lo; v <= hi; v += step {
		bits |= 1 << v
	}
	return bits, nil
}

// parseSpan reads *, a value or a range. A lone value with a step runs to
// the field's maximum.
func (f cronField) parseSpan(span string, hasStep bool) (lo, hi int, err error) {
	if span == "*" {
		return f.min, f.max, nil
	}
	first, last, isRange := strings.Cut(span, "-")
	if lo, err = f.value(first); err != nil {
		return 0, 0, err
	}
	switch {
	case isRange:
		if hi, err = f.value(last); err != nil {
			return 0, 0, err
		}
		if lo > hi {
			return 0, 0, fmt.Errorf("range %s goes backwards (%d > %d)", span, lo, hi)
		}
	case hasStep:
		hi = f.max
	default:
		hi = lo
	}
	return lo, hi, nil
}

// value reads a number or a name and checks its range.
func (f cronField) value(s string) (int, error) {
	for i, name := range f.names {
		if strings.EqualFold(s, name) {
			return i + f.offset, nil
		}
	}
	n, err := parseCronNumber(s)
	if err != nil {
		if f.names != nil {
			return 0, fmt.Errorf("%q is neither a number nor a name (%s-%s)", s, f.names[0], f.names[len(f.names)-1])
		}
		return 0, err
	}
	if n < f.min || n > f.max {
		return 0, fmt.Errorf("%d is out of range %d-%d", n, f.min, f.max)
	}
	return n, nil
}

// parseCronNumber reads an unsigned decimal number of at most 4 digits.
func parseCronNumber(s string) (int, error) {
	if s == "" || len(s) > 4 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return strconv.Atoi(s)
}

// possible reports whether some date matches the day and month fields, when
// the day of month alone decides (day of week unrestricted).
func (c *Cron) possible() bool {
	if c.domStar || !c.dowStar {
		return true
	}
	longest := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for m := 1; m <= 12; m++ {
		if c.month&(1<<m) != 0 && c.dom&(1<<(longest[m]+1)-1) != 0 {
			return true
		}
	}
	return false
}
