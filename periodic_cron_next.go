package qg

import (
	"sort"
	"time"
)

// cronHorizonYears bounds the search for a tick. Every expression ParseCron
// accepts matches within it: the rarest is 29 February, eight years apart
// around 2100.
const cronHorizonYears = 9

// Next returns the first tick strictly after t, in the Cron's location, or
// the zero time when there is none within nine years (which cannot happen
// for an expression ParseCron accepted).
func (c *Cron) Next(t time.Time) time.Time {
	y, m, d := t.In(c.loc).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // a calendar date
	end := day.AddDate(cronHorizonYears, 0, 0)
	for ; day.Before(end); day = day.AddDate(0, 0, 1) {
		if c.month&(1<<uint(day.Month())) == 0 {
			day = time.Date(day.Year(), day.Month()+1, 0, 0, 0, 0, 0, time.UTC) // the month's last day
			continue
		}
		if !c.dayMatches(day) {
			continue
		}
		if tick, ok := c.nextOnDay(day, t); ok {
			return tick
		}
	}
	return time.Time{}
}

// dayMatches applies the day-of-month and day-of-week fields to a date.
func (c *Cron) dayMatches(day time.Time) bool {
	dom := c.dom&(1<<uint(day.Day())) != 0
	dow := c.dow&(1<<uint(day.Weekday())) != 0
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow
}

// nextOnDay returns the first tick after t on the calendar date day.
func (c *Cron) nextOnDay(day, t time.Time) (time.Time, bool) {
	y, m, d := day.Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, c.loc)
	if start.Hour() == 0 && start.Minute() == 0 {
		if _, end := start.ZoneBounds(); end.IsZero() || !end.Before(start.Add(24*time.Hour)) {
			return c.nextOnPlainDay(start, t)
		}
	}
	return c.nextOnTransitionDay(y, m, d, t)
}

// nextOnPlainDay returns the first tick after t on a day that begins at
// start and has no change of UTC offset: each time of day is start plus its
// duration.
func (c *Cron) nextOnPlainDay(start, t time.Time) (time.Time, bool) {
	if !start.Add(24 * time.Hour).After(t) {
		return time.Time{}, false
	}
	for h := 0; h < 24; h++ {
		hourStart := start.Add(time.Duration(h) * time.Hour)
		if c.hour&(1<<h) == 0 || !hourStart.Add(time.Hour).After(t) {
			continue
		}
		for mi := 0; mi < 60; mi++ {
			if c.minute&(1<<mi) == 0 {
				continue
			}
			if tick := hourStart.Add(time.Duration(mi) * time.Minute); tick.After(t) {
				return tick, true
			}
		}
	}
	return time.Time{}, false
}

// nextOnTransitionDay returns the first tick after t on a day whose UTC
// offset changes, where times of day may be skipped or repeated, and the
// ticks of later times may come before those of earlier ones.
func (c *Cron) nextOnTransitionDay(y int, m time.Month, d int, t time.Time) (time.Time, bool) {
	var best time.Time
	for h := 0; h < 24; h++ {
		if c.hour&(1<<h) == 0 {
			continue
		}
		for mi := 0; mi < 60; mi++ {
			if c.minute&(1<<mi) == 0 {
				continue
			}
			for _, tick := range c.ticksAt(y, m, d, h, mi) {
				if tick.After(t) && (best.IsZero() || tick.Before(best)) {
					best = tick
				}
			}
		}
	}
	return best, !best.IsZero()
}

// ticksAt applies the daylight saving rule (see [Cron]) to the time of day
// h:mi on y-m-d.
func (c *Cron) ticksAt(y int, m time.Month, d, h, mi int) []time.Time {
	found, gapEnd := wallInstants(c.loc, time.Date(y, m, d, h, mi, 0, 0, time.UTC))
	switch {
	case len(found) == 0 && c.hourStar:
		return nil
	case len(found) == 0:
		return []time.Time{gapEnd}
	case len(found) > 1 && !c.hourStar:
		return found[:1]
	}
	return found
}

// wallInstants returns the instants, earliest first, at which the clock of
// loc reads wall (a time whose UTC fields are the clock's reading): one
// usually, two when clocks go back over it, none when they skip it. For a
// skipped reading it also returns the instant the gap ends.
func wallInstants(loc *time.Location, wall time.Time) (found []time.Time, gapEnd time.Time) {
	guess := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), 0, 0, loc)
	start, end := guess.ZoneBounds()
	zones := []time.Time{guess}
	if !start.IsZero() {
		zones = append(zones, start.Add(-time.Nanosecond))
	}
	if !end.IsZero() {
		zones = append(zones, end)
	}
	for _, z := range zones {
		_, offset := z.Zone()
		u := wall.Add(-time.Duration(offset) * time.Second).In(loc)
		if clockReading(u).Equal(wall) && !containsTime(found, u) {
			found = append(found, u)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Before(found[j]) })
	if len(found) == 0 {
		// time.Date moved the reading out of the gap, to one side or the
		// other; the gap ends at the bound of guess's zone on that side.
		gapEnd = end
		if clockReading(guess).After(wall) {
			gapEnd = start
		}
	}
	return found, gapEnd
}

// clockReading is t's clock reading in its location, as a UTC time.
func clockReading(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

func containsTime(ts []time.Time, t time.Time) bool {
	for _, u := range ts {
		if u.Equal(t) {
			return true
		}
	}
	return false
}
