module github.com/pixpool/pixpool

go 1.26.8

require (
	github.com/aws/aws-lambda-go v1.55.1 // the Lambda runtime loop and API Gateway / scheduled event types for the serverless mode (cmd/pixpool/lambda.go); AWS's own, no other dependencies
	github.com/bradfitz/gomemcache v0.0.0-20260422231931-4d751bb6e37c // memcached client: the pool talks to cache nodes (ours or stock memcached)
	github.com/caddyserver/certmagic v0.25.6 // automatic HTTPS (acme/): obtains and renews certificates by ACME, over a storage interface with locks that maps onto our store and leases, solving HTTP-01 and TLS-ALPN-01 across replicas; see docs/https.md
	github.com/chromedp/cdproto v0.159.0 // tests: Chrome DevTools types for chromedp
	github.com/chromedp/chromedp v0.23.0 // tests: drives headless Chromium for the web UI tests (e2e/)
	github.com/ebitengine/purego v0.11.3 // calls ONNX Runtime's C library (recognize/onnx) without cgo, so the build needs no C compiler
	github.com/gen2brain/webp v0.5.5 // WebP output of image variants (imaging/variant.go): libwebp's encoder compiled to WebAssembly and run by wazero, so pure Go, no cgo and no system library (it uses a system libwebp.so through purego when one is installed); about 0.2 s for a 1024-pixel photo, rendered once
	github.com/google/go-containerregistry v0.22.1 // scripts/image only (not in the pixpool binary): builds the container images as OCI layouts without a container engine or registry, and its tests read them back
	github.com/jackc/pgx/v5 v5.12.0 // PostgreSQL driver and pool (pgxpool) for store/postgres: native protocol, SQLSTATE errors, no database/sql layer
	github.com/mholt/acmez/v3 v3.1.7 // certmagic's ACME client: acme/ reads the CA's problem documents from its errors; already required by certmagic
	github.com/minio/minio-go/v7 v7.4.1 // S3 client for blob/s3: any S3-compatible store, streaming multipart uploads of unknown size, path-style, AWS env credentials; one module, smaller than aws-sdk-go-v2
	github.com/prometheus/client_golang v1.25.0 // Prometheus /metrics: HTTP, pool and per-node series in a private registry per server
	go.uber.org/zap v1.28.0 // certmagic logs through zap: acme/zap.go bridges it to slog; already required by certmagic
	golang.org/x/crypto v0.59.0 // argon2id password hashing
	golang.org/x/image v0.48.0 // WebP decoding and thumbnail scaling (draw)
	golang.org/x/net v0.62.0 // idna: --domain names in the ASCII form CAs and browsers use (cmd/pixpool); tests: html parses the web UI's pages as browsers do (http tests); already required by the Prometheus client
	golang.org/x/sync v0.25.0 // singleflight: concurrent cache misses on one key load it once
	google.golang.org/protobuf v1.36.12 // protowire: recognize/labels encodes the ONNX model it converts the detector to; already required by the Prometheus client
	k8s.io/api v0.37.2 // Kubernetes object types (StatefulSet scale, Pod, EndpointSlice) for the Kubernetes provider (manager/kube)
	k8s.io/apimachinery v0.37.2 // Kubernetes meta types and errors for manager/kube; comes with client-go
	k8s.io/client-go v0.37.2 // the Kubernetes provider (manager/kube): scale subresource, watches (informers), kubeconfig and in-cluster config; the project's own client
	modernc.org/sqlite v1.62.0 // SQLite without cgo: the default metadata store
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/caddyserver/zerossl v0.1.6 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/emicklei/go-restful/v3 v3.13.0 // indirect
	github.com/fxamacker/cbor/v2 v2.9.1 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/go-logr/logr v1.4.3 // indirect
	github.com/go-openapi/jsonpointer v1.0.0 // indirect
	github.com/go-openapi/jsonreference v1.0.0 // indirect
	github.com/go-openapi/swag v0.27.1 // indirect
	github.com/go-openapi/swag/cmdutils v0.27.1 // indirect
	github.com/go-openapi/swag/conv v0.27.1 // indirect
	github.com/go-openapi/swag/fileutils v0.27.1 // indirect
	github.com/go-openapi/swag/jsonutils v0.27.1 // indirect
	github.com/go-openapi/swag/loading v0.27.1 // indirect
	github.com/go-openapi/swag/mangling v0.27.1 // indirect
	github.com/go-openapi/swag/netutils v0.27.1 // indirect
	github.com/go-openapi/swag/pools v0.27.1 // indirect
	github.com/go-openapi/swag/stringutils v0.27.1 // indirect
	github.com/go-openapi/swag/typeutils v0.27.1 // indirect
	github.com/go-openapi/swag/yamlutils v0.27.1 // indirect
	github.com/google/gnostic-models v0.7.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/json-iterator/go v1.1.12 // indirect
	github.com/klauspost/compress v1.20.1 // indirect
	github.com/klauspost/cpuid/v2 v2.4.0 // indirect
	github.com/klauspost/crc32 v1.3.0 // indirect
	github.com/libdns/libdns v1.1.1 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/miekg/dns v1.1.73 // indirect
	github.com/minio/crc64nvme v1.1.1 // indirect
	github.com/minio/md5-simd v1.1.2 // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.3-0.20250322232337-35a7c28c31ee // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	github.com/philhofer/fwd v1.2.0 // indirect
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	github.com/rs/xid v1.6.0 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
	github.com/tetratelabs/wazero v1.9.0 // indirect
	github.com/tinylib/msgp v1.6.4 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	github.com/zeebo/blake3 v0.2.4 // indirect
	github.com/zeebo/xxh3 v1.1.0 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	go.uber.org/zap/exp v0.3.0 // indirect
	go.yaml.in/yaml/v2 v2.4.4 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/oauth2 v0.37.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/term v0.48.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	golang.org/x/time v0.15.0 // indirect
	gopkg.in/evanphx/json-patch.v4 v4.13.0 // indirect
	gopkg.in/inf.v0 v0.9.1 // indirect
	gopkg.in/ini.v1 v1.67.3 // indirect
	k8s.io/klog/v2 v2.140.0 // indirect
	k8s.io/kube-openapi v0.0.0-20260721132016-d427ff9ee9ad // indirect
	k8s.io/utils v0.0.0-20260626114624-be93311217bd // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
	sigs.k8s.io/json v0.0.0-20250730193827-2d320260d730 // indirect
	sigs.k8s.io/randfill v1.0.0 // indirect
	sigs.k8s.io/structured-merge-diff/v6 v6.4.2 // indirect
	sigs.k8s.io/yaml v1.6.0 // indirect
)
