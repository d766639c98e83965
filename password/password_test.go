package password

import (
	"errors"
	"strings"
	"testing"
)

func TestHashCheck(t *testing.T) {
	h, err := Hash("correct horse", Params{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("Hash()=%q, want argon2id PHC string with default params", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("hash contains the password")
	}
	if err := Check("correct horse", h); err != nil {
		t.Fatalf("Check(right)=%v, want nil", err)
	}
	if err := Check("correct horsf", h); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Check(wrong)=%v, want ErrMismatch", err)
	}
	h2, _ := Hash("correct horse", Params{})
	if h == h2 {
		t.Fatal("two hashes of one password are equal; salt not random")
	}
}

func TestCheck_Malformed(t *testing.T) {
	for _, h := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$a2V5",
	} {
		if err := Check("x", h); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("Check(%q)=%v, want a malformed-hash error", h, err)
		}
	}
}
