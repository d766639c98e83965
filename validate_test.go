package pixpool_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pixpool/pixpool"
)

func TestValidateKey(t *testing.T) {
	for _, tt := range []struct {
		name, key string
		ok        bool
	}{
		{"Simple", "cat", true},
		{"CaseKept", "Cat", true},
		{"Spaces", "my holiday photo", true},
		{"Slashes", "2024/summer/beach.jpg", true},
		{"Dots", "../..", true},
		{"Unicode", "猫の写真 🐈", true},
		{"Punctuation", `a"b'c<d>&e%f?g#h`, true},
		{"Max", strings.Repeat("k", 250), true},
		{"MaxMultibyte", strings.Repeat("é", 125), true},
		{"Empty", "", false},
		{"TooLong", strings.Repeat("k", 251), false},
		{"TooLongMultibyte", strings.Repeat("é", 125) + "x", false},
		{"Newline", "a\nb", false},
		{"Tab", "a\tb", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7fb", false},
		{"C1", "a\u0085b", false},
		{"LineSeparator", "a\u2028b", false},
		{"InvalidUTF8", "a\xffb", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := pixpool.ValidateKey(tt.key)
			if tt.ok && err != nil {
				t.Fatalf("ValidateKey(%q)=%v, want nil", tt.key, err)
			}
			if !tt.ok {
				if got := pixpool.ErrorCode(err); got != pixpool.EINVALID {
					t.Fatalf("ValidateKey(%q) code=%q, want %q", tt.key, got, pixpool.EINVALID)
				}
				if msg := pixpool.ErrorMessage(err); !strings.HasPrefix(msg, "Key ") {
					t.Fatalf("message %q does not say what is wrong with the key", msg)
				}
			}
		})
	}
}

func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"", "cat", "a\nb", strings.Repeat("x", 251), "\xff", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := pixpool.ValidateKey(key)
		valid := key != "" && len(key) <= pixpool.MaxKeyLen && utf8.ValidString(key) &&
			!strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) || r == 0x2028 || r == 0x2029 })
		if valid != (err == nil) {
			t.Fatalf("ValidateKey(%q)=%v, want valid=%v", key, err, valid)
		}
		if err != nil && pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Fatalf("code=%q, want invalid", pixpool.ErrorCode(err))
		}
	})
}

func TestValidateUsername(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"ada", true}, {"Ada_Lovelace", true}, {"a.b-c", true}, {"007", true}, {strings.Repeat("a", 32), true},
		{"", false}, {"ab", false}, {strings.Repeat("a", 33), false}, {"_ada", false}, {"ada lovelace", false},
		{"adä", false}, {"ada@x", false}, {"-ada", false},
	} {
		if err := pixpool.ValidateUsername(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidateUsername(%q)=%v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	for _, tt := range []struct {
		pw, user string
		ok       bool
	}{
		{"correct horse", "ada", true},
		{"12345678", "ada", true},
		{strings.Repeat("p", 256), "ada", true},
		{"", "ada", false},
		{"1234567", "ada", false},
		{strings.Repeat("p", 257), "ada", false},
		{"AdaLovelace", "adalovelace", false},
		{"bad\xffutf8", "ada", false},
	} {
		if err := pixpool.ValidatePassword(tt.pw, tt.user); (err == nil) != tt.ok {
			t.Errorf("ValidatePassword(%q, %q)=%v, want ok=%v", tt.pw, tt.user, err, tt.ok)
		}
	}
}

func TestValidateEmail(t *testing.T) {
	for _, tt := range []struct {
		email string
		ok    bool
	}{
		{"ada@example.org", true}, {"a.b+tag@sub.example.co.uk", true},
		{"", false}, {"ada", false}, {"ada@", false}, {"@example.org", false}, {"ada@example", false},
		{"Ada <ada@example.org>", false}, {"ada@example.org.", false}, {"a b@example.org", false},
		{strings.Repeat("a", 250) + "@x.org", false},
	} {
		if err := pixpool.ValidateEmail(tt.email); (err == nil) != tt.ok {
			t.Errorf("ValidateEmail(%q)=%v, want ok=%v", tt.email, err, tt.ok)
		}
	}
}

func TestValidatePhone(t *testing.T) {
	for _, tt := range []struct {
		phone string
		ok    bool
	}{
		{"+1 604 555 0100", true}, {"(604) 555-0100", true}, {"6045550100", true}, {"+44.20.7946.0958", true},
		{"", false}, {"12345", false}, {"+1234567890123456", false}, {"call me", false}, {"555-0100 ext 2", false},
	} {
		if err := pixpool.ValidatePhone(tt.phone); (err == nil) != tt.ok {
			t.Errorf("ValidatePhone(%q)=%v, want ok=%v", tt.phone, err, tt.ok)
		}
	}
}

func TestBirthday(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		s  string
		ok bool
	}{
		{"1990-05-17", true}, {"1900-01-01", true}, {"2026-11-27", true},
		{"", false}, {"17/05/1990", false}, {"1990-02-30", false}, {"1899-12-31", false}, {"2026-11-28", false},
	} {
		d, err := pixpool.ParseBirthday(tt.s)
		if err == nil {
			err = pixpool.ValidateBirthday(d, now)
		}
		if (err == nil) != tt.ok {
			t.Errorf("birthday %q: %v, want ok=%v", tt.s, err, tt.ok)
		}
	}
}

func TestUser_Validate(t *testing.T) {
	now := time.Now()
	valid := func() pixpool.User {
		return pixpool.User{Username: "ada", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.org",
			Birthday: time.Date(1990, 12, 10, 0, 0, 0, 0, time.UTC), Phone: "+44 20 7946 0958"}
	}
	u := valid()
	if err := u.Validate(now); err != nil {
		t.Fatalf("Validate(valid)=%v", err)
	}
	for _, tt := range []struct {
		field  string
		mutate func(*pixpool.User)
	}{
		{"Username", func(u *pixpool.User) { u.Username = "a" }},
		{"First name", func(u *pixpool.User) { u.FirstName = " " }},
		{"Last name", func(u *pixpool.User) { u.LastName = strings.Repeat("x", 101) }},
		{"Last name", func(u *pixpool.User) { u.LastName = "a\x00b" }},
		{"Email", func(u *pixpool.User) { u.Email = "nope" }},
		{"Birthday", func(u *pixpool.User) { u.Birthday = time.Time{} }},
		{"Phone", func(u *pixpool.User) { u.Phone = "" }},
	} {
		u := valid()
		tt.mutate(&u)
		err := u.Validate(now)
		if pixpool.ErrorCode(err) != pixpool.EINVALID || !strings.HasPrefix(pixpool.ErrorMessage(err), tt.field) {
			t.Errorf("%s: Validate()=%v, want an EINVALID message about %s", tt.field, err, tt.field)
		}
	}
}

func TestErrorCode(t *testing.T) {
	if got := pixpool.ErrorCode(nil); got != "" {
		t.Fatalf("ErrorCode(nil)=%q", got)
	}
	if got := pixpool.ErrorCode(strings.NewReader("").UnreadByte()); got != pixpool.EINTERNAL {
		t.Fatalf("ErrorCode(plain)=%q, want internal", got)
	}
	if got := pixpool.ErrorMessage(strings.NewReader("").UnreadByte()); got != "internal error" {
		t.Fatalf("ErrorMessage(plain)=%q", got)
	}
}
