package demo

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// width is the column at which Printer wraps prose.
const width = 88

// Printer writes the walkthrough for a person reading along: step headings, wrapped
// prose, the commands that would do the same by hand, indented blocks (YAML, tables)
// and timestamped observations. It is safe for concurrent use.
type Printer struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
	// text is true when the last output was text rather than a heading, so that
	// the next paragraph or command needs a blank line before it.
	text bool
}

// NewPrinter writes to w.
func NewPrinter(w io.Writer) *Printer { return &Printer{w: w, now: time.Now} }

func (p *Printer) write(s string) { p.print(false, s) }

// print writes s, after a blank line when it starts a paragraph that follows text.
func (p *Printer) print(paragraph bool, s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if paragraph && p.text {
		s = "\n" + s
	}
	_, _ = io.WriteString(p.w, s)
	p.text = true
}

// Heading starts step i of n.
func (p *Printer) Heading(i, n int, title string) {
	h := fmt.Sprintf("[%d/%d] %s", i, n, title)
	p.heading(h)
}

func (p *Printer) heading(h string) {
	p.write("\n" + h + "\n" + strings.Repeat("─", min(len([]rune(h)), width)) + "\n")
	p.mu.Lock()
	p.text = false
	p.mu.Unlock()
}

// Section starts a part of the output that is not a step (the summary).
func (p *Printer) Section(title string) {
	p.heading(title)
}

// Say prints a paragraph, wrapped and indented by two spaces, after a blank line
// unless it follows a heading. Blank lines in text separate paragraphs.
func (p *Printer) Say(format string, args ...any) {
	p.print(true, Wrap(fmt.Sprintf(format, args...), width, "  ")+"\n")
}

// Command prints a command a person would type to do or see the same, after a blank
// line unless it follows a heading.
func (p *Printer) Command(format string, args ...any) {
	p.print(true, "  $ "+fmt.Sprintf(format, args...)+"\n")
}

// Block prints text verbatim, each line indented by four spaces.
func (p *Printer) Block(text string) {
	text = strings.TrimRight(text, "\n")
	if text == "" {
		return
	}
	var b strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		b.WriteString(strings.TrimRight("    "+line, " ") + "\n")
	}
	p.write(b.String())
}

// Observe prints something that just happened, with the wall-clock time.
func (p *Printer) Observe(format string, args ...any) {
	p.write("    " + p.now().Format("15:04:05") + "  " + fmt.Sprintf(format, args...) + "\n")
}

// Fields prints aligned "key  value" lines.
func (p *Printer) Fields(kv ...string) {
	keyWidth := 0
	for i := 0; i+1 < len(kv); i += 2 {
		keyWidth = max(keyWidth, len(kv[i]))
	}
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "    %-*s  %s\n", keyWidth, kv[i], kv[i+1])
	}
	p.write(b.String())
}

// Check prints a verified fact with a tick.
func (p *Printer) Check(format string, args ...any) {
	p.write("  ✓ " + fmt.Sprintf(format, args...) + "\n")
}

// Problem prints a failure with a cross.
func (p *Printer) Problem(format string, args ...any) {
	p.write("  ✗ " + fmt.Sprintf(format, args...) + "\n")
}

// Line prints one line as it is.
func (p *Printer) Line(format string, args ...any) {
	p.write(fmt.Sprintf(format, args...) + "\n")
}

// Wrap fills text to width columns, every line starting with indent. Paragraphs
// (separated by a blank line) stay separate; a word longer than the width gets a
// line of its own.
func Wrap(text string, width int, indent string) string {
	var out []string
	for i, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if i > 0 {
			out = append(out, "")
		}
		line := indent
		for _, word := range strings.Fields(para) {
			switch {
			case line == indent:
				line += word
			case len([]rune(line))+1+len([]rune(word)) > width:
				out = append(out, line)
				line = indent + word
			default:
				line += " " + word
			}
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// Bytes formats a size for people: "53,412 bytes (52.2 KiB)".
func Bytes(n int64) string {
	s := groupThousands(n) + " bytes"
	if n < 1024 {
		return s
	}
	v, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	return fmt.Sprintf("%s (%.1f %s)", s, v, unit)
}

// groupThousands writes n with comma separators: 1234567 → "1,234,567".
func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
