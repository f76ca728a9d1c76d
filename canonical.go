package qg

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// canonicalJSON rewrites a JSON value with its objects' keys sorted and no
// spaces: the text a unique job's key is made of. Numbers keep their exact
// text (1 and 1.0 stay different); for a key repeated in one object the
// last value counts. Strings are written as encoding/json writes them, so
// the keys of jobs enqueued by earlier versions stay the same, with one
// difference: a lone UTF-16 surrogate escape ("\ud800"), which JSON allows
// and encoding/json would read as U+FFFD, keeps its own value and is
// written as its escape. "\ud800", "\udbff" and "\ufffd" are three
// different strings, and so give three keys.
func canonicalJSON(raw []byte) ([]byte, error) {
	if !json.Valid(raw) {
		return nil, errors.New("not valid JSON")
	}
	p := &canonicalizer{in: raw}
	out, err := p.value()
	if err != nil {
		return nil, err
	}
	return out, nil
}

// canonicalizer reads a valid JSON text and writes its canonical form.
type canonicalizer struct {
	in  []byte
	pos int
}

func (p *canonicalizer) skipSpace() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value reads the value at the current position.
func (p *canonicalizer) value() ([]byte, error) {
	p.skipSpace()
	if p.pos >= len(p.in) {
		return nil, errors.New("unexpected end of JSON")
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, err := p.str()
		return encodeString(s), err
	default: // a number or a literal: kept as written
		start := p.pos
		for p.pos < len(p.in) && !isDelimiter(p.in[p.pos]) {
			p.pos++
		}
		return p.in[start:p.pos], nil
	}
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\t', '\n', '\r', ':':
		return true
	}
	return false
}

// object reads an object; its members come out sorted by key, the last of
// a repeated key kept.
func (p *canonicalizer) object() ([]byte, error) {
	p.pos++ // {
	members := map[string][]byte{}
	for {
		p.skipSpace()
		if p.in[p.pos] == '}' {
			p.pos++
			break
		}
		if p.in[p.pos] == ',' {
			p.pos++
			p.skipSpace()
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		p.pos++ // :
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		members[key] = v
	}
	keys := make([]string, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(append(append(out, encodeString(k)...), ':'), members[k]...)
	}
	return append(out, '}'), nil
}

// array reads an array.
func (p *canonicalizer) array() ([]byte, error) {
	p.pos++ // [
	out := []byte{'['}
	for n := 0; ; n++ {
		p.skipSpace()
		if p.in[p.pos] == ']' {
			p.pos++
			return append(out, ']'), nil
		}
		if p.in[p.pos] == ',' {
			p.pos++
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, v...)
	}
}

// str reads a string literal and returns its value. Invalid UTF-8 becomes
// U+FFFD, as encoding/json reads it; a lone surrogate escape is kept as the
// three-byte form of its code point (WTF-8), which valid UTF-8 never holds,
// so that encodeString writes it back as its escape.
func (p *canonicalizer) str() (string, error) {
	p.pos++ // the opening quote
	var b []byte
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(b), nil
		case c == '\\':
			var err error
			if b, err = p.escape(b); err != nil {
				return "", err
			}
		default:
			r, size := utf8.DecodeRune(p.in[p.pos:])
			b = utf8.AppendRune(b, r) // RuneError for an invalid byte
			p.pos += size
		}
	}
	return "", errors.New("unterminated string")
}

// escape reads the escape at the current position into b.
func (p *canonicalizer) escape(b []byte) ([]byte, error) {
	if p.pos+1 >= len(p.in) {
		return nil, errors.New("unterminated escape")
	}
	c := p.in[p.pos+1]
	p.pos += 2
	if simple, ok := map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}[c]; ok {
		return append(b, simple), nil
	}
	r, err := p.hex4()
	if err != nil {
		return nil, err
	}
	if utf16.IsSurrogate(r) && r < 0xdc00 && p.pos+6 <= len(p.in) && p.in[p.pos] == '\\' && p.in[p.pos+1] == 'u' {
		save := p.pos
		p.pos += 2
		if r2, err := p.hex4(); err == nil {
			if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
				return utf8.AppendRune(b, pair), nil
			}
		}
		p.pos = save // not a pair: the next escape is read on its own
	}
	if utf16.IsSurrogate(r) {
		return append(b, byte(0xe0|r>>12), byte(0x80|(r>>6)&0x3f), byte(0x80|r&0x3f)), nil
	}
	return utf8.AppendRune(b, r), nil
}

// hex4 reads the four hex digits of a \u escape.
func (p *canonicalizer) hex4() (rune, error) {
	if p.pos+4 > len(p.in) {
		return 0, errors.New("short \\u escape")
	}
	n, err := strconv.ParseUint(string(p.in[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, fmt.Errorf("bad \\u escape: %w", err)
	}
	p.pos += 4
	return rune(n), nil
}

// encodeString writes s as encoding/json does, except that the three-byte
// form of a lone surrogate (left by str) is written as its \u escape.
func encodeString(s string) []byte {
	out := []byte{'"'}
	start := 0
	for i := 0; i < len(s); {
		if i+2 < len(s) && s[i] == 0xed && s[i+1] >= 0xa0 && s[i+1] <= 0xbf {
			out = appendPlain(out, s[start:i])
			r := rune(s[i]&0x0f)<<12 | rune(s[i+1]&0x3f)<<6 | rune(s[i+2]&0x3f)
			out = fmt.Appendf(out, `\u%04x`, r)
			i += 3
			start = i
			continue
		}
		i++
	}
	out = appendPlain(out, s[start:])
	return append(out, '"')
}

// appendPlain appends s, valid UTF-8, escaped as encoding/json escapes a
// string's content.
func appendPlain(out []byte, s string) []byte {
	if s == "" {
		return out
	}
	enc, _ := json.Marshal(s) // a string always marshals
	return append(out, enc[1:len(enc)-1]...)
}
