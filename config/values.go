package config

import (
	"math"
	"strings"
	"time"
)

// The value parsers below follow nginx's ngx_atoi, ngx_parse_size and
// ngx_parse_time, so that a value nginx accepts is accepted here with the
// same meaning, and a value nginx rejects is rejected.

// valAtoi parses a non-negative decimal number (ngx_atoi): digits only, no
// sign, no spaces; ok is false on anything else or on overflow.
func valAtoi(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt-int(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// valSize parses a size (ngx_parse_size): a number optionally followed by
// k/K (KiB) or m/M (MiB). "g" is not accepted for sizes, as in nginx.
func valSize(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	scale := 1
	switch s[len(s)-1] {
	case 'k', 'K':
		scale = 1024
		s = s[:len(s)-1]
	case 'm', 'M':
		scale = 1024 * 1024
		s = s[:len(s)-1]
	}
	n, ok := valAtoi(s)
	if !ok || n > math.MaxInt/scale {
		return 0, false
	}
	return n * scale, true
}

// valTime parses a time (ngx_parse_time): numbers followed by units in
// decreasing order, e.g. "1h30m", "500ms", "1h 30m"; a trailing bare number
// is seconds. Units: ms s m h d w, plus M (30 days) and y (365 days) for
// second-granularity values only (isSec); ms only when !isSec.
func valTime(s string, isSec bool) (time.Duration, bool) {
	const (
		stStart = iota
		stYear
		stMonth
		stWeek
		stDay
		stHour
		stMin
		stSec
		stMsec
	)
	step := stMonth
	if isSec {
		step = stStart
	}
	var total, value int64
	valid := false
	const maxSec = math.MaxInt64 / int64(time.Second)
	for i := 0; i < len(s); {
		c := s[i]
		if c >= '0' && c <= '9' {
			if value > (maxSec-int64(c-'0'))/10 {
				return 0, false
			}
			value = value*10 + int64(c-'0')
			valid = true
			i++
			continue
		}
		i++
		var scale int64 // in milliseconds
		switch c {
		case 'y':
			if step > stStart {
				return 0, false
			}
			step, scale = stYear, 365*24*3600*1000
		case 'M':
			if step >= stMonth {
				return 0, false
			}
			step, scale = stMonth, 30*24*3600*1000
		case 'w':
			if step >= stWeek {
				return 0, false
			}
			step, scale = stWeek, 7*24*3600*1000
		case 'd':
			if step >= stDay {
				return 0, false
			}
			step, scale = stDay, 24*3600*1000
		case 'h':
			if step >= stHour {
				return 0, false
			}
			step, scale = stHour, 3600*1000
		case 'm':
			if i < len(s) && s[i] == 's' {
				if isSec || step >= stMsec {
					return 0, false
				}
				i++
				step, scale = stMsec, 1
				break
			}
			if step >= stMin {
				return 0, false
			}
			step, scale = stMin, 60*1000
		case 's':
			if step >= stSec {
				return 0, false
			}
			step, scale = stSec, 1000
		case ' ':
			continue
		default:
			return 0, false
		}
		if value > math.MaxInt64/int64(time.Millisecond)/scale {
			return 0, false
		}
		total += value * scale
		value = 0
		if total > math.MaxInt64/int64(time.Millisecond) {
			return 0, false
		}
	}
	if !valid {
		return 0, false
	}
	total += value * 1000
	if total < 0 || total > math.MaxInt64/int64(time.Millisecond) {
		return 0, false
	}
	return time.Duration(total) * time.Millisecond, true
}

// valFlag parses on|off, case-insensitively as ngx_conf_set_flag_slot does.
func valFlag(s string) (on, ok bool) {
	switch {
	case strings.EqualFold(s, "on"):
		return true, true
	case strings.EqualFold(s, "off"):
		return false, true
	}
	return false, false
}
