package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// configEntry is one top-level key of a k3s config file: a single value or a list.
type configEntry struct {
	Key    string
	Values []string
	IsList bool
	Line   int
}

// parseConfigYAML reads the subset of YAML a k3s config file needs and the program renders (via the
// yaml library): flat "key: value" lines, plain, "double" or 'single' quoted, and "key:" followed by
// "- item" lines (or "key: []"). Anything else is refused with its line number instead of being
// guessed at, because a silently misread flag is exactly the bug the lab exists to catch.
func parseConfigYAML(data string) ([]configEntry, error) {
	if !utf8.ValidString(data) {
		return nil, fmt.Errorf("not UTF-8 text")
	}
	lines := strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n")
	var out []configEntry
	seen := map[string]int{}
	var open *configEntry // a "key:" waiting for its list items
	sawKey := false
	for i, raw := range lines {
		n := i + 1
		body := strings.TrimLeft(raw, " \t")
		if body != "" && strings.Contains(raw[:len(raw)-len(body)], "\t") {
			return nil, fmt.Errorf("line %d: tab in indentation (YAML forbids it)", n)
		}
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if trimmed == "---" && !sawKey {
			continue
		}
		if trimmed == "---" || trimmed == "..." {
			return nil, fmt.Errorf("line %d: more than one YAML document", n)
		}
		indent := len(raw) - len(strings.TrimLeft(raw, " "))
		if strings.HasPrefix(trimmed, "- ") || trimmed == "-" {
			if open == nil {
				return nil, fmt.Errorf("line %d: list item without a \"key:\" line above it", n)
			}
			if trimmed == "-" {
				return nil, fmt.Errorf("line %d: empty list item under %q", n, open.Key)
			}
			v, err := parseScalar(strings.TrimSpace(trimmed[2:]))
			if err != nil {
				return nil, fmt.Errorf("line %d: item of %q: %v", n, open.Key, err)
			}
			open.Values = append(open.Values, v)
			continue
		}
		if indent > 0 {
			return nil, fmt.Errorf("line %d: unexpected indented line (nested maps and multi-line values are not k3s flags)", n)
		}
		if open != nil && len(open.Values) == 0 {
			return nil, fmt.Errorf("line %d: %q has no value (write a value, a \"- item\" list or [])", open.Line, open.Key)
		}
		open = nil
		key, rest, ok := strings.Cut(trimmed, ":")
		if !ok || (rest != "" && rest[0] != ' ') {
			return nil, fmt.Errorf("line %d: expected \"key: value\"", n)
		}
		if !validConfigKey(key) {
			return nil, fmt.Errorf("line %d: %q is not a flag name", n, key)
		}
		if first, dup := seen[key]; dup {
			return nil, fmt.Errorf("line %d: %q appears again (first on line %d)", n, key, first)
		}
		seen[key] = n
		sawKey = true
		rest = strings.TrimSpace(rest)
		if rest == "" || strings.HasPrefix(rest, "#") {
			out = append(out, configEntry{Key: key, IsList: true, Line: n})
			open = &out[len(out)-1]
			continue
		}
		if rest == "[]" {
			out = append(out, configEntry{Key: key, IsList: true, Values: []string{}, Line: n})
			continue
		}
		v, err := parseScalar(rest)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q: %v", n, key, err)
		}
		out = append(out, configEntry{Key: key, Values: []string{v}, Line: n})
	}
	if open != nil && len(open.Values) == 0 {
		return nil, fmt.Errorf("line %d: %q has no value (write a value, a \"- item\" list or [])", open.Line, open.Key)
	}
	return out, nil
}

func validConfigKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return k[0] != '-'
}

// parseScalar reads one value: "double quoted" (with the common escapes), 'single quoted', or
// plain. Plain values that YAML would read as something other than a string are refused.
func parseScalar(s string) (string, error) {
	switch s[0] {
	case '"':
		return parseDoubleQuoted(s)
	case '\'':
		return parseSingleQuoted(s)
	case '[', '{':
		return "", fmt.Errorf("flow collections are not supported (use \"- item\" lines)")
	case '|', '>':
		return "", fmt.Errorf("block scalars are not supported")
	case '&', '*', '!':
		return "", fmt.Errorf("anchors, aliases and tags are not supported")
	case '@', '`', '%':
		return "", fmt.Errorf("a plain value cannot start with %q", s[0])
	}
	if i := strings.Index(s, " #"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if strings.Contains(s, ": ") || strings.HasSuffix(s, ":") {
		return "", fmt.Errorf("nested maps are not supported (quote the value if it holds \": \")")
	}
	if s == "~" || s == "null" || s == "Null" || s == "NULL" {
		return "", fmt.Errorf("null is not a flag value")
	}
	return s, nil
}

func parseDoubleQuoted(s string) (string, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			if err := onlyComment(s[i+1:]); err != nil {
				return "", err
			}
			return b.String(), nil
		case '\\':
			i++
			if i >= len(s) {
				return "", fmt.Errorf("unterminated escape")
			}
			switch s[i] {
			case '\\', '"', '/':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			case 'x', 'u', 'U':
				width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[s[i]]
				if i+width >= len(s) {
					return "", fmt.Errorf("short \\%c escape", s[i])
				}
				r, err := strconv.ParseUint(s[i+1:i+1+width], 16, 32)
				if err != nil || !utf8.ValidRune(rune(r)) {
					return "", fmt.Errorf("bad \\%c escape", s[i])
				}
				b.WriteRune(rune(r))
				i += width
			default:
				return "", fmt.Errorf("unsupported escape \\%c", s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("unterminated double-quoted value")
}

func parseSingleQuoted(s string) (string, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		if err := onlyComment(s[i+1:]); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	return "", fmt.Errorf("unterminated single-quoted value")
}

func onlyComment(rest string) error {
	t := strings.TrimLeft(rest, " ")
	if t == "" || (strings.HasPrefix(t, "#") && len(t) < len(rest)) {
		return nil
	}
	return fmt.Errorf("unexpected text after the closing quote: %q", rest)
}
