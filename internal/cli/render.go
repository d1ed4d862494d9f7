package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api/schema"
)

// renderValue turns one value into table text. Booleans print as 1/0 and
// nested objects and lists as compact JSON; with human on, the schema's
// renderer (bytes, duration, timestamp, …) formats numbers.
func renderValue(v any, s *schema.Schema, human bool, loc *time.Location) string {
	switch x := v.(type) {
	case nil:
		return ""
	case bool:
		if x {
			return "1"
		}
		return "0"
	case json.Number:
		if human && s != nil && s.Renderer != "" {
			if f, err := x.Float64(); err == nil {
				if out, ok := renderNumber(s.Renderer, f, loc); ok {
					return out
				}
			}
		}
		return x.String()
	case string:
		if human && s != nil && s.Renderer != "" {
			// Some answers send numbers as strings (nextid, config values).
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				if out, ok := renderNumber(s.Renderer, f, loc); ok {
					return out
				}
			}
		}
		return x
	case map[string]any, []any:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			return fmt.Sprint(x)
		}
		return strings.TrimSuffix(buf.String(), "\n")
	}
	return fmt.Sprint(v)
}

// renderNumber applies a renderer; ok is false for unknown renderers.
func renderNumber(renderer string, f float64, loc *time.Location) (string, bool) {
	switch renderer {
	case "bytes":
		return renderBytes(f), true
	case "duration":
		return renderDuration(f), true
	case "timestamp":
		if f == 0 {
			return "", true // "never", for expiry dates
		}
		return time.Unix(int64(f), 0).In(loc).Format(time.DateTime), true
	case "timestamp_gmt":
		return time.Unix(int64(f), 0).UTC().Format(time.DateTime), true
	case "fraction_as_percentage":
		return strconv.FormatFloat(f*100, 'f', 2, 64) + "%", true
	}
	return "", false
}

// renderBytes uses binary units with two decimals, as PVE: "1.50 GiB".
func renderBytes(f float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for math.Abs(f) >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return strconv.FormatFloat(f, 'f', 2, 64) + " " + units[i]
}

// renderDuration prints seconds as weeks, days, hours, minutes and
// seconds, leaving out zero units: "1d 5h 3m".
func renderDuration(f float64) string {
	rest := int64(math.Round(f))
	if rest <= 0 {
		return "0s"
	}
	var parts []string
	for _, u := range []struct {
		name string
		secs int64
	}{{"w", 7 * 86400}, {"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}} {
		if n := rest / u.secs; n > 0 {
			parts = append(parts, strconv.FormatInt(n, 10)+u.name)
			rest -= n * u.secs
		}
	}
	return strings.Join(parts, " ")
}
