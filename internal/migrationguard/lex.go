package migrationguard

import "strings"

// Statements splits SQL into its statements: comments removed, whitespace folded to
// single spaces, and the transaction control Django wraps a migration in (BEGIN,
// COMMIT, SET CONSTRAINTS) left out. Semicolons inside quotes, dollar-quoted bodies and
// comments do not split.
func Statements(sql string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		st := strings.Join(strings.Fields(b.String()), " ")
		b.Reset()
		up := strings.ToUpper(st)
		if st == "" || up == "BEGIN" || up == "COMMIT" || strings.HasPrefix(up, "SET CONSTRAINTS") ||
			strings.HasPrefix(up, "START TRANSACTION") {
			return
		}
		out = append(out, st)
	}
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				i = len(sql)
				continue
			}
			i += end
			b.WriteByte(' ')
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				i = len(sql)
				continue
			}
			i += end + 4
			b.WriteByte(' ')
		case c == '\'' || c == '"':
			n := quoted(sql[i:], c)
			b.WriteString(sql[i : i+n])
			i += n
		case c == '$':
			n := dollarQuoted(sql[i:])
			b.WriteString(sql[i : i+n])
			i += n
		case c == ';':
			flush()
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	flush()
	return out
}

// quoted is the length of the quoted text at the start of s ('…' or "…", a doubled
// quote inside), or all of s when it is not closed.
func quoted(s string, q byte) int {
	for i := 1; i < len(s); i++ {
		if s[i] == q {
			if i+1 < len(s) && s[i+1] == q {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(s)
}

// dollarQuoted is the length of a $tag$…$tag$ body at the start of s, or 1 when s
// starts with a $ that opens none (a parameter, $1).
func dollarQuoted(s string) int {
	end := strings.IndexByte(s[1:], '$')
	if end < 0 {
		return 1
	}
	tag := s[:end+2]
	for _, r := range tag[1 : len(tag)-1] {
		if r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return 1
		}
	}
	close := strings.Index(s[len(tag):], tag)
	if close < 0 {
		return len(s)
	}
	return len(tag) + close + len(tag)
}

// splitTopLevel splits s at sep outside parentheses and quotes.
func splitTopLevel(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"':
			i += quoted(s[i:], c) - 1
		case '(':
			depth++
		case ')':
			depth--
		case sep:
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
