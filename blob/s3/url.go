package s3

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
)

// ParseURL returns the Config that s describes, in the form that
// `pixpool serve --blob` takes:
//
//	s3://BUCKET[/PREFIX][?OPTION=VALUE&...]
//
// with these options, each setting the Config field of the same meaning:
//
//	endpoint     the store: http://host:port, https://host:port or host:port
//	             (HTTPS); Amazon S3 if absent
//	region       the bucket's region
//	path_style   true for path-style addressing, false for virtual-host
//	             style; if absent, chosen by endpoint (see Config.PathStyle)
//	create       true to make the bucket if it does not exist
//	part_size    multipart part size in bytes, or with a suffix KiB, MiB
//	             or GiB: "16MiB"
//	timeout      response timeout, as a Go duration: "30s"
//
// For example, a versitygw or MinIO on this machine:
//
//	s3://pixpool/prod?endpoint=http://127.0.0.1:9000&region=us-east-1&path_style=true
//
// The URL holds no credentials: URLs end up in logs and process lists.
// They come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (see Config),
// and a URL with a user or password is refused.
func ParseURL(s string) (Config, error) {
	cfg, err := parseURL(s)
	if err != nil {
		return Config{}, fmt.Errorf("blob/s3: parse URL %q: %w", pixpool.Redact(s), err)
	}
	return cfg, nil
}

func parseURL(s string) (Config, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, errors.Unwrap(err) // the *url.Error repeats the URL
	}
	switch {
	case u.Scheme != "s3":
		return Config{}, errors.New(`want an s3:// URL: s3://bucket/prefix?endpoint=...`)
	case u.Opaque != "":
		return Config{}, errors.New(`want s3://bucket, with two slashes`)
	case u.User != nil:
		return Config{}, errors.New("credentials do not belong in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	case u.Host == "":
		return Config{}, errors.New("no bucket given: s3://bucket")
	case u.Fragment != "":
		return Config{}, errors.New("a fragment (#...) means nothing here")
	}
	cfg := Config{Bucket: u.Host}
	if err := checkBucketName(cfg.Bucket); err != nil {
		return Config{}, err
	}
	if cfg.Prefix, err = cleanPrefix(u.Path); err != nil {
		return Config{}, err
	}
	cfg.Prefix = strings.TrimSuffix(cfg.Prefix, "/")
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Config{}, err
	}
	for name, vals := range q {
		if len(vals) != 1 {
			return Config{}, fmt.Errorf("option %s given %d times", name, len(vals))
		}
		v := vals[0]
		switch name {
		case "endpoint":
			if _, _, err := endpointHost(v, false); err != nil || v == "" {
				return Config{}, fmt.Errorf("endpoint %q: want http://host:port, https://host:port or host:port", v)
			}
			cfg.Endpoint = v
		case "region":
			cfg.Region = v
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("path_style %q: want true or false", v)
			}
			cfg.PathStyle, cfg.VirtualHost = b, !b
		case "create":
			if cfg.Create, err = strconv.ParseBool(v); err != nil {
				return Config{}, fmt.Errorf("create %q: want true or false", v)
			}
		case "part_size":
			if cfg.PartSize, err = parseSize(v); err != nil {
				return Config{}, fmt.Errorf("part_size %q: %w", v, err)
			}
			if cfg.PartSize < minPartSize || cfg.PartSize > maxPartSize {
				return Config{}, fmt.Errorf("part_size %q: want 5MiB to 5GiB", v)
			}
		case "timeout":
			if cfg.Timeout, err = time.ParseDuration(v); err != nil || cfg.Timeout <= 0 {
				return Config{}, fmt.Errorf("timeout %q: want a positive duration such as 30s", v)
			}
		default:
			return Config{}, fmt.Errorf("unknown option %q (known: endpoint, region, path_style, create, part_size, timeout)", name)
		}
	}
	return cfg, nil
}

// parseSize parses a byte count with an optional KiB, MiB or GiB suffix.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, errors.New("want a positive number of bytes, with an optional KiB, MiB or GiB suffix")
	}
	return n * mult, nil
}

// checkBucketName applies S3's rules for new buckets, in short: 3 to 63
// bytes of lower-case letters, digits, '.' and '-', starting and ending with
// a letter or digit.
func checkBucketName(name string) error {
	ok := len(name) >= 3 && len(name) <= 63
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case (c == '.' || c == '-') && i > 0 && i < len(name)-1:
		default:
			ok = false
		}
	}
	if !ok || strings.Contains(name, "..") {
		return fmt.Errorf("bucket name %q: want 3 to 63 of a-z, 0-9, '.' and '-', starting and ending with a letter or digit", name)
	}
	return nil
}
