package main

import (
	"strings"

	"github.com/pixpool/pixpool"
)

// variantSizes is --variant-sizes: the allowlist of variant sizes, as
// pixpool.ParseVariantSizes reads it.
type variantSizes []pixpool.VariantSize

func (v *variantSizes) String() string {
	var out []string
	for _, z := range *v {
		out = append(out, z.String())
	}
	return strings.Join(out, ",")
}

func (v *variantSizes) Set(s string) error {
	sizes, err := pixpool.ParseVariantSizes(s)
	if err != nil {
		return err
	}
	if sizes == nil {
		sizes = []pixpool.VariantSize{} // none: every variant needs a signature
	}
	*v = sizes
	return nil
}
