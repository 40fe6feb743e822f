// Package cleantext makes untrusted text storable in any text column: valid UTF-8 without
// NUL, which PostgreSQL requires of TEXT and SQLite does not, so that both databases keep
// the same values for the same bytes.
package cleantext

import (
	"reflect"
	"strings"
	"unicode/utf8"
)

// String returns s as valid UTF-8 without NUL (each invalid sequence replaced by U+FFFD,
// each NUL removed) and whether anything had to change.
func String(s string) (string, bool) {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s, false
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", ""), true
}

// Map cleans the keys and values of m in place and reports whether any changed. Two keys
// that clean to the same text keep one of the values.
func Map(m map[string]string) bool {
	changed := false
	for k, v := range m {
		ck, kc := String(k)
		cv, vc := String(v)
		if !kc && !vc {
			continue
		}
		changed = true
		if kc {
			delete(m, k)
		}
		m[ck] = cv
	}
	return changed
}

// Truncate cuts s to at most n bytes without splitting a UTF-8 sequence, and reports
// whether it cut.
func Truncate(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}

// Strings cleans, in place, every string reachable from v (a pointer) through struct
// fields, pointers, slices, arrays and maps with string values, and reports whether any
// changed. It is for parsed payloads whose every field may reach a text column.
func Strings(v any) bool {
	return walk(reflect.ValueOf(v))
}

func walk(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return false
		}
		if v.Kind() == reflect.Interface {
			// A value inside an interface cannot be set: clean a copy and put it back.
			inner := v.Elem()
			cp := reflect.New(inner.Type()).Elem()
			cp.Set(inner)
			if walk(cp) && v.CanSet() {
				v.Set(cp)
				return true
			}
			return false
		}
		return walk(v.Elem())
	case reflect.String:
		s, changed := String(v.String())
		if changed && v.CanSet() {
			v.SetString(s)
		}
		return changed
	case reflect.Struct:
		changed := false
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				changed = walk(v.Field(i)) || changed
			}
		}
		return changed
	case reflect.Slice, reflect.Array:
		changed := false
		for i := range v.Len() {
			changed = walk(v.Index(i)) || changed
		}
		return changed
	case reflect.Map:
		if v.IsNil() {
			return false
		}
		changed := false
		for _, k := range v.MapKeys() {
			val := v.MapIndex(k)
			cp := reflect.New(val.Type()).Elem()
			cp.Set(val)
			ck := k
			if k.Kind() == reflect.String {
				if s, c := String(k.String()); c {
					ck = reflect.ValueOf(s).Convert(k.Type())
				}
			}
			vc := walk(cp)
			if vc || ck.String() != k.String() {
				changed = true
				v.SetMapIndex(k, reflect.Value{})
				v.SetMapIndex(ck, cp)
			}
		}
		return changed
	}
	return false
}
