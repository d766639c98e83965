// Command image builds pixpool's container images without a container
// engine, with go-containerregistry, and writes each as an OCI image layout
// in a tarball:
//
//	go run ./scripts/image --binary bin/pixpool --out bin/pixpool-image.tar
//	go run ./scripts/image --binary bin/pixpool --recognition DIR --out bin/pixpool-recognition-image.tar
//
// No base image is pulled (no registry is needed): the base layer is made from
// the Debian packages installed on the building machine, taking the files the
// binary needs by their ldd closure (the glibc loader and libraries, since
// purego makes the binary dynamically linked), the CA certificates, an
// /etc/passwd and /etc/group with the user nonroot (65532) and /tmp. With
// --recognition DIR, a second layer adds Tesseract with its English data (its
// libraries again by ldd closure) and the models and ONNX Runtime that
// scripts/setup-recognition.sh put in DIR/recognition/. The last layer holds
// /pixpool. Every Debian package a file comes from is listed with its version
// in /usr/share/pixpool/packages.txt inside the image.
//
// The build is reproducible: every entry is sorted, owned by root (but the
// nonroot user's folders) and dated SOURCE_DATE_EPOCH (default 0), so two
// builds from the same inputs give the same digest. See docs/image.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.Binary, "binary", "bin/pixpool", "the pixpool binary to put in the image as /pixpool (linux/amd64)")
	flag.StringVar(&o.Recognition, "recognition", "", "folder given to scripts/setup-recognition.sh: builds the pixpool-recognition variant with Tesseract, the models and ONNX Runtime from DIR/recognition/ (empty: the plain pixpool image)")
	flag.StringVar(&o.Out, "out", "bin/pixpool-image.tar", "OCI image layout tarball to write")
	flag.StringVar(&o.Version, "version", "dev", "version for the org.opencontainers.image.version label and the image's reference name")
	flag.StringVar(&o.Licenses, "licenses", "NOASSERTION", "SPDX licence expression of pixpool for the org.opencontainers.image.licenses label (NOASSERTION: the repository declares none yet)")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "image: no arguments expected; see -help")
		os.Exit(2)
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "image: SOURCE_DATE_EPOCH=%q is not a number of seconds: %v\n", s, err)
			os.Exit(2)
		}
		o.Epoch = time.Unix(n, 0).UTC()
	} else {
		o.Epoch = time.Unix(0, 0).UTC()
	}
	digest, err := build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s\n", o.Out, digest)
}
