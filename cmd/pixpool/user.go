package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// openAccounts opens the accounts of the server's store for the admin tools.
func openAccounts(ctx context.Context, sf storeFlags) (*service.Accounts, func() error, error) {
	st, err := sf.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	return &service.Accounts{Store: st, Logger: discardLogger()}, st.Close, nil
}

// readPassword takes PIXPOOL_PASSWORD (or the file PIXPOOL_PASSWORD_FILE
// names), or the first line of stdin.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if pw, ok, err := lookupEnv("PIXPOOL_PASSWORD"); err != nil || ok {
		return pw, err
	}
	fmt.Fprint(stderr, "Password: ")
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password: set PIXPOOL_PASSWORD or write it to standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func runUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: pixpool user create|list|set-password ...")
	}
	fs := flag.NewFlagSet("user "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs)
	switch args[0] {
	case "create":
		u := &pixpool.User{}
		fs.BoolVar(&u.Admin, "admin", false, "make the account an administrator")
		fs.StringVar(&u.FirstName, "first-name", "", "first name (default: the username)")
		fs.StringVar(&u.LastName, "last-name", "User", "last name")
		fs.StringVar(&u.Email, "email", "", "email (default: NAME@localhost.invalid)")
		birthday := fs.String("birthday", "2000-01-01", "birthday, YYYY-MM-DD")
		fs.StringVar(&u.Phone, "phone", "+10000000000", "phone number")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return errors.New("usage: pixpool user create [--admin] NAME")
		}
		u.Username = fs.Arg(0)
		if u.FirstName == "" {
			u.FirstName = u.Username
		}
		if u.Email == "" {
			u.Email = u.Username + "@localhost.invalid"
		}
		var err error
		if u.Birthday, err = pixpool.ParseBirthday(*birthday); err != nil {
			return errors.New(pixpool.ErrorMessage(err))
		}
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		accounts, closeStore, err := openAccounts(ctx, sf)
		if err != nil {
			return err
		}
		defer closeStore()
		if err := accounts.CreateUser(ctx, u, pw); err != nil {
			return userErr(err)
		}
		fmt.Fprintf(stdout, "created user %s (id %d, admin %v)\n", u.Username, u.ID, u.Admin)
		return nil

	case "list":
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		st, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSERNAME\tNAME\tEMAIL\tADMIN\tDISABLED\tCREATED")
		for off := 0; ; off += 500 {
			users, err := st.Users(ctx, off, 500)
			if err != nil {
				return err
			}
			for _, u := range users {
				fmt.Fprintf(tw, "%d\t%s\t%s %s\t%s\t%v\t%v\t%s\n", u.ID, u.Username, u.FirstName, u.LastName,
					u.Email, u.Admin, u.Disabled, u.CreatedAt.Format(time.DateOnly))
			}
			if len(users) < 500 {
				break
			}
		}
		return tw.Flush()

	case "set-password":
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return errors.New("usage: pixpool user set-password NAME")
		}
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		accounts, closeStore, err := openAccounts(ctx, sf)
		if err != nil {
			return err
		}
		defer closeStore()
		if err := accounts.ResetPassword(ctx, fs.Arg(0), pw); err != nil {
			return userErr(err)
		}
		fmt.Fprintf(stdout, "password of %s set; their sessions were ended\n", fs.Arg(0))
		return nil
	}
	return fmt.Errorf("unknown user command %q (want create, list or set-password)", args[0])
}

// userErr shows a user-facing error by its message alone.
func userErr(err error) error {
	if pixpool.ErrorCode(err) != pixpool.EINTERNAL {
		return errors.New(pixpool.ErrorMessage(err))
	}
	return err
}

func runAPIKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: pixpool apikey create [--name NAME] USER")
	}
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs)
	name := fs.String("name", "command line", "a name to tell the key apart")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: pixpool apikey create [--name NAME] USER")
	}
	accounts, closeStore, err := openAccounts(ctx, sf)
	if err != nil {
		return err
	}
	defer closeStore()
	u, err := accounts.Store.UserByUsername(ctx, fs.Arg(0))
	if err != nil {
		return userErr(err)
	}
	_, secret, err := accounts.CreateAPIKey(ctx, u.ID, *name)
	if err != nil {
		return userErr(err)
	}
	fmt.Fprintln(stderr, "API key created; it is shown only this once:")
	fmt.Fprintln(stdout, secret)
	return nil
}
