package kubectltenant

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"golang.org/x/text/width"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// expiresIn is the time left until exp, e.g. "6d23h", "expired 2h ago", or "-" without expiry.
func expiresIn(exp *metav1.Time, now time.Time) string {
	if exp == nil {
		return "-"
	}
	if left := exp.Sub(now); left > 0 {
		return duration.HumanDuration(left)
	}
	return "expired " + duration.HumanDuration(now.Sub(exp.Time)) + " ago"
}

// timestamp prints t in UTC with how far it is from now: "2027-01-31T15:59:59Z (in 6d23h)" or
// "2026-11-01T00:00:00Z (26d ago)"; "<none>" when unset.
func timestamp(t *metav1.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "<none>"
	}
	s := t.UTC().Format(time.RFC3339)
	if d := t.Sub(now); d > 0 {
		return s + " (in " + duration.HumanDuration(d) + ")"
	}
	return s + " (" + duration.HumanDuration(now.Sub(t.Time)) + " ago)"
}

// age is how long ago t was, kubectl style; "<unknown>" when unset.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	d := now.Sub(t.Time)
	if d < 0 { // the local clock is behind the API server's
		d = 0
	}
	return duration.HumanDuration(d)
}

// rfc3339 prints t in UTC, or "-" when unset.
func rfc3339(t metav1.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// orDash is s, or "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// orNone is s, or "<none>" when empty.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// cell makes s safe for one table cell: tabs and line breaks would break the columns.
var cellReplacer = strings.NewReplacer("\t", " ", "\r\n", " ", "\n", " ", "\r", " ")

func cell(s string) string { return cellReplacer.Replace(s) }

// table writes aligned columns, kubectl style (three spaces between columns). Unlike a
// tabwriter it measures cells by their display width, so plan names such as 基础版 (two columns a
// character in a terminal) do not shift the columns after them.
type table struct {
	w      io.Writer
	indent string
	rows   [][]string
}

func newTable(w io.Writer, indent string, header ...string) *table {
	t := &table{w: w, indent: indent}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) {
	r := make([]string, len(cells))
	for i, c := range cells {
		r[i] = cell(c)
	}
	t.rows = append(t.rows, r)
}

// columnGap separates columns, as kubectl's tables do.
const columnGap = 3

func (t *table) flush() error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		b.WriteString(t.indent)
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+columnGap))
			}
		}
		b.WriteByte('\n')
	}
	t.rows = nil
	_, err := io.WriteString(t.w, b.String())
	return err
}

// displayWidth is how many terminal columns s takes: two for East Asian wide and fullwidth
// characters (Chinese, Japanese, Korean), none for combining marks, one otherwise.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r):
		case width.LookupRune(r).Kind() == width.EastAsianWide || width.LookupRune(r).Kind() == width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}

// fields writes "Label:  value" lines aligned on the values.
type fields struct{ tw *tabwriter.Writer }

func newFields(w io.Writer) *fields {
	// The labels are ASCII, and the values end their lines, so a tabwriter aligns them well.
	return &fields{tw: tabwriter.NewWriter(w, 6, 4, columnGap, ' ', 0)}
}

// line writes one label and value at the given depth (two spaces each); a label without a value
// starts a section.
func (f *fields) line(depth int, label string, value ...any) {
	indent := strings.Repeat("  ", depth)
	if len(value) == 0 {
		_, _ = io.WriteString(f.tw, indent+label+":\n")
		return
	}
	_, _ = io.WriteString(f.tw, indent+label+":\t"+cell(fmt.Sprint(value...))+"\n")
}

func (f *fields) flush() error { return f.tw.Flush() }
