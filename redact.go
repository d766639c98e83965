package pixpool

import "strings"

// Redact hides the secrets in s, a store's address as an operator gave
// it, so that it can go into an error message or a log: the password of
// a URL's user information (postgres://user:***@host/db), and the value of
// every parameter whose name speaks of a secret (password, sslpassword,
// secret_key, token, X-Amz-Signature, ...), in a URL's query
// (?password=***) as in a PostgreSQL key=value connection string
// (host=db password=*** user=x, quoted values such as 'a b' included).
// It errs on the side of hiding too much: it is meant for strings that
// may be malformed, such as the one an error is about.
func Redact(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		// The last '@' ends the user information: a password may hold
		// '@', '/' or '?' where a parser would stop, so no earlier one is
		// trusted to.
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			if c := strings.IndexByte(rest[:at], ':'); c >= 0 {
				s = s[:i+3+c+1] + "***" + rest[at:]
			}
		}
	}
	return redactParams(s)
}

// redactParams hides the value of every secret-named NAME=VALUE in s,
// where NAME starts s or follows a space, '?', '&' or ';'. After '?', '&'
// or ';' the value is a URL query's, ending at '&', ';' or '#'; otherwise a
// connection string's, ending at white space unless quoted.
func redactParams(s string) string {
	var b strings.Builder
	i := 0
	for i < len(s) {
		// The start of a name?
		if i > 0 && !isParamSep(s[i-1]) || !isNameByte(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		name := s[i:j]
		k := j
		for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
			k++
		}
		if k == len(s) || s[k] != '=' || !secretName(name) {
			b.WriteString(name)
			i = j
			continue
		}
		k++ // '='
		query := i > 0 && (s[i-1] == '?' || s[i-1] == '&' || s[i-1] == ';')
		if !query {
			for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
				k++
			}
		}
		b.WriteString(s[i:k])
		b.WriteString("***")
		i = valueEnd(s, k, query)
	}
	return b.String()
}

// valueEnd returns where the value starting at s[k] ends.
func valueEnd(s string, k int, query bool) int {
	if query {
		for k < len(s) && s[k] != '&' && s[k] != ';' && s[k] != '#' {
			k++
		}
		return k
	}
	if k < len(s) && s[k] == '\'' {
		for k++; k < len(s); k++ {
			switch s[k] {
			case '\\':
				k++
			case '\'':
				return k + 1
			}
		}
		return len(s) // unterminated: all of it
	}
	for ; k < len(s) && s[k] != ' ' && s[k] != '\t' && s[k] != '\n'; k++ {
		if s[k] == '\\' {
			k++
		}
	}
	return min(k, len(s))
}

func isParamSep(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '?' || c == '&' || c == ';'
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

// secretWords mark a parameter's value as a secret wherever they appear
// in its name: password, sslpassword, passfile, secret_key, access_key,
// sslkey, token, X-Amz-Signature, X-Amz-Credential, ...
var secretWords = []string{"pass", "pwd", "secret", "token", "key", "signature", "credential", "auth"}

func secretName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
