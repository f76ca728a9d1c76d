package qg

import (
	"math/rand"
	"strings"
	"testing"
	"time"
)

// pdAt parses an RFC 3339 time for the tables below.
func pdAt(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCronNext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ expr, from, want string }{
		{"* * * * *", "2024-03-06T10:00:30Z", "2024-03-06T10:01:00Z"},
		{"* * * * *", "2024-03-06T10:01:00Z", "2024-03-06T10:02:00Z"},
		{"*/15 * * * *", "2024-03-06T10:14:59Z", "2024-03-06T10:15:00Z"},
		{"*/15 * * * *", "2024-03-06T10:15:00Z", "2024-03-06T10:30:00Z"},
		{"5/20 * * * *", "2024-03-06T10:25:00Z", "2024-03-06T10:45:00Z"},
		{"0,30 8-9 * * *", "2024-03-06T09:30:00Z", "2024-03-07T08:00:00Z"},
		{"0 9-17/2 * * MON-FRI", "2024-03-08T16:00:00Z", "2024-03-08T17:00:00Z"},
		{"0 9-17/2 * * MON-FRI", "2024-03-08T17:00:00Z", "2024-03-11T09:00:00Z"},
		{"0 12 * jan,jul sun", "2024-02-01T00:00:00Z", "2024-07-07T12:00:00Z"},
		{"0 0 * * 7", "2024-03-06T00:00:00Z", "2024-03-10T00:00:00Z"},
		{"0 0 * * 5-7", "2024-03-10T00:00:00Z", "2024-03-15T00:00:00Z"},
		{"0 0 31 * *", "2024-04-01T00:00:00Z", "2024-05-31T00:00:00Z"},
		{"59 23 31 12 *", "2024-12-31T23:59:00Z", "2025-12-31T23:59:00Z"},
		{"0 0 29 2 *", "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"0 0 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"}, // 2100 is no leap year
		// Both day fields restricted: either matches (Vixie cron).
		{"0 0 13 * FRI", "2024-09-01T00:00:00Z", "2024-09-06T00:00:00Z"},
		{"0 0 13 * FRI", "2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z"},
		{"0 0 13 * FRI", "2024-10-12T00:00:00Z", "2024-10-13T00:00:00Z"}, // a Sunday
		// A day field starting with * : both must match.
		{"0 0 */2 * FRI", "2024-09-01T00:00:00Z", "2024-09-13T00:00:00Z"},
		{"0 0 1 * *", "2024-03-06T00:00:00Z", "2024-04-01T00:00:00Z"},
		{"@hourly", "2024-03-06T10:00:00Z", "2024-03-06T11:00:00Z"},
		{"@daily", "2024-03-06T10:00:00Z", "2024-03-07T00:00:00Z"},
		{"@midnight", "2024-03-06T10:00:00Z", "2024-03-07T00:00:00Z"},
		{"@weekly", "2024-03-06T10:00:00Z", "2024-03-10T00:00:00Z"},
		{"@monthly", "2024-03-06T10:00:00Z", "2024-04-01T00:00:00Z"},
		{"@yearly", "2024-03-06T10:00:00Z", "2025-01-01T00:00:00Z"},
		{"@annually", "2024-03-06T10:00:00Z", "2025-01-01T00:00:00Z"},
		{"  0   9 * * *  ", "2024-03-06T10:00:00Z", "2024-03-07T09:00:00Z"},
		// Zones. New York: clocks go forward at 2024-03-10 02:00 EST and
		// back at 2024-11-03 02:00 EDT.
		{"TZ=America/New_York 0 9 * * *", "2024-03-06T15:00:00Z", "2024-03-07T14:00:00Z"},
		{"CRON_TZ=America/New_York 0 9 * * *", "2024-03-10T00:00:00Z", "2024-03-10T13:00:00Z"},
		// A fixed time in the gap ticks once, when the gap ends (03:00 EDT).
		{"CRON_TZ=America/New_York 30 2 * * *", "2024-03-09T17:00:00Z", "2024-03-10T07:00:00Z"},
		{"CRON_TZ=America/New_York 30 2 * * *", "2024-03-10T07:00:00Z", "2024-03-11T06:30:00Z"},
		// A fixed time repeated ticks once, at its first occurrence (EDT).
		{"CRON_TZ=America/New_York 30 1 * * *", "2024-11-02T17:00:00Z", "2024-11-03T05:30:00Z"},
		{"CRON_TZ=America/New_York 30 1 * * *", "2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"},
		// An hourly schedule follows the clock: twice in the repeated hour,
		// never in the skipped one.
		{"CRON_TZ=America/New_York 30 * * * *", "2024-11-03T05:30:00Z", "2024-11-03T06:30:00Z"},
		{"CRON_TZ=America/New_York 30 * * * *", "2024-11-03T06:30:00Z", "2024-11-03T07:30:00Z"},
		{"CRON_TZ=America/New_York 30 * * * *", "2024-03-10T06:30:00Z", "2024-03-10T07:30:00Z"},
		{"CRON_TZ=America/New_York */15 * * * *", "2024-03-10T06:45:00Z", "2024-03-10T07:00:00Z"},
		{"CRON_TZ=America/New_York */20 1 * * *", "2024-11-03T05:40:00Z", "2024-11-04T06:00:00Z"},
		// Paris: forward at 2024-03-31 02:00 CET, back at 2024-10-27 03:00 CEST.
		{"CRON_TZ=Europe/Paris 0 2 * * *", "2024-03-30T12:00:00Z", "2024-03-31T01:00:00Z"},
		{"CRON_TZ=Europe/Paris 30 2 * * *", "2024-10-26T12:00:00Z", "2024-10-27T00:30:00Z"},
		{"CRON_TZ=Europe/Paris 30 2 * * *", "2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"},
		{"CRON_TZ=Europe/Paris 0 0 * * SUN", "2024-10-26T12:00:00Z", "2024-10-26T22:00:00Z"},
		// Lord Howe moves its clocks by 30 minutes, and time.Date picks the
		// second occurrence of a repeated time there: the rule still takes
		// the first. Back at 2024-04-07 02:00 +11, forward at 2024-10-06
		// 02:00 +1030.
		{"CRON_TZ=Australia/Lord_Howe 45 1 * * *", "2024-04-06T00:00:00Z", "2024-04-06T14:45:00Z"},
		{"CRON_TZ=Australia/Lord_Howe 45 1 * * *", "2024-04-06T14:45:00Z", "2024-04-07T15:15:00Z"},
		{"CRON_TZ=Australia/Lord_Howe 45 * * * *", "2024-04-06T14:45:00Z", "2024-04-06T15:15:00Z"},
		{"CRON_TZ=Australia/Lord_Howe 15 2 * * *", "2024-10-05T00:00:00Z", "2024-10-05T15:30:00Z"},
	} {
		c, err := ParseCron(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		got := c.Next(pdAt(t, tc.from))
		if want := pdAt(t, tc.want); !got.Equal(want) {
			t.Errorf("%s from %s: got %s, want %s", tc.expr, tc.from, got.UTC().Format(time.RFC3339), tc.want)
		}
	}
}

func TestCronLocation(t *testing.T) {
	t.Parallel()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCronIn("0 9 * * *", tokyo)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Next(pdAt(t, "2024-03-06T01:00:00Z")); !got.Equal(pdAt(t, "2024-03-07T00:00:00Z")) || got.Location() != tokyo {
		t.Errorf("Tokyo 09:00: got %s", got)
	}
	// The prefix wins over the argument.
	c, err = ParseCronIn("CRON_TZ=UTC 0 9 * * *", tokyo)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Next(pdAt(t, "2024-03-06T01:00:00Z")); !got.Equal(pdAt(t, "2024-03-06T09:00:00Z")) {
		t.Errorf("prefix: got %s", got)
	}
	if c.String() != "CRON_TZ=UTC 0 9 * * *" || c.Location() != time.UTC {
		t.Errorf("String %q, Location %v", c.String(), c.Location())
	}
	if c, err := ParseCronIn("@daily", nil); err != nil || c.Location() != time.UTC {
		t.Errorf("nil location: %v, %v", c, err)
	}
}

func TestCronInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ expr, want string }{
		{"", "want 5 fields (minute hour day-of-month month day-of-week), got 0"},
		{"* * * *", "got 4"},
		{"* * * * * *", "got 6"},
		{"60 * * * *", `minute field "60": 60 is out of range 0-59`},
		{"* 24 * * *", `hour field "24": 24 is out of range 0-23`},
		{"* * 0 * *", `day-of-month field "0": 0 is out of range 1-31`},
		{"* * * 13 *", `month field "13": 13 is out of range 1-12`},
		{"* * * * 8", `day-of-week field "8": 8 is out of range 0-7`},
		{"*/0 * * * *", `step "0" is not a positive number`},
		{"*/x * * * *", `step "x" is not a positive number`},
		{"5-1 * * * *", "range 5-1 goes backwards"},
		{"FRI-MON * * * *", `"FRI" is not a number`},
		{"* * * * FRI-MON", "range FRI-MON goes backwards (5 > 1)"},
		{"a * * * *", `"a" is not a number`},
		{"1,,2 * * * *", `"" is not a number`},
		{"-5 * * * *", `"" is not a number`},
		{"+5 * * * *", `"+5" is not a number`},
		{"* * * FOO *", `"FOO" is neither a number nor a name (JAN-DEC)`},
		{"* * * * Monday", `"Monday" is neither a number nor a name (SUN-SAT)`},
		{"0 0 30 2 *", "never matches"},
		{"0 0 31 4,6,9,11 *", "never matches"},
		{"@every 5m", `unknown macro "@every 5m"`},
		{"CRON_TZ=Mars/Olympus 0 0 * * *", `time zone "Mars/Olympus"`},
		{"TZ= 0 0 * * *", "TZ= names no time zone"},
	} {
		_, err := ParseCron(tc.expr)
		if err == nil {
			t.Errorf("%q: no error", tc.expr)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "qg: cron ") || !strings.Contains(msg, tc.want) {
			t.Errorf("%q: error %q, want it to contain %q", tc.expr, msg, tc.want)
		}
	}
	// Restricting both day fields makes an impossible day of month fine.
	if _, err := ParseCron("0 0 30 2 MON"); err != nil {
		t.Errorf("0 0 30 2 MON: %v", err)
	}
}

func TestMustParseCronPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("MustParseCron did not panic on a bad expression")
		}
	}()
	MustParseCron("61 * * * *")
}

func TestEvery(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		d          time.Duration
		from, want time.Time
	}{
		{200 * time.Millisecond, time.Date(2024, 3, 6, 10, 0, 0, 100e6, time.UTC), time.Date(2024, 3, 6, 10, 0, 0, 200e6, time.UTC)},
		{200 * time.Millisecond, time.Date(2024, 3, 6, 10, 0, 0, 200e6, time.UTC), time.Date(2024, 3, 6, 10, 0, 0, 400e6, time.UTC)},
		{time.Hour, time.Date(2024, 3, 10, 1, 59, 0, 0, ny), time.Date(2024, 3, 10, 7, 0, 0, 0, time.UTC)}, // the zone does not matter
		{24 * time.Hour, time.Date(2024, 3, 6, 10, 0, 0, 0, time.UTC), time.Date(2024, 3, 7, 0, 0, 0, 0, time.UTC)},
		{7 * 24 * time.Hour, time.Date(2024, 3, 6, 10, 0, 0, 0, time.UTC), time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC)}, // Mondays
		{1500 * time.Nanosecond, time.Date(2024, 3, 6, 10, 0, 0, 0, time.UTC), time.Date(2024, 3, 6, 10, 0, 0, 1000, time.UTC)},
	} {
		if got := Every(tc.d).Next(tc.from); !got.Equal(tc.want) {
			t.Errorf("Every(%s).Next(%s) = %s, want %s", tc.d, tc.from, got, tc.want)
		}
	}
	for _, d := range []time.Duration{0, -time.Second, 999 * time.Nanosecond} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Every(%s) did not panic", d)
				}
			}()
			Every(d)
		}()
	}
}

// TestCronFollowsClock checks schedules whose hour field starts with * (which
// follow the clock through daylight saving changes) against a scan of every
// minute, around the changes of three zones.
func TestCronFollowsClock(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(7))
	zones := []string{"UTC", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"}
	starts := []string{"2024-03-10T05:00:00Z", "2024-11-03T04:00:00Z", "2024-04-06T13:00:00Z",
		"2024-10-05T14:00:00Z", "2024-02-28T22:00:00Z"}
	for range 120 {
		minutes := []string{"*", "*/7", "0", "30", "0,15,45", "10-20/5", "59"}[rng.Intn(7)]
		hours := []string{"*", "*/2", "*/5"}[rng.Intn(3)]
		dows := []string{"*", "*", "1-5", "SAT,SUN", "3"}[rng.Intn(5)]
		expr := "CRON_TZ=" + zones[rng.Intn(len(zones))] + " " + minutes + " " + hours + " * * " + dows
		c, err := ParseCron(expr)
		if err != nil {
			t.Fatal(err)
		}
		from := pdAt(t, starts[rng.Intn(len(starts))]).Add(time.Duration(rng.Intn(180)) * time.Minute)
		got, want := c.Next(from), pdScanNext(c, from)
		if !got.Equal(want) {
			t.Errorf("%s from %s: got %s, want %s", expr, from.Format(time.RFC3339), got.UTC(), want.UTC())
		}
	}
}

// pdScanNext finds the next instant after t whose clock reading matches c, minute
// by minute.
func pdScanNext(c *Cron, t time.Time) time.Time {
	u := t.Truncate(time.Minute)
	for range 10 * 24 * 60 {
		u = u.Add(time.Minute)
		l := u.In(c.loc)
		if c.minute&(1<<l.Minute()) != 0 && c.hour&(1<<l.Hour()) != 0 &&
			c.month&(1<<int(l.Month())) != 0 && c.dayMatches(clockReading(l)) {
			return u
		}
	}
	return time.Time{}
}

func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/15 9-17 * * MON-FRI", "0 0 13 * FRI",
		"CRON_TZ=America/New_York 30 2 * * *", "@weekly", "5/20 1,2,3 1-31/3 jan-dec/2 0-7", "0 0 29 2 *"} {
		f.Add(s)
	}
	from := time.Date(2024, 11, 3, 5, 17, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		c, err := ParseCron(expr)
		if err != nil {
			return
		}
		next := c.Next(from)
		if !next.After(from) {
			t.Fatalf("%q: Next(%s) = %s, not after", expr, from, next)
		}
		again, err := ParseCron(c.String())
		if err != nil || !again.Next(next).Equal(c.Next(next)) {
			t.Fatalf("%q does not parse back from its String: %v", expr, err)
		}
	})
}

func TestLatestDue(t *testing.T) {
	t.Parallel()
	base := time.Date(2024, 3, 6, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		s          Schedule
		after, now time.Time
		want       time.Time
	}{
		{Every(time.Second), base, base.Add(time.Second), base.Add(time.Second)},
		{Every(time.Second), base, base.Add(5500 * time.Millisecond), base.Add(5 * time.Second)},
		// A year of missed millisecond ticks costs a few calls of Next.
		{Every(time.Millisecond), base, base.AddDate(1, 0, 0).Add(500 * time.Microsecond), base.AddDate(1, 0, 0)},
		{MustParseCron("0 3 * * *"), base, base.AddDate(0, 0, 10), time.Date(2024, 3, 16, 3, 0, 0, 0, time.UTC)},
		{pdList{base.Add(time.Hour), base.Add(2 * time.Hour)}, base, base.AddDate(1, 0, 0), base.Add(2 * time.Hour)},
	} {
		if got := latestDue(tc.s, tc.after, tc.now); !got.Equal(tc.want) {
			t.Errorf("latestDue(%v, %s, %s) = %s, want %s", tc.s, tc.after, tc.now, got, tc.want)
		}
	}
}
