package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// opsSample is one line of the Prometheus text format.
type opsSample struct {
	name   string
	labels map[string]string
	value  float64
	line   string
}

// opsMetrics is a parsed scrape, with its text.
type opsMetrics struct {
	text    string
	samples []opsSample
}

// opsParse parses the Prometheus text format (0.0.4) strictly enough for
// the tests; promtool does the full lint.
func opsParse(t testing.TB, text string) opsMetrics {
	t.Helper()
	m := opsMetrics{text: text}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := opsParseLine(line)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		m.samples = append(m.samples, s)
	}
	return m
}

func opsParseLine(line string) (opsSample, error) {
	s := opsSample{labels: map[string]string{}, line: line}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no name")
	}
	s.name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq <= 0 {
				return s, fmt.Errorf("bad label at %q", rest)
			}
			key := rest[:eq]
			rest = rest[eq+2:]
			var v strings.Builder
			for {
				if rest == "" {
					return s, fmt.Errorf("unterminated label value")
				}
				c := rest[0]
				rest = rest[1:]
				if c == '"' {
					break
				}
				if c == '\\' && rest != "" {
					switch rest[0] {
					case 'n':
						v.WriteByte('\n')
					default:
						v.WriteByte(rest[0])
					}
					rest = rest[1:]
					continue
				}
				v.WriteByte(c)
			}
			s.labels[key] = v.String()
			rest = strings.TrimPrefix(rest, ",")
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return s, fmt.Errorf("want value [timestamp], got %q", rest)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, err
	}
	s.value = v
	return s, nil
}

// sum adds up the samples named name whose labels include kv (pairs of
// label name and value); found is false when none matches.
func (m opsMetrics) sum(name string, kv ...string) (total float64, found bool) {
	for _, s := range m.samples {
		if s.name != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(kv); i += 2 {
			if s.labels[kv[i]] != kv[i+1] {
				match = false
				break
			}
		}
		if match {
			total += s.value
			found = true
		}
	}
	return total, found
}

// val is sum that fails the test when no sample matches.
func (m opsMetrics) val(t testing.TB, name string, kv ...string) float64 {
	t.Helper()
	v, ok := m.sum(name, kv...)
	if !ok {
		t.Fatalf("no sample %s%v in scrape:\n%s", name, kv, m.grep("mailproxy_"))
	}
	return v
}

// grep returns the scrape's lines containing substr.
func (m opsMetrics) grep(substr string) string {
	var b strings.Builder
	for _, l := range strings.Split(m.text, "\n") {
		if strings.Contains(l, substr) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
